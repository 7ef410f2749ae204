"""Holds on the database: add, list, lift; every change is in the audit trail.

A hold freezes notices and eligibility in its scope (``notices.holds``);
``cases advance`` applies it to the cases it covers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from checks.idcard import region_for
from notices.holds import Hold, HoldScope
from scanner.enforce.cases import CaseError, audit
from scanner.tables import HOLD


def _hold(row: Any) -> Hold:
    return Hold(HoldScope.parse(row.scope), row.reason, row.starts_at, row.until, row.lifted_at, row.id, row.created_by)


def covers(scope: HoldScope) -> str:
    """What a scope covers, in words: a region's names from the national region table."""
    if scope.kind != "region":
        return "everybody" if scope.kind == "all" else str(scope)
    region = region_for(scope.value)
    if region is None:
        return f"unknown region {scope.value}"
    return region.province if region.county in ("", region.province) else f"{region.province} {region.county}"


def checked_scope(text: str) -> HoldScope:
    """A scope from the command line; a region code must be one of the national region table's."""
    scope = HoldScope.parse(text)
    if scope.kind == "region" and region_for(scope.value) is None:
        raise CaseError(
            f"hold scope {text!r}: {scope.value} is not a region code in the national table "
            "(GB/T 2260, as python-stdnum has it); use a province (420000), city (420100) or county (420102) code"
        )
    return scope


def load_holds(conn: Connection) -> list[Hold]:
    return [_hold(row) for row in conn.execute(select(HOLD).order_by(HOLD.c.id))]


def add_hold(
    engine: Engine,
    scope: str,
    reason: str,
    until: dt.datetime,
    officer: str,
    now: dt.datetime,
    starts_at: dt.datetime | None = None,
) -> int:
    parsed = checked_scope(scope)
    if not officer.strip():
        raise CaseError("a hold needs the officer who adds it (--officer)")
    hold = Hold(parsed, reason, starts_at or now, until)  # validates reason and times
    with engine.begin() as conn:
        hold_id = int(
            conn.execute(
                insert(HOLD).values(
                    scope=str(parsed),
                    reason=hold.reason,
                    starts_at=hold.starts_at,
                    until=hold.until,
                    created_by=officer,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        audit(
            conn,
            now,
            officer,
            "hold.add",
            f"hold {hold_id}",
            scope=str(parsed),
            reason=reason,
            starts_at=hold.starts_at.isoformat(),
            until=until.isoformat(),
        )
    return hold_id


def lift_hold(engine: Engine, hold_id: int, officer: str, why: str, now: dt.datetime) -> None:
    if not officer.strip() or not why.strip():
        raise CaseError("lifting a hold needs the officer (--officer) and why (--reason)")
    with engine.begin() as conn:
        row = conn.execute(select(HOLD).where(HOLD.c.id == hold_id)).first()
        if row is None:
            raise CaseError(f"hold {hold_id}: no such hold")
        if row.lifted_at is not None or _hold(row).ends_at <= now:
            raise CaseError(f"hold {hold_id} has already ended")
        conn.execute(update(HOLD).where(HOLD.c.id == hold_id).values(lifted_at=now, lifted_by=officer))
        audit(conn, now, officer, "hold.lift", f"hold {hold_id}", reason=why, scope=row.scope)


def list_holds(engine: Engine, now: dt.datetime, include_ended: bool = False) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(HOLD).order_by(HOLD.c.id)).all()
    out = []
    for row in rows:
        hold = _hold(row)
        status = "active" if hold.active(now) else ("ended" if hold.ends_at <= now else "scheduled")
        if status == "ended" and not include_ended:
            continue
        out.append(
            {
                "id": row.id,
                "scope": row.scope,
                "covers": covers(hold.scope),
                "reason": row.reason,
                "status": status,
                "starts_at": hold.starts_at,
                "until": row.until,
                "lifted_at": row.lifted_at,
                "created_by": row.created_by,
                "lifted_by": row.lifted_by,
            }
        )
    return out
