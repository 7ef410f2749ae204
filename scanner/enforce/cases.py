"""Cases on the database: their append-only history, hash-chained, and the small
writes every enforcement command shares (apply an event, cancel pending notices,
record an audit event). Every history line also appends a row to the audit log.

Each history line stores the sha256 of the line before it and of its own
content, so a line edited or removed afterwards breaks the chain that
``verify_history`` walks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from notices.cases import CaseEvent, CaseState, CaseStatus, TransitionRecord, apply
from notices.queue import NoticeStatus
from scanner.audit.log import Entry, append
from scanner.tables import CASE, CASE_TRANSITION, NOTICE

GENESIS = "0" * 64
OPEN_STATES = tuple(s.value for s in CaseState if s not in (CaseState.RESOLVED, CaseState.EXEMPTED))


class CaseError(ValueError):
    """An enforcement command that cannot be applied; the message names the case."""


def status_of(row: Row[Any]) -> CaseStatus:
    return CaseStatus(CaseState(row.state), row.stage, CaseState(row.held_from) if row.held_from else None)


def _digest(previous: str, case_id: int, seq: int, record: TransitionRecord, **refs: Any) -> str:
    body = {
        "case": case_id,
        "seq": seq,
        "from": record.from_state.value,
        "to": record.to_state.value,
        "event": record.event.value,
        "stage": record.stage,
        "at": record.at.astimezone(dt.UTC).isoformat(),
        "actor": record.actor,
        "why": record.why,
        "finding": record.finding_id,
        "receipt": record.receipt_id,
        **refs,
    }
    return hashlib.sha256(previous.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def append_history(conn: Connection, case_id: int, records: Sequence[TransitionRecord]) -> None:
    append_histories(conn, {case_id: list(records)})


def _last_lines(conn: Connection, case_ids: list[int]) -> dict[int, tuple[int, str]]:
    latest = (
        select(CASE_TRANSITION.c.case_id, func.max(CASE_TRANSITION.c.seq).label("seq"))
        .where(CASE_TRANSITION.c.case_id.in_(case_ids))
        .group_by(CASE_TRANSITION.c.case_id)
        .subquery()
    )
    rows = conn.execute(
        select(CASE_TRANSITION.c.case_id, CASE_TRANSITION.c.seq, CASE_TRANSITION.c.digest).join(
            latest, and_(CASE_TRANSITION.c.case_id == latest.c.case_id, CASE_TRANSITION.c.seq == latest.c.seq)
        )
    )
    return {row.case_id: (row.seq, row.digest) for row in rows}


def append_histories(conn: Connection, records_by_case: dict[int, list[TransitionRecord]]) -> None:
    """Append history lines to many cases in two statements, each line chained to the one before it,
    and one audit row per line (the case, the event and the line's digest)."""
    records_by_case = {case_id: records for case_id, records in records_by_case.items() if records}
    if not records_by_case:
        return
    last = _last_lines(conn, list(records_by_case))
    subscribers = _subscribers_of(conn, list(records_by_case))
    rows = []
    entries = []
    for case_id, records in records_by_case.items():
        seq, previous = last.get(case_id, (0, GENESIS))
        for record in records:
            seq += 1
            previous = _digest(previous, case_id, seq, record, notice=None, hold=record.hold_id)
            rows.append(
                {
                    "case_id": case_id,
                    "seq": seq,
                    "from_state": record.from_state.value,
                    "to_state": record.to_state.value,
                    "event": record.event.value,
                    "stage": record.stage,
                    "at": record.at,
                    "actor": record.actor[:200],
                    "why": record.why[:2000],
                    "finding_id": record.finding_id,
                    "notice_id": None,
                    "receipt": record.receipt_id,
                    "hold_id": record.hold_id,
                    "digest": previous,
                }
            )
            entries.append(
                Entry(
                    record.at,
                    record.actor,
                    f"case.{record.event.value}",
                    f"case {case_id}",
                    subscribers.get(case_id),
                    {
                        "case": case_id,
                        "line": seq,
                        "event": record.event.value,
                        "from": record.from_state.value,
                        "to": record.to_state.value,
                        "stage": record.stage,
                        "transition_digest": previous,
                    },
                )
            )
    conn.execute(insert(CASE_TRANSITION), rows)
    append(conn, entries)


def _subscribers_of(conn: Connection, case_ids: list[int]) -> dict[int, int]:
    rows = conn.execute(select(CASE.c.id, CASE.c.subscriber_id).where(CASE.c.id.in_(case_ids)))
    return {row.id: row.subscriber_id for row in rows}


def line_digest(previous: str, row: Row[Any]) -> str:
    """The digest a ``case_transition`` row should have, given the digest of the line before it: the
    same body as ``_digest`` makes, read straight from the row's columns (``audit verify`` checks every
    line of every case)."""
    body = {
        "case": row.case_id,
        "seq": row.seq,
        "from": row.from_state,
        "to": row.to_state,
        "event": row.event,
        "stage": row.stage,
        "at": row.at.astimezone(dt.UTC).isoformat(),
        "actor": row.actor,
        "why": row.why,
        "finding": row.finding_id,
        "receipt": row.receipt,
        "notice": row.notice_id,
        "hold": row.hold_id,
    }
    return hashlib.sha256(previous.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def verify_history(conn: Connection, case_id: int) -> tuple[bool, int]:
    """(intact, lines): whether every line's digest follows from the line before it."""
    previous, lines = GENESIS, 0
    for row in conn.execute(
        select(CASE_TRANSITION).where(CASE_TRANSITION.c.case_id == case_id).order_by(CASE_TRANSITION.c.seq)
    ):
        lines += 1
        if row.seq != lines or row.digest != line_digest(previous, row):
            return False, lines
        previous = row.digest
    return True, lines


def save_status(conn: Connection, case_id: int, status: CaseStatus, now: dt.datetime, **fields: Any) -> None:
    closed = status.state in (CaseState.RESOLVED, CaseState.EXEMPTED)
    values: dict[str, Any] = {
        "state": status.state.value,
        "stage": status.stage,
        "held_from": status.held_from.value if status.held_from else None,
        "updated_at": now,
        **fields,
    }
    if closed:
        values.update(active_subscriber_id=None, closed_at=now)
    conn.execute(update(CASE).where(CASE.c.id == case_id).values(**values))


_TIMES = ("stage_started_at", "stage_delivered_at", "hold_ended_at", "grace_ends_at")


def save_statuses(
    conn: Connection, changes: list[tuple[Row[Any], CaseStatus, dict[str, Any]]], now: dt.datetime
) -> None:
    """Write many open cases' new statuses and times in one statement (cases that stay open)."""
    if not changes:
        return
    rows = []
    for case, status, fields in changes:
        row = {f"b_{name}": fields.get(name, getattr(case, name)) for name in _TIMES}
        row.update(
            b_id=case.id,
            b_state=status.state.value,
            b_stage=status.stage,
            b_held_from=status.held_from.value if status.held_from else None,
        )
        rows.append(row)
    stmt = (
        update(CASE)
        .where(CASE.c.id == bindparam("b_id"))
        .values(
            state=bindparam("b_state"),
            stage=bindparam("b_stage"),
            held_from=bindparam("b_held_from"),
            updated_at=now,
            **{name: bindparam(f"b_{name}") for name in _TIMES},
        )
    )
    conn.execute(stmt, rows)


def apply_event(
    conn: Connection,
    case_row: Row[Any],
    event: CaseEvent,
    *,
    now: dt.datetime,
    actor: str,
    why: str,
    finding_id: int | None = None,
    **fields: Any,
) -> CaseStatus:
    """Apply one event to a case read from the database, write its status and history line."""
    status, record = apply(status_of(case_row), event, at=now, actor=actor, why=why, finding_id=finding_id)
    save_status(conn, case_row.id, status, now, **fields)
    append_history(conn, case_row.id, [record])
    return status


def cancel_pending(
    conn: Connection, case_id: int | list[int], now: dt.datetime, why: str, actor: str = "system"
) -> int:
    """Cancel the cases' notices not yet handed to a gateway (queued, or claimed and not acknowledged)."""
    which = NOTICE.c.case_id.in_(case_id if isinstance(case_id, list) else [case_id])
    return _cancel(conn, which, now, why, actor)


def cancel_notices(conn: Connection, notice_ids: list[int], now: dt.datetime, why: str, actor: str = "system") -> int:
    """Cancel these notices if they have not been handed to a gateway yet."""
    return _cancel(conn, NOTICE.c.id.in_(notice_ids), now, why, actor)


def _cancel(conn: Connection, which: Any, now: dt.datetime, why: str, actor: str) -> int:
    pending = NOTICE.c.status.in_([NoticeStatus.QUEUED.value, NoticeStatus.CLAIMED.value])
    cancelled = conn.execute(
        update(NOTICE)
        .where(which, pending)
        .values(status=NoticeStatus.CANCELLED.value, final_at=now, error=why[:2000], lease_expires_at=None)
        .returning(NOTICE.c.id, NOTICE.c.case_id, NOTICE.c.subscriber_id)
    ).all()
    append(
        conn,
        [
            Entry(
                now,
                actor,
                "notice.cancel",
                f"notice {r.id}",
                r.subscriber_id,
                {"notice": r.id, "case": r.case_id, "why": why},
            )
            for r in sorted(cancelled, key=lambda r: r.id)
        ],
    )
    return len(cancelled)


def audit(
    conn: Connection,
    now: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    *,
    subscriber_id: int | None = None,
    **detail: Any,
) -> None:
    """Append one row to the audit log (``scanner.audit.log``): an officer's or a system's action."""
    append(conn, [Entry(now, actor, action, subject, subscriber_id, detail)])


def active_case(conn: Connection, subscriber_id: int, lock: bool = False) -> Row[Any] | None:
    query = select(CASE).where(CASE.c.active_subscriber_id == subscriber_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def case_by_id(conn: Connection, case_id: int, lock: bool = False) -> Row[Any]:
    query = select(CASE).where(CASE.c.id == case_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise CaseError(f"case {case_id}: no such case")
    return row


def count_by_state(conn: Connection) -> dict[str, int]:
    return {state: int(n) for state, n in conn.execute(select(CASE.c.state, func.count()).group_by(CASE.c.state))}
