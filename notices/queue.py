"""The notice queue contract between the ladder and the operator's SMS system.

One row per message. The SMS system claims rows for a lease, sends them and
acknowledges each with the gateway's message id (or gives it back with
``nack``); the gateway's delivery receipts are reported later with
``receipt``. This module holds what every implementation must agree on: the
statuses, the dedup key, the one builder of a notice draft (channel, slot,
dedup key and text in one place), the claimed notice's JSON form, how an SMPP
receipt ``stat`` reads and what a receipt, an ack or a nack does to a notice,
and when a notice without a final receipt counts as undelivered. The retry
schedule is ``notices.retry``; an in-memory queue is ``notices.memqueue``; the
database queue lives with the adapters (``scanner.enforce.queue``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from notices.retry import RetryPolicy
from notices.templates import render
from notices.window import SendWindow

if TYPE_CHECKING:
    from notices.settings import Enforcement


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


RECEIPT_TIMEOUT_ERROR = "no final delivery receipt within 72 hours"
LEASE_EXPIRED_ERROR = "lease expired on the last attempt"
CONFIRMATION_SLOT = "confirmation"  # the slot of the text that confirms a re-verification


class QueueError(ValueError):
    """A queue call that cannot be applied; the message names the notice."""


class StaleClaim(QueueError):
    """The claim token does not match: the lease expired and the notice was claimed again."""


@dataclass(frozen=True)
class QueueRules:
    """What a queue takes from the policy's ``[notices]`` table: the send window, the retry schedule of
    a notice given back, the lease of a claim that names none. ``notices.settings.Enforcement`` is
    these and the rest of the enforcement settings; the queue commands read these alone (the policy
    is still validated in full: ``scanner.policycache``)."""

    window: SendWindow
    retry: RetryPolicy
    lease_seconds: int

    @property
    def zone(self) -> str:
        return self.window.zone


# --- what goes into the queue ------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """Whom a notice is for (the full number stays in the queue, for the gateway only)."""

    subscriber_id: int
    account_id: str
    msisdn: str


@dataclass(frozen=True)
class NoticeDraft:
    """A notice to enqueue; enqueueing one whose dedup key is already queued does nothing."""

    dedup_key: str
    case_id: int
    subscriber_id: int
    account_id: str
    msisdn: str
    stage: int
    slot: str
    attempt: int
    channel: str
    template: str
    params: dict[str, Any]
    text: str
    segments: int
    not_before: dt.datetime


def draft_notice(
    case_id: int,
    recipient: Recipient,
    rules: Enforcement,
    *,
    stage: int,
    slot: str,
    attempt: int,
    channel: str,
    template: str,
    reasons: list[str],
    deadline: dt.date | None,
    not_before: dt.datetime,
) -> NoticeDraft:
    """The one way a notice is made: its text rendered from the template (masked number, reasons,
    deadline, the policy's link and signature) and its dedup key from case, stage, slot, attempt
    and channel."""
    text = render(
        template,
        msisdn=recipient.msisdn,
        reasons=reasons,
        deadline=deadline,
        link=rules.link,
        signature=rules.signature,
    )
    return NoticeDraft(
        dedup_key=dedup_key(case_id, stage, attempt, channel, slot=slot),
        case_id=case_id,
        subscriber_id=recipient.subscriber_id,
        account_id=recipient.account_id,
        msisdn=recipient.msisdn,
        stage=stage,
        slot=slot,
        attempt=attempt,
        channel=channel,
        template=template,
        params=text.params,
        text=text.text,
        segments=text.segments.parts,
        not_before=not_before,
    )


def confirmation_draft(case_id: int, recipient: Recipient, rules: Enforcement, now: dt.datetime) -> NoticeDraft:
    """The SMS that tells a subscriber the re-verification passed: one per case, sent at the next
    opening of the send window."""
    return draft_notice(
        case_id,
        recipient,
        rules,
        stage=0,
        slot=CONFIRMATION_SLOT,
        attempt=1,
        channel="sms",
        template="confirmation",
        reasons=[],
        deadline=None,
        not_before=rules.window.next_send_time(now),
    )


# --- what comes out of it ----------------------------------------------------------------------


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

    def to_json(self) -> dict[str, Any]:
        """The claimed notice as the consumer reads it (one JSON line of ``realname notices claim``)."""
        return {
            "id": self.id,
            "token": self.claim_token,
            "lease_expires_at": self.lease_expires_at.isoformat(),
            "msisdn": self.msisdn,
            "channel": self.channel,
            "template": self.template,
            "params": self.params,
            "text": self.text,
            "segments": self.segments,
            "attempts": self.attempts,
        }


# --- what an ack and a receipt do ----------------------------------------------------------------


def claim_lease(
    n: int, consumer: str, lease_seconds: int | None, rules: QueueRules, now: dt.datetime
) -> dt.timedelta | None:
    """How long a claim made ``now`` leases its notices, or None outside the send window (nothing is
    handed out then, however overdue); refuses a claim without a count or a consumer."""
    if n < 1 or not consumer.strip():
        raise QueueError("claim needs n >= 1 and a consumer name")
    if not rules.window.contains(now):
        return None
    return dt.timedelta(seconds=lease_seconds or rules.lease_seconds)


def nack_effect(attempts: int, error: str, permanent: bool, rules: QueueRules, now: dt.datetime) -> dict[str, Any]:
    """The fields a nack sets on a notice claimed ``attempts`` times: queued again after the doubling
    delay (at the next opening of the send window), or dead after its last attempt or a permanent error."""
    retry_at = rules.retry.after_failure(attempts, now, permanent)
    values: dict[str, Any] = {"error": error[:2000], "lease_expires_at": None}
    if retry_at is None:
        return {**values, "status": NoticeStatus.DEAD.value, "final_at": now}
    return {**values, "status": NoticeStatus.QUEUED.value, "not_before": rules.window.next_send_time(retry_at)}


def receipt_done_at(stat: str, done_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When a receipt says the message was done, never later than ``now``; refuses an unknown stat
    and a time without a zone before anything is looked up."""
    receipt_outcome(stat)
    if done_at is not None and done_at.tzinfo is None:
        raise QueueError("a receipt's done time must carry a time zone")
    return min(done_at or now, now)


def require_gateway_id(notice_id: int, gateway_id: str) -> None:
    if not gateway_id.strip():
        raise QueueError(f"notice {notice_id}: ack needs the gateway's message id")


def check_ack(
    notice_id: int, status: str, claim_token: str | None, known_gateway_id: str | None, token: str, gateway_id: str
) -> bool:
    """Whether an ack of a notice in ``status`` submits it (True) or repeats an earlier answer (False);
    raises ``StaleClaim`` when it must not be reported."""
    if claim_token != token:
        raise StaleClaim(
            f"notice {notice_id}: the claim token does not match (the lease expired and it was "
            "claimed again); do not report it"
        )
    if status == NoticeStatus.CLAIMED.value:
        return True
    if known_gateway_id == gateway_id or status == NoticeStatus.CANCELLED.value:
        return False
    raise StaleClaim(f"notice {notice_id} is {status}, not claimed")


def check_nack(notice_id: int, status: str, claim_token: str | None, token: str) -> None:
    if claim_token != token or status != NoticeStatus.CLAIMED.value:
        raise StaleClaim(f"notice {notice_id}: not claimed with this token (it is {status})")


def receipt_effect(
    status: NoticeStatus,
    receipt_stat: str | None,
    error: str | None,
    stat: str,
    reported_error: str | None,
    done_at: dt.datetime,
) -> tuple[str, dict[str, Any]]:
    """What a delivery receipt does to a notice: the answer (``delivered``, ``undelivered``,
    ``pending`` or ``unchanged``) and the fields to set (none when unchanged). A late DELIVRD
    after the 72-hour rule still counts: the subscriber has the message."""
    outcome = receipt_outcome(stat)
    stat_code = stat.strip().upper()
    if outcome is ReceiptOutcome.PENDING:
        if status is NoticeStatus.SUBMITTED and receipt_stat != stat_code:
            return "pending", {"receipt_stat": stat_code}
        return "unchanged", {}
    timed_out = status is NoticeStatus.UNDELIVERED and error == RECEIPT_TIMEOUT_ERROR
    if outcome is ReceiptOutcome.DELIVERED and (status is NoticeStatus.SUBMITTED or timed_out):
        return "delivered", {
            "status": NoticeStatus.DELIVERED.value,
            "receipt_stat": stat_code,
            "final_at": done_at,
            "error": None,
        }
    if outcome is ReceiptOutcome.UNDELIVERED and status is NoticeStatus.SUBMITTED:
        return "undelivered", {
            "status": NoticeStatus.UNDELIVERED.value,
            "receipt_stat": stat_code,
            "final_at": done_at,
            "error": (reported_error or stat_code)[:2000],
        }
    return "unchanged", {}


@dataclass(frozen=True)
class Ack:
    """One acknowledgement in a batch (``NoticeQueue.ack_many``)."""

    notice_id: int
    token: str
    gateway_message_id: str


@dataclass(frozen=True)
class Receipt:
    """One delivery receipt in a batch (``NoticeQueue.receipt_many``)."""

    gateway_message_id: str
    stat: str
    error: str | None = None
    done_at: dt.datetime | None = None


class NoticeQueue(Protocol):
    """What a consumer (the SMS system, the call centre, the letter house) and ``cases advance``
    call; ``scanner.enforce.queue.SqlNoticeQueue`` on the database, ``notices.memqueue`` in memory.
    Every ``now`` defaults to the current time."""

    enforcement: QueueRules

    def claim(
        self,
        n: int,
        consumer: str,
        lease_seconds: int | None = None,
        channel: str = "sms",
        now: dt.datetime | None = None,
    ) -> list[ClaimedNotice]:
        """Lease up to ``n`` due notices of ``channel``; nothing outside the send window."""
        ...

    def ack(self, notice_id: int, token: str, gateway_message_id: str, now: dt.datetime | None = None) -> str:
        """The gateway took the notice; returns its status."""
        ...

    def ack_many(self, acks: Sequence[Ack], now: dt.datetime | None = None) -> list[str | ValueError]:
        """Several acks at once (one transaction on a database), each answered as ``ack`` answers it:
        its status, or the error that refuses it, while the others still apply."""
        ...

    def nack(
        self, notice_id: int, token: str, error: str, permanent: bool = False, now: dt.datetime | None = None
    ) -> str:
        """The notice could not be handed over: ``queued`` again later, or ``dead``."""
        ...

    def receipt(
        self,
        gateway_message_id: str,
        stat: str,
        error: str | None = None,
        done_at: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        """A delivery receipt: ``delivered``, ``undelivered``, ``pending``, ``unchanged`` or ``unknown``."""
        ...

    def receipt_many(self, receipts: Sequence[Receipt], now: dt.datetime | None = None) -> list[str | ValueError]:
        """Several receipts at once, in order, each answered as ``receipt`` answers it (or the error
        that refuses it: an unknown stat, a done time without a zone)."""
        ...

    def sweep(self, now: dt.datetime | None = None) -> dict[str, int]:
        """The 72-hour rule and leases that expired on the last attempt."""
        ...

    def stats(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Counts by channel and status, what is due now, expired leases."""
        ...
