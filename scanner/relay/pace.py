"""How fast the relay hands SMS parts to each of the gateway's SMSC links.

Each link takes so many parts per second (the policy's ``[notices] sms_links``). The relay keeps a
virtual schedule per link: a notice of ``n`` parts occupies its link for ``n / rate`` seconds, and
the next notice on that link may start when the last one's time is used up. A notice goes to the link
that can take it soonest. Waiting is the caller's business (the schedule is reserved when asked), so
a late wake-up never lets the next notice go early, and an idle link does not save up a burst.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class _Link:
    name: str
    rate: float  # parts per second
    free_at: float = 0.0  # when the link's schedule is free again (monotonic seconds)


class Pacer:
    """The links' schedules; ``reserve`` books the next slot for a notice."""

    def __init__(self, links: Mapping[str, float]) -> None:
        if not links:
            raise ValueError("a pacer needs at least one link")
        for name, rate in links.items():
            if rate <= 0:
                raise ValueError(f"link {name}: rate must be above 0 parts per second")
        self._links = [_Link(name, float(rate)) for name, rate in sorted(links.items())]

    @property
    def total_rate(self) -> float:
        return sum(link.rate for link in self._links)

    def reserve(self, parts: int, now: float) -> tuple[str, float]:
        """Book ``parts`` on the link that can start them soonest: the link's name and how many
        seconds from ``now`` the notice may be handed over."""
        parts = max(1, parts)
        link = min(self._links, key=lambda x: (max(x.free_at, now), x.free_at))
        start = max(link.free_at, now)
        link.free_at = start + parts / link.rate
        return link.name, start - now
