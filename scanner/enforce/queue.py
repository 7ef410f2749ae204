"""The notice queue on the database: what the SMS system (and the agents' and
letter systems, on their channels) consume.

``claim`` leases due notices to a consumer: on PostgreSQL the candidate rows
are locked with ``FOR UPDATE SKIP LOCKED``, so concurrent consumers never wait
for each other or get the same row; on SQLite the transaction starts with
``BEGIN IMMEDIATE`` (``scanner.db.write_engine_for``). A lease that expires
before ``ack`` or ``nack`` makes the row claimable again, with a new token, so
a consumer killed mid-lease loses nothing. ``receipt`` records the gateway's
delivery receipt and is idempotent. The contract itself (statuses, stats,
retry delays) is ``notices.queue``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from notices.queue import (
    LEASE_EXPIRED_ERROR,
    RECEIPT_TIMEOUT,
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
    require_gateway_id,
)
from scanner.audit.log import Entry, append
from scanner.db import dialect_insert
from scanner.tables import NOTICE, SUBSCRIBER
from scanner.utctime import utcnow


def enqueue(conn: Connection, drafts: Sequence[NoticeDraft], now: dt.datetime, actor: str = "system") -> int:
    """Insert the drafts whose dedup key is new (one audit row each); returns how many were inserted."""
    if not drafts:
        return 0
    rows = [{**d.__dict__, "status": NoticeStatus.QUEUED.value, "attempts": 0, "created_at": now} for d in drafts]
    c = NOTICE.c
    stmt = (
        dialect_insert(conn, NOTICE)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(c.id, c.case_id, c.subscriber_id, c.stage, c.channel, c.template, c.not_before)
    )
    inserted = sorted(conn.execute(stmt, rows).all(), key=lambda r: r.id)
    append(
        conn,
        [
            Entry(
                now,
                actor,
                "notice.queue",
                f"notice {r.id}",
                r.subscriber_id,
                {
                    "notice": r.id,
                    "case": r.case_id,
                    "stage": r.stage,
                    "channel": r.channel,
                    "template": r.template,
                    "not_before": r.not_before.isoformat(),
                },
            )
            for r in inserted
        ],
    )
    return len(inserted)


class SqlNoticeQueue:
    """``notices.queue.NoticeQueue`` on SQLite or PostgreSQL. Every call is one short transaction."""

    def __init__(self, engine: Engine, enforcement: QueueRules) -> None:
        self.engine = engine
        self.enforcement = enforcement

    def enqueue(self, drafts: Sequence[NoticeDraft], now: dt.datetime) -> int:
        """Insert the drafts whose dedup key is new, in one transaction."""
        with self.engine.begin() as conn:
            return enqueue(conn, drafts, now)

    def claim(
        self,
        n: int,
        consumer: str,
        lease_seconds: int | None = None,
        channel: str = "sms",
        now: dt.datetime | None = None,
    ) -> list[ClaimedNotice]:
        """Lease up to ``n`` due notices of ``channel`` to ``consumer``. Nothing is handed out
        outside the send window, however overdue."""
        now = now or utcnow()
        lease = claim_lease(n, consumer, lease_seconds, self.enforcement, now)
        if lease is None:
            return []
        token = uuid.uuid4().hex
        c = NOTICE.c
        due = or_(
            and_(c.status == NoticeStatus.QUEUED.value, c.not_before <= now),
            and_(
                c.status == NoticeStatus.CLAIMED.value,
                c.lease_expires_at <= now,
                c.attempts < self.enforcement.retry.max_attempts,
            ),
        )
        with self.engine.connect() as conn:
            held = _held_out(conn, now)
        if held is False:
            return []
        candidates = select(c.id).where(c.channel == channel, due, *held).order_by(c.not_before, c.id).limit(n)
        if self.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            update(NOTICE)
            .where(c.id.in_(candidates.scalar_subquery()))
            .values(
                status=NoticeStatus.CLAIMED.value,
                claimed_by=consumer[:200],
                claim_token=token,
                lease_expires_at=now + lease,
                attempts=c.attempts + 1,
            )
            .returning(c.id, c.msisdn, c.channel, c.template, c.params, c.text, c.segments, c.attempts, c.subscriber_id)
        )
        with self.engine.begin() as conn:
            rows = sorted(conn.execute(stmt).all(), key=lambda r: r.id)
            expires = (now + lease).isoformat()
            append(
                conn,
                [
                    Entry(
                        now,
                        consumer,
                        "notice.claim",
                        f"notice {r.id}",
                        r.subscriber_id,
                        {"notice": r.id, "attempt": r.attempts, "channel": r.channel, "lease_expires_at": expires},
                    )
                    for r in rows
                ],
            )
        claimed = [
            ClaimedNotice(
                r.id, token, now + lease, r.msisdn, r.channel, r.template, r.params, r.text, r.segments, r.attempts
            )
            for r in rows
        ]
        return sorted(claimed, key=lambda x: x.id)

    def ack(self, notice_id: int, token: str, gateway_message_id: str, now: dt.datetime | None = None) -> str:
        """The consumer handed the notice to the gateway, which gave it ``gateway_message_id``.
        Returns the notice's status; acknowledging the same claim again is harmless."""
        return _one(self.ack_many([Ack(notice_id, token, gateway_message_id)], now))

    def ack_many(self, acks: Sequence[Ack], now: dt.datetime | None = None) -> list[str | ValueError]:
        """Several acks in one transaction (the rows locked in id order, one audit append), each
        answered as ``ack`` answers it; one that is refused leaves the others applied."""
        now = now or utcnow()
        c = NOTICE.c
        answers: list[str | ValueError] = []
        with self.engine.begin() as conn:
            rows = {
                r.id: dict(r._mapping)
                for r in conn.execute(
                    select(c.id, c.status, c.claim_token, c.gateway_message_id, c.subscriber_id, c.claimed_by)
                    .where(c.id.in_(sorted({a.notice_id for a in acks})))
                    .order_by(c.id)
                    .with_for_update()
                )
            }
            entries = []
            for a in acks:
                row = rows.get(a.notice_id)
                try:
                    require_gateway_id(a.notice_id, a.gateway_message_id)
                    if row is None:
                        raise QueueError(f"notice {a.notice_id}: no such notice")
                    fresh = check_ack(
                        a.notice_id, row["status"], row["claim_token"], row["gateway_message_id"], a.token,
                        a.gateway_message_id,
                    )  # fmt: skip
                except QueueError as exc:
                    answers.append(exc)
                    continue
                detail = {"notice": a.notice_id, "gateway_message_id": a.gateway_message_id}
                if fresh:
                    values = {
                        "status": NoticeStatus.SUBMITTED.value,
                        "gateway_message_id": a.gateway_message_id,
                        "submitted_at": now,
                        "lease_expires_at": None,
                        "error": None,
                    }
                elif row["gateway_message_id"] is None:
                    values = {"gateway_message_id": a.gateway_message_id, "submitted_at": now}
                else:
                    answers.append(str(row["status"]))
                    continue
                self._set(conn, a.notice_id, **values)
                row.update(values)
                entries.append(_entry(now, row, "notice.ack", {**detail, "status": row["status"]}, a.notice_id))
                answers.append(str(row["status"]))
            append(conn, entries)
        return answers

    def nack(
        self, notice_id: int, token: str, error: str, permanent: bool = False, now: dt.datetime | None = None
    ) -> str:
        """The consumer could not hand the notice over. It is tried again after a doubling delay
        (inside the send window), or is dead after its last attempt or a permanent error."""
        now = now or utcnow()
        c = NOTICE.c
        with self.engine.begin() as conn:
            row = conn.execute(
                select(c.status, c.claim_token, c.attempts, c.subscriber_id, c.claimed_by)
                .where(c.id == notice_id)
                .with_for_update()
            ).first()
            if row is None:
                raise QueueError(f"notice {notice_id}: no such notice")
            check_nack(notice_id, row.status, row.claim_token, token)
            values = nack_effect(row.attempts, error, permanent, self.enforcement, now)
            self._set(conn, notice_id, **values)
            detail = {"notice": notice_id, "status": values["status"], "permanent": permanent, "error": error[:500]}
            _audit(conn, now, row, "notice.nack", detail)
            return str(values["status"])

    def receipt(
        self,
        gateway_message_id: str,
        stat: str,
        error: str | None = None,
        done_at: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        """Record a delivery receipt. Returns what it did: ``delivered``, ``undelivered``,
        ``pending`` (not final), ``unchanged`` (a repeat, or the notice is already final) or
        ``unknown`` (no notice has that gateway id yet: the gateway may report before the ack;
        send it again later)."""
        return _one(self.receipt_many([Receipt(gateway_message_id, stat, error, done_at)], now))

    def receipt_many(self, receipts: Sequence[Receipt], now: dt.datetime | None = None) -> list[str | ValueError]:
        """Several receipts in one transaction, applied in order (two for one notice see each
        other), each answered as ``receipt`` answers it; one that is refused leaves the others."""
        now = now or utcnow()
        c = NOTICE.c
        answers: list[str | ValueError] = []
        with self.engine.begin() as conn:
            rows: dict[str, dict[str, Any]] = {}
            for r in conn.execute(
                select(c.id, c.gateway_message_id, c.status, c.receipt_stat, c.error, c.subscriber_id, c.claimed_by)
                .where(c.gateway_message_id.in_(sorted({x.gateway_message_id for x in receipts})))
                .order_by(c.id)
                .with_for_update()
            ):
                rows.setdefault(r.gateway_message_id, dict(r._mapping))
            entries = []
            for x in receipts:
                try:
                    done = receipt_done_at(x.stat, x.done_at, now)
                except ValueError as exc:
                    answers.append(exc)
                    continue
                row = rows.get(x.gateway_message_id)
                if row is None:
                    answers.append("unknown")
                    continue
                result, values = receipt_effect(
                    NoticeStatus(row["status"]), row["receipt_stat"], row["error"], x.stat, x.error, done
                )
                if values:
                    self._set(conn, row["id"], **values)
                    row.update(values)
                    detail = {
                        "notice": row["id"],
                        "gateway_message_id": x.gateway_message_id,
                        "stat": x.stat,
                        "result": result,
                    }
                    entries.append(_entry(now, row, "notice.receipt", detail, row["id"], actor="gateway"))
                answers.append(result)
            append(conn, entries)
        return answers

    def sweep(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Submitted notices with no final receipt after 72 hours become undelivered; claimed
        notices whose lease expired on their last attempt become dead."""
        now = now or utcnow()
        c = NOTICE.c
        with self.engine.begin() as conn:
            overdue = conn.execute(
                update(NOTICE)
                .where(c.status == NoticeStatus.SUBMITTED.value, c.submitted_at <= now - RECEIPT_TIMEOUT)
                .values(status=NoticeStatus.UNDELIVERED.value, final_at=now, error=RECEIPT_TIMEOUT_ERROR)
                .returning(c.id, c.subscriber_id)
            ).all()
            dead = conn.execute(
                update(NOTICE)
                .where(
                    c.status == NoticeStatus.CLAIMED.value,
                    c.lease_expires_at <= now,
                    c.attempts >= self.enforcement.retry.max_attempts,
                )
                .values(status=NoticeStatus.DEAD.value, final_at=now, error=LEASE_EXPIRED_ERROR)
                .returning(c.id, c.subscriber_id)
            ).all()
            swept = [(r, NoticeStatus.UNDELIVERED.value) for r in overdue] + [
                (r, NoticeStatus.DEAD.value) for r in dead
            ]
            append(
                conn,
                [
                    Entry(
                        now, "sweep", "notice.sweep", f"notice {r.id}", r.subscriber_id, {"notice": r.id, "status": s}
                    )
                    for r, s in sorted(swept, key=lambda x: x[0].id)
                ],
            )
        return {"receipt_overdue": len(overdue), "dead_after_leases": len(dead)}

    def stats(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Counts by channel and status, what is due now, expired leases and the oldest due notice."""
        now = now or utcnow()
        c = NOTICE.c
        with self.engine.connect() as conn:
            by = conn.execute(select(c.channel, c.status, func.count()).group_by(c.channel, c.status)).all()
            due = conn.execute(
                select(c.channel, func.count(), func.min(c.not_before))
                .where(c.status == NoticeStatus.QUEUED.value, c.not_before <= now)
                .group_by(c.channel)
            ).all()
            expired = conn.execute(
                select(func.count()).where(c.status == NoticeStatus.CLAIMED.value, c.lease_expires_at <= now)
            ).scalar_one()
            segments = conn.execute(
                select(func.coalesce(func.sum(c.segments), 0)).where(c.status.in_(["submitted", "delivered"]))
            ).scalar_one()
        counts: dict[str, dict[str, int]] = {}
        for channel, status, count in by:
            counts.setdefault(channel, {})[status] = int(count)
        oldest = min((row[2] for row in due), default=None)
        return {
            "at": now.isoformat(),
            "by_channel": counts,
            "due_now": {row[0]: int(row[1]) for row in due},
            "oldest_due_minutes": None if oldest is None else round((now - oldest).total_seconds() / 60, 1),
            "expired_leases": int(expired),
            "segments_sent": int(segments),
            "in_send_window": self.enforcement.window.contains(now),
        }

    @staticmethod
    def _set(conn: Connection, notice_id: int, **values: Any) -> None:
        conn.execute(update(NOTICE).where(NOTICE.c.id == notice_id).values(**values))


def _audit(
    conn: Connection,
    now: dt.datetime,
    row: Any,
    action: str,
    detail: dict[str, Any],
    notice_id: int | None = None,
    actor: str | None = None,
) -> None:
    """One audit row about a notice; the consumer that claimed it is the actor unless named."""
    notice = notice_id if notice_id is not None else detail["notice"]
    append(conn, [_entry(now, row._mapping, action, detail, notice, actor)])


def _one(answers: list[str | ValueError]) -> str:
    """The answer of a batch of one, or its error raised."""
    (answer,) = answers
    if isinstance(answer, ValueError):
        raise answer
    return answer


def _entry(
    now: dt.datetime,
    row: Mapping[str, Any],
    action: str,
    detail: dict[str, Any],
    notice_id: int,
    actor: str | None = None,
) -> Entry:
    """The audit entry about a notice (``row`` holds its ``claimed_by`` and ``subscriber_id``)."""
    who = actor or row["claimed_by"] or "consumer"
    return Entry(now, who, action, f"notice {notice_id}", row["subscriber_id"], detail)


def _held_out(conn: Connection, now: dt.datetime) -> list[Any] | Literal[False]:
    """Conditions that keep notices of subscribers under a hold in force out of a claim (False:
    a hold covers everybody). ``cases advance`` cancels them; this covers the time until it runs."""
    from scanner.enforce.holds import load_holds

    active = [h for h in load_holds(conn) if h.active(now)]
    if not active:
        return []
    if any(h.scope.kind == "all" for h in active):
        return False
    c = NOTICE.c
    conditions: list[Any] = []
    accounts = [h.scope.value for h in active if h.scope.kind == "account"]
    if accounts:
        conditions.append(c.account_id.notin_(accounts))
    segments = [h.scope.value for h in active if h.scope.kind == "segment"]
    regions = [h.scope.region_prefix() for h in active if h.scope.kind == "region"]
    if segments or regions:
        covered: list[ColumnElement[bool]] = [SUBSCRIBER.c.segment.in_(segments)] if segments else []
        covered += [SUBSCRIBER.c.region_code.startswith(prefix) for prefix in regions]
        conditions.append(~exists().where(SUBSCRIBER.c.id == c.subscriber_id, or_(*covered)))
    return conditions
