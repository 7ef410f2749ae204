"""The notice queue in memory: the contract of ``notices.queue`` without a database.

It follows the same rules as the database queue (``scanner.enforce.queue``):
the send window, leases that expire and are handed out again with a new token,
doubling retries, idempotent receipts, the 72-hour rule and holds in force.
Tests of the planner and of the commands use it; the contract tests run the
same scenarios against both, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from notices.holds import Hold
from notices.queue import (
    LEASE_EXPIRED_ERROR,
    RECEIPT_TIMEOUT_ERROR,
    Ack,
    ClaimedNotice,
    NoticeDraft,
    NoticeStatus,
    QueueError,
    QueueRules,
    Receipt,
    check_ack,
    check_nack,
    claim_lease,
    nack_effect,
    receipt_done_at,
    receipt_effect,
    receipt_overdue,
    require_gateway_id,
)


@dataclass
class StoredNotice:
    """A notice in the queue: its draft and what has happened to it since."""

    id: int
    draft: NoticeDraft
    created_at: dt.datetime
    not_before: dt.datetime
    status: str = NoticeStatus.QUEUED.value
    attempts: int = 0
    claimed_by: str | None = None
    claim_token: str | None = None
    lease_expires_at: dt.datetime | None = None
    gateway_message_id: str | None = None
    submitted_at: dt.datetime | None = None
    final_at: dt.datetime | None = None
    receipt_stat: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Whereabouts:
    """What a hold's scope looks at besides the account: the subscriber's region code and segment."""

    region_code: str | None = None
    segment: str = "consumer"


class MemoryNoticeQueue:
    """``notices.queue.NoticeQueue`` in memory. ``holds`` are the holds on file; ``whereabouts``
    gives each subscriber id its region and segment for region and segment holds."""

    def __init__(
        self,
        enforcement: QueueRules,
        holds: Sequence[Hold] = (),
        whereabouts: Mapping[int, Whereabouts] | None = None,
    ) -> None:
        self.enforcement = enforcement
        self.holds = list(holds)
        self.whereabouts = dict(whereabouts or {})
        self.notices: dict[int, StoredNotice] = {}
        self._keys: set[str] = set()

    # --- filling it ----------------------------------------------------------------------------

    def enqueue(self, drafts: Sequence[NoticeDraft], now: dt.datetime) -> int:
        """Add the drafts whose dedup key is new; returns how many were added."""
        added = 0
        for draft in drafts:
            if draft.dedup_key in self._keys:
                continue
            self._keys.add(draft.dedup_key)
            notice_id = len(self.notices) + 1
            self.notices[notice_id] = StoredNotice(notice_id, draft, now, draft.not_before)
            added += 1
        return added

    def of_case(self, case_id: int) -> list[StoredNotice]:
        return [n for n in self.notices.values() if n.draft.case_id == case_id]

    # --- the consumer's calls ------------------------------------------------------------------

    def claim(
        self,
        n: int,
        consumer: str,
        lease_seconds: int | None = None,
        channel: str = "sms",
        now: dt.datetime | None = None,
    ) -> list[ClaimedNotice]:
        now = now or dt.datetime.now(dt.UTC)
        lease = claim_lease(n, consumer, lease_seconds, self.enforcement, now)
        if lease is None:
            return []
        token = uuid.uuid4().hex
        due = sorted(
            (x for x in self.notices.values() if x.draft.channel == channel and self._due(x, now)),
            key=lambda x: (x.not_before, x.id),
        )
        claimed = []
        for notice in due[:n]:
            notice.status = NoticeStatus.CLAIMED.value
            notice.claimed_by = consumer[:200]
            notice.claim_token = token
            notice.lease_expires_at = now + lease
            notice.attempts += 1
            d = notice.draft
            claimed.append(
                ClaimedNotice(
                    notice.id, token, now + lease, d.msisdn, d.channel, d.template, d.params, d.text, d.segments,
                    notice.attempts,
                )
            )  # fmt: skip
        return sorted(claimed, key=lambda x: x.id)

    def ack(self, notice_id: int, token: str, gateway_message_id: str, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now(dt.UTC)
        require_gateway_id(notice_id, gateway_message_id)
        notice = self._get(notice_id)
        if not check_ack(
            notice_id, notice.status, notice.claim_token, notice.gateway_message_id, token, gateway_message_id
        ):
            if notice.gateway_message_id is None:
                notice.gateway_message_id, notice.submitted_at = gateway_message_id, now
            return notice.status
        notice.status = NoticeStatus.SUBMITTED.value
        notice.gateway_message_id, notice.submitted_at = gateway_message_id, now
        notice.lease_expires_at = notice.error = None
        return notice.status

    def ack_many(self, acks: Sequence[Ack], now: dt.datetime | None = None) -> list[str | ValueError]:
        answers: list[str | ValueError] = []
        for ack in acks:
            try:
                answers.append(self.ack(ack.notice_id, ack.token, ack.gateway_message_id, now))
            except QueueError as exc:
                answers.append(exc)
        return answers

    def nack(
        self, notice_id: int, token: str, error: str, permanent: bool = False, now: dt.datetime | None = None
    ) -> str:
        now = now or dt.datetime.now(dt.UTC)
        notice = self._get(notice_id)
        check_nack(notice_id, notice.status, notice.claim_token, token)
        for name, value in nack_effect(notice.attempts, error, permanent, self.enforcement, now).items():
            setattr(notice, name, value)
        return notice.status

    def receipt(
        self,
        gateway_message_id: str,
        stat: str,
        error: str | None = None,
        done_at: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        now = now or dt.datetime.now(dt.UTC)
        done = receipt_done_at(stat, done_at, now)
        notice = next((x for x in self.notices.values() if x.gateway_message_id == gateway_message_id), None)
        if notice is None:
            return "unknown"
        result, values = receipt_effect(
            NoticeStatus(notice.status), notice.receipt_stat, notice.error, stat, error, done
        )
        for name, value in values.items():
            setattr(notice, name, value)
        return result

    def receipt_many(self, receipts: Sequence[Receipt], now: dt.datetime | None = None) -> list[str | ValueError]:
        answers: list[str | ValueError] = []
        for r in receipts:
            try:
                answers.append(self.receipt(r.gateway_message_id, r.stat, r.error, r.done_at, now))
            except ValueError as exc:
                answers.append(exc)
        return answers

    def sweep(self, now: dt.datetime | None = None) -> dict[str, int]:
        now = now or dt.datetime.now(dt.UTC)
        overdue = dead = 0
        for notice in self.notices.values():
            submitted = notice.submitted_at
            if notice.status == NoticeStatus.SUBMITTED.value and submitted and receipt_overdue(submitted, now):
                notice.status, notice.final_at, notice.error = (
                    NoticeStatus.UNDELIVERED.value,
                    now,
                    RECEIPT_TIMEOUT_ERROR,
                )
                overdue += 1
            elif self._lease_over(notice, now) and notice.attempts >= self.enforcement.retry.max_attempts:
                notice.status, notice.final_at, notice.error = NoticeStatus.DEAD.value, now, LEASE_EXPIRED_ERROR
                dead += 1
        return {"receipt_overdue": overdue, "dead_after_leases": dead}

    def stats(self, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or dt.datetime.now(dt.UTC)
        counts: dict[str, dict[str, int]] = {}
        due: dict[str, int] = {}
        oldest: dt.datetime | None = None
        for notice in self.notices.values():
            by = counts.setdefault(notice.draft.channel, {})
            by[notice.status] = by.get(notice.status, 0) + 1
            if notice.status == NoticeStatus.QUEUED.value and notice.not_before <= now:
                due[notice.draft.channel] = due.get(notice.draft.channel, 0) + 1
                oldest = notice.not_before if oldest is None else min(oldest, notice.not_before)
        return {
            "at": now.isoformat(),
            "by_channel": counts,
            "due_now": due,
            "oldest_due_minutes": None if oldest is None else round((now - oldest).total_seconds() / 60, 1),
            "expired_leases": sum(self._lease_over(x, now) for x in self.notices.values()),
            "segments_sent": sum(
                x.draft.segments for x in self.notices.values() if x.status in ("submitted", "delivered")
            ),
            "in_send_window": self.enforcement.window.contains(now),
        }

    # --- inside --------------------------------------------------------------------------------

    def _get(self, notice_id: int) -> StoredNotice:
        try:
            return self.notices[notice_id]
        except KeyError:
            raise QueueError(f"notice {notice_id}: no such notice") from None

    @staticmethod
    def _lease_over(notice: StoredNotice, now: dt.datetime) -> bool:
        expires = notice.lease_expires_at
        return notice.status == NoticeStatus.CLAIMED.value and expires is not None and expires <= now

    def _due(self, notice: StoredNotice, now: dt.datetime) -> bool:
        if notice.status == NoticeStatus.QUEUED.value:
            ready = notice.not_before <= now
        else:
            ready = self._lease_over(notice, now) and notice.attempts < self.enforcement.retry.max_attempts
        return ready and not self._held(notice, now)

    def _held(self, notice: StoredNotice, now: dt.datetime) -> bool:
        where = self.whereabouts.get(notice.draft.subscriber_id, Whereabouts())
        return any(
            h.active(now) and h.scope.covers(notice.draft.account_id, where.region_code, where.segment)
            for h in self.holds
        )

    def snapshot(self) -> list[dict[str, Any]]:
        """Every notice as a flat dict (draft fields and state), in id order."""
        return [
            {**dataclasses.asdict(x.draft), **{k: v for k, v in dataclasses.asdict(x).items() if k != "draft"}}
            for x in sorted(self.notices.values(), key=lambda x: x.id)
        ]
