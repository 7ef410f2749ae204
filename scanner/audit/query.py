"""Reading the audit log: rows filtered by time, actor, subscriber and action, oldest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from notices.privacy import mask_number
from scanner.tables import AUDIT_EVENT, SUBSCRIBER


@dataclass(frozen=True)
class LogFilter:
    since: dt.datetime | None = None
    actor: str | None = None
    subscriber: str | None = None  # an account id or a mobile number
    action: str | None = None  # a prefix: "notice." or "case.approve"
    limit: int = 100  # the newest rows matching, shown oldest first


def subscriber_ids(conn: Connection, who: str) -> list[int]:
    who = who.strip()
    rows = conn.execute(select(SUBSCRIBER.c.id).where(or_(SUBSCRIBER.c.account_id == who, SUBSCRIBER.c.msisdn == who)))
    return [int(r.id) for r in rows]


def read_log(conn: Connection, flt: LogFilter) -> list[dict[str, Any]]:
    a = AUDIT_EVENT.c
    query = select(AUDIT_EVENT)
    if flt.since is not None:
        query = query.where(a.at >= flt.since)
    if flt.actor:
        query = query.where(a.actor == flt.actor)
    if flt.action:
        query = query.where(a.action.startswith(flt.action, autoescape=True))
    accounts: dict[int, str] = {}
    if flt.subscriber:
        ids = subscriber_ids(conn, flt.subscriber)
        query = query.where(a.subscriber_id.in_(ids))
    rows = conn.execute(query.order_by(a.seq.desc()).limit(max(flt.limit, 0))).all()
    wanted = {r.subscriber_id for r in rows if r.subscriber_id is not None}
    if wanted:
        found = conn.execute(
            select(SUBSCRIBER.c.id, SUBSCRIBER.c.account_id, SUBSCRIBER.c.msisdn).where(SUBSCRIBER.c.id.in_(wanted))
        )
        accounts = {r.id: f"{r.account_id} {mask_number(r.msisdn)}" for r in found}
    return [
        {
            "seq": r.seq,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "subscriber_id": r.subscriber_id,
            "subscriber": accounts.get(r.subscriber_id) if r.subscriber_id is not None else None,
            "detail": r.detail,
            "digest": r.digest,
        }
        for r in reversed(rows)
    ]
