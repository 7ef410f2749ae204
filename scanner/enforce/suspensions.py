"""Suspensions: an officer approves an eligible case, the list goes to the BSS, the BSS
reports back. The tool itself never suspends a line.

``approve`` needs the officer's name and an eligible case (every stage delivered,
grace passed, no hold). ``export`` writes the approved cases not yet exported,
masked unless the full numbers are asked for; only a full export consumes them, as a
batch that can be written again. ``confirm`` records what the BSS
did. ``exempt`` ends a case by an officer's decision.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from notices.cases import CaseEvent, CaseState, IllegalTransition
from notices.privacy import mask_number
from scanner.enforce.cases import CaseError, apply_event, audit, cancel_pending, case_by_id
from scanner.tables import CASE, SUBSCRIBER, SUSPENSION_EXPORT

EXPORT_COLUMNS = ("case_id", "account_id", "msisdn", "id_number", "approved_by", "approved_at", "reasons")


def _officer(name: str) -> str:
    if not name.strip():
        raise CaseError("an officer's name is required (--officer)")
    return name.strip()


def approve(engine: Engine, case_id: int, officer: str, now: dt.datetime, note: str = "") -> None:
    officer = _officer(officer)
    with engine.begin() as conn:
        case = case_by_id(conn, case_id, lock=True)
        if case.state != CaseState.ELIGIBLE.value:
            raise CaseError(f"case {case_id} is {case.state}: only an eligible case can be approved")
        apply_event(
            conn,
            case,
            CaseEvent.APPROVE,
            now=now,
            actor=f"officer:{officer}",
            why=note or "suspension approved",
            approved_by=officer,
            approved_at=now,
        )


def exempt(engine: Engine, case_id: int, officer: str, reason: str, now: dt.datetime) -> int:
    """End a case by an officer's decision; its pending notices are cancelled."""
    officer = _officer(officer)
    if not reason.strip():
        raise CaseError("an exemption needs a reason (--reason)")
    with engine.begin() as conn:
        case = case_by_id(conn, case_id, lock=True)
        try:
            apply_event(conn, case, CaseEvent.EXEMPT, now=now, actor=f"officer:{officer}", why=reason)
        except IllegalTransition as exc:
            raise CaseError(f"case {case_id}: {exc}") from None
        return cancel_pending(conn, case_id, now, "the case was exempted", f"officer:{officer}")


@dataclass(frozen=True)
class Export:
    rows: list[dict[str, Any]]
    batch: int | None  # the batch the cases were exported in (None: a masked preview, nothing consumed)
    consumed: bool  # the cases are now marked exported


def export_approved(
    engine: Engine,
    path: Path,
    officer: str,
    now: dt.datetime,
    full_numbers: bool = False,
    *,
    batch: int | None = None,
    force: bool = False,
) -> Export:
    """Write approved cases to ``path`` (CSV).

    Only an export with full numbers, the one the BSS can act on, consumes the cases: it records a
    batch and marks them exported. A masked export is a preview for people and consumes nothing.
    ``batch`` writes an earlier batch again (its cases, whatever their state now). An existing file
    is replaced only with ``force``; the file is written whole before the cases are marked."""
    officer = _officer(officer)
    if path.exists() and not force:
        raise CaseError(f"{path} exists: choose another file, or --force to replace it")
    with engine.begin() as conn:
        query = select(CASE, SUBSCRIBER.c.account_id, SUBSCRIBER.c.msisdn, SUBSCRIBER.c.id_number).join(
            SUBSCRIBER, SUBSCRIBER.c.id == CASE.c.subscriber_id
        )
        if batch is not None:
            found = conn.execute(select(SUSPENSION_EXPORT).where(SUSPENSION_EXPORT.c.id == batch)).first()
            if found is None:
                raise CaseError(f"no suspension export batch {batch}")
            query = query.where(CASE.c.id.in_(list(found.case_ids)))
        else:
            query = query.where(CASE.c.state == CaseState.APPROVED.value, CASE.c.exported_at.is_(None))
        rows = conn.execute(query.order_by(CASE.c.id)).all()
        out = [
            {
                "case_id": r.id,
                "account_id": r.account_id,
                "msisdn": r.msisdn if full_numbers else mask_number(r.msisdn),
                "id_number": r.id_number if full_numbers else mask_number(r.id_number),
                "approved_by": r.approved_by,
                "approved_at": r.approved_at.isoformat() if r.approved_at else "",
                "reasons": " ".join(r.reasons),
            }
            for r in rows
        ]
        _write_csv(path, out)
        ids = [r.id for r in rows]
        consumed = batch is None and full_numbers and bool(rows)
        if consumed:
            batch = int(
                conn.execute(
                    insert(SUSPENSION_EXPORT).values(created_at=now, created_by=officer, path=str(path), case_ids=ids)
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            conn.execute(update(CASE).where(CASE.c.id.in_(ids)).values(exported_at=now))
        audit(
            conn,
            now,
            officer,
            "suspensions.export",
            str(path),
            cases=ids,
            full_numbers=full_numbers,
            batch=batch,
            consumed=consumed,
        )
    return Export(out, batch, consumed)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """The whole file or nothing: written beside the target, then moved over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


def confirm(engine: Engine, case_ids: list[int], bss_ref: str, now: dt.datetime) -> list[int]:
    """Record that the BSS suspended these lines; returns the cases confirmed."""
    if not bss_ref.strip():
        raise CaseError("a confirmation needs the BSS's reference (--bss-ref)")
    done = []
    with engine.begin() as conn:
        for case_id in case_ids:
            case = case_by_id(conn, case_id, lock=True)
            if case.state == CaseState.SUSPENDED.value:
                continue  # the BSS reported it again
            if case.state != CaseState.APPROVED.value:
                raise CaseError(f"case {case_id} is {case.state}: only an approved case can be confirmed suspended")
            apply_event(conn, case, CaseEvent.CONFIRM_SUSPENDED, now=now, actor="bss", why=f"BSS reference {bss_ref}")
            done.append(case_id)
    return done


def pending_decisions(engine: Engine) -> list[dict[str, Any]]:
    """Eligible and approved cases, for the officer (numbers masked)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(CASE, SUBSCRIBER.c.account_id, SUBSCRIBER.c.msisdn)
            .join(SUBSCRIBER, SUBSCRIBER.c.id == CASE.c.subscriber_id)
            .where(CASE.c.state.in_([CaseState.ELIGIBLE.value, CaseState.APPROVED.value]))
            .order_by(CASE.c.id)
        ).all()
    return [
        {
            "case_id": r.id,
            "account_id": r.account_id,
            "msisdn": mask_number(r.msisdn),
            "state": r.state,
            "reasons": list(r.reasons),
            "grace_ended_at": r.grace_ends_at,
            "approved_by": r.approved_by,
            "exported": r.exported_at is not None,
        }
        for r in rows
    ]
