"""When a notice the consumer could not hand over is tried again: a delay that doubles up to a cap,
then the notice is dead (the ladder then tries another channel)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    first_delay: dt.timedelta = dt.timedelta(minutes=5)
    longest_delay: dt.timedelta = dt.timedelta(hours=6)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.first_delay <= dt.timedelta(0) or self.longest_delay < self.first_delay:
            raise ValueError("a retry policy needs at least one attempt and a positive, capped delay")

    def after_failure(self, attempts: int, now: dt.datetime, permanent: bool) -> dt.datetime | None:
        """When to try again after ``attempts`` failed attempts, or None when the notice is dead
        (a permanent error, or the attempts are used up). The delay doubles each time, up to its cap."""
        if permanent or attempts >= self.max_attempts:
            return None
        delay = self.first_delay
        for _ in range(attempts - 1):
            if delay >= self.longest_delay:
                break
            delay = min(delay * 2, self.longest_delay)
        return now + delay
