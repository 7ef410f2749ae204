"""The send window: notices go out only between two local times of day.

The default is 08:00-21:00 Asia/Shanghai; a notice due outside the window
waits for the next opening. Times are aware datetimes in and out; the window's
own zone decides what "08:00" means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SendWindow:
    opens: dt.time = dt.time(8, 0)
    closes: dt.time = dt.time(21, 0)
    zone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError(f"the send window must open before it closes ({self.opens} - {self.closes})")
        ZoneInfo(self.zone)  # raises for an unknown zone

    def contains(self, at: dt.datetime) -> bool:
        local = _local(at, self.zone)
        return self.opens <= local.time() < self.closes

    def next_send_time(self, at: dt.datetime) -> dt.datetime:
        """``at`` itself when it is inside the window, else the window's next opening (in UTC)."""
        local = _local(at, self.zone)
        if self.contains(at):
            return at.astimezone(dt.UTC)
        day = local.date() if local.time() < self.opens else local.date() + dt.timedelta(days=1)
        opening = dt.datetime.combine(day, self.opens, tzinfo=ZoneInfo(self.zone))
        return opening.astimezone(dt.UTC)


def _local(at: dt.datetime, zone: str) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("send times must carry a time zone")
    return at.astimezone(ZoneInfo(zone))
