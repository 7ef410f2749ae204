"""Cases on the database: their append-only history, hash-chained, and the small
writes every enforcement command shares (apply an event, cancel pending notices,
record an audit event).

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
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Row

from notices.cases import CaseEvent, CaseState, CaseStatus, TransitionRecord, apply
from notices.queue import NoticeStatus
from scanner.models import AuditEvent, Case, CaseTransition, Notice

CASE = Case.__table__  # type: ignore[attr-defined]
TRANSITION = CaseTransition.__table__  # type: ignore[attr-defined]
NOTICE = Notice.__table__  # type: ignore[attr-defined]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
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


def append_history(
    conn: Connection,
    case_id: int,
    records: Sequence[TransitionRecord],
    *,
    notice_id: int | None = None,
    hold_id: int | None = None,
) -> None:
    if not records:
        return
    last = conn.execute(
        select(TRANSITION.c.seq, TRANSITION.c.digest)
        .where(TRANSITION.c.case_id == case_id)
        .order_by(TRANSITION.c.seq.desc())
        .limit(1)
    ).first()
    seq, previous = (last.seq, last.digest) if last else (0, GENESIS)
    rows = []
    for record in records:
        seq += 1
        previous = _digest(previous, case_id, seq, record, notice=notice_id, hold=hold_id)
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
                "notice_id": notice_id,
                "receipt": record.receipt_id,
                "hold_id": hold_id,
                "digest": previous,
            }
        )
    conn.execute(insert(TRANSITION), rows)


def verify_history(conn: Connection, case_id: int) -> tuple[bool, int]:
    """(intact, lines): whether every line's digest follows from the line before it."""
    previous, lines = GENESIS, 0
    for row in conn.execute(select(TRANSITION).where(TRANSITION.c.case_id == case_id).order_by(TRANSITION.c.seq)):
        lines += 1
        record = TransitionRecord(
            CaseState(row.from_state),
            CaseState(row.to_state),
            CaseEvent(row.event),
            row.at,
            row.actor,
            row.why,
            row.stage,
            row.finding_id,
            row.receipt,
        )
        expected = _digest(previous, case_id, row.seq, record, notice=row.notice_id, hold=row.hold_id)
        if row.seq != lines or row.digest != expected:
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


def cancel_pending(conn: Connection, case_id: int, now: dt.datetime, why: str) -> int:
    """Cancel the case's notices not yet handed to a gateway (queued, or claimed and not acknowledged)."""
    result = conn.execute(
        update(NOTICE)
        .where(
            NOTICE.c.case_id == case_id,
            NOTICE.c.status.in_([NoticeStatus.QUEUED.value, NoticeStatus.CLAIMED.value]),
        )
        .values(status=NoticeStatus.CANCELLED.value, final_at=now, error=why[:2000], lease_expires_at=None)
    )
    return int(result.rowcount or 0)


def audit(conn: Connection, now: dt.datetime, actor: str, action: str, subject: str, **detail: Any) -> None:
    conn.execute(insert(AUDIT).values(at=now, actor=actor[:200], action=action, subject=subject[:200], detail=detail))


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
