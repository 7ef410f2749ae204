"""The notice queue contract between the ladder and the operator's SMS system.

One row per message. The SMS system claims rows for a lease, sends them and
acknowledges each with the gateway's message id (or gives it back with
``nack``); the gateway's delivery receipts are reported later with
``receipt``. This module holds what every implementation must agree on: the
statuses, the dedup key, the retry schedule, how an SMPP receipt ``stat``
reads, and when a notice without a final receipt counts as undelivered. The
database implementations live with the adapters (``scanner``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class NoticeStatus(StrEnum):
    QUEUED = "queued"  # waiting for its not-before time and a consumer
    CLAIMED = "claimed"  # leased to a consumer; back to queued when the lease expires
    SUBMITTED = "submitted"  # acknowledged with a gateway message id; no final receipt yet
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"  # a final receipt said so, or none came within the receipt timeout
    DEAD = "dead"  # gave up after the maximum attempts: the ladder tries another channel
    CANCELLED = "cancelled"  # the case was resolved, exempted or put on hold before it went out


FINAL = frozenset({NoticeStatus.DELIVERED, NoticeStatus.UNDELIVERED, NoticeStatus.DEAD, NoticeStatus.CANCELLED})


class ReceiptOutcome(StrEnum):
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    PENDING = "pending"  # not final: the message is still on its way


# SMPP delivery receipt ``stat`` values (SMPP 3.4, appendix B).
SMPP_STAT: dict[str, ReceiptOutcome] = {
    "DELIVRD": ReceiptOutcome.DELIVERED,
    "UNDELIV": ReceiptOutcome.UNDELIVERED,
    "EXPIRED": ReceiptOutcome.UNDELIVERED,
    "DELETED": ReceiptOutcome.UNDELIVERED,
    "REJECTD": ReceiptOutcome.UNDELIVERED,
    "UNKNOWN": ReceiptOutcome.UNDELIVERED,
    "ACCEPTD": ReceiptOutcome.PENDING,
    "ENROUTE": ReceiptOutcome.PENDING,
}
RECEIPT_TIMEOUT = dt.timedelta(hours=72)


class UnknownStat(ValueError):
    """A receipt ``stat`` that is not one of SMPP's."""


def receipt_outcome(stat: str) -> ReceiptOutcome:
    try:
        return SMPP_STAT[stat.strip().upper()]
    except KeyError:
        raise UnknownStat(f"receipt stat {stat!r} is not an SMPP stat ({', '.join(SMPP_STAT)})") from None


def receipt_overdue(submitted_at: dt.datetime, now: dt.datetime) -> bool:
    """No final receipt within 72 hours of submission counts as undelivered."""
    return now - submitted_at >= RECEIPT_TIMEOUT


def dedup_key(case_id: int, stage: int, attempt: int, channel: str, slot: str | None = None) -> str:
    """The same case, stage, slot (the stage's channel a notice stands for, when a fallback
    channel carries it), attempt and channel is one notice: enqueueing it twice does nothing."""
    return f"case:{case_id}/stage:{stage}/slot:{slot or channel}/attempt:{attempt}/{channel}"


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


@dataclass(frozen=True)
class ClaimedNotice:
    id: int
    claim_token: str
    lease_expires_at: dt.datetime
    msisdn: str  # the full number, for the gateway only; never logged
    channel: str
    template: str
    params: dict[str, Any]
    text: str
    segments: int
    attempts: int


class NoticeQueue(Protocol):
    def claim(self, n: int, consumer: str, lease_seconds: int) -> list[ClaimedNotice]: ...

    def ack(self, notice_id: int, token: str, gateway_message_id: str) -> None: ...

    def nack(self, notice_id: int, token: str, error: str, permanent: bool) -> None: ...

    def receipt(self, gateway_message_id: str, stat: str, error: str | None, done_at: dt.datetime) -> bool: ...
