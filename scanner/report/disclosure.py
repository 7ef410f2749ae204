"""Reports that leave the database are on the record: every export to a file and every reveal of
full phone and ID numbers is a row of the audit log, written before the report is."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Engine

from scanner.enforce.cases import audit

EXPORT = "report_export"
REVEAL = "report_reveal"


def subject(*run_ids: int) -> str:
    """What a report is about: ``run:7``, or ``runs:7,8`` for a diff."""
    return f"run:{run_ids[0]}" if len(run_ids) == 1 else "runs:" + ",".join(map(str, run_ids))


def record(
    engine: Engine,
    actor: str,
    action: str,
    about: str,
    now: dt.datetime | None = None,
    subscriber_id: int | None = None,
    **detail: Any,
) -> None:
    """One audit row about ``about`` (``subject``; ``subscriber_id`` when it is about one subscriber, so
    that ``audit log --subscriber`` finds it); ``engine``: a write engine (``scanner.db.write_engine_for``)."""
    with engine.begin() as conn:
        audit(conn, now or dt.datetime.now(dt.UTC), actor, action, about, subscriber_id=subscriber_id, **detail)
