"""What a relay has done, as its status line says it: counts since it started, the rate of the last
30 seconds, the last error (numbers masked). ``realname relay status`` reads the same line from the
relay's ``/status``."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from notices.privacy import mask_text

RATE_WINDOW = 30.0  # seconds the reported rate is measured over


@dataclass
class Counters:
    started: float = field(default_factory=time.monotonic)
    claimed: int = 0
    submitted: int = 0
    queued_at_gateway: int = 0  # Kannel answered 3: its SMSC link was down, it keeps the message
    recovered: int = 0  # acknowledged from an earlier submission's reports instead of sent again
    nacked: int = 0
    dead: int = 0
    reports: int = 0
    delivered: int = 0
    undelivered: int = 0
    unknown_reports: int = 0
    bad_reports: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    recent: deque[float] = field(default_factory=deque)  # when the last submissions were acknowledged

    def sent(self) -> None:
        self.submitted += 1
        self.recent.append(time.monotonic())

    def error(self, message: str, at: str, count: bool = True) -> None:
        self.errors += count
        self.last_error = mask_text(message)[:500]
        self.last_error_at = at

    def rate(self) -> float:
        """Submissions per second over the last 30 seconds (or since the start, if sooner)."""
        clock = time.monotonic()
        while self.recent and self.recent[0] < clock - RATE_WINDOW:
            self.recent.popleft()
        return round(len(self.recent) / min(RATE_WINDOW, max(clock - self.started, 1e-9)), 1)

    def line(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "submitted": self.submitted,
            "queued_at_gateway": self.queued_at_gateway,
            "recovered": self.recovered,
            "delivered": self.delivered,
            "undelivered": self.undelivered,
            "given_back": self.nacked,
            "dead": self.dead,
            "reports": self.reports,
            "reports_unknown": self.unknown_reports,
            "reports_refused": self.bad_reports,
            "rate_per_second": self.rate(),
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }
