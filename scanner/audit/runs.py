"""The audit rows of a scan run: started (with the policy it loaded), resumed, finished (with the
digest over its findings) or interrupted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from scanner.audit.log import Entry, append
from scanner.audit.rundigest import run_digest
from scanner.tables import SCAN_SHARD

ACTOR = "rescan"


def _policy_entry(run: Any, at: dt.datetime) -> Entry:
    return Entry(
        at,
        ACTOR,
        "policy.load",
        f"policy {run.policy_name}"[:200],
        detail={
            "run": run.id,
            "name": run.policy_name,
            "version": run.policy_version,
            "sha256": run.policy_sha256,
        },
    )


def record_start(conn: Connection, run: Any, at: dt.datetime, *, resumed: bool = False) -> None:
    """``run`` has the columns of a ``scan_run`` row."""
    action = "run.resume" if resumed else "run.start"
    detail = {"run": run.id, "mode": run.mode, "as_of": str(run.as_of)}
    append(conn, [_policy_entry(run, at), Entry(at, ACTOR, action, f"run {run.id}", detail=detail)])


def run_findings_digest(conn: Connection, run_id: int) -> tuple[str, int, int]:
    """(digest, shards, subscribers) of the run's committed shards, from their digests."""
    rows = conn.execute(
        select(SCAN_SHARD.c.shard_no, SCAN_SHARD.c.findings_digest)
        .where(SCAN_SHARD.c.run_id == run_id)
        .order_by(SCAN_SHARD.c.shard_no)
    ).all()
    subscribers = conn.execute(
        select(func.coalesce(func.sum(SCAN_SHARD.c.subscribers), 0)).where(SCAN_SHARD.c.run_id == run_id)
    ).scalar_one()
    return run_digest((r.shard_no, r.findings_digest) for r in rows), len(rows), int(subscribers)


def record_end(conn: Connection, run_id: int, status: str, at: dt.datetime) -> None:
    """A finished run's row holds the digest over its findings; an interrupted run's only says so."""
    if status == "finished":
        digest, shards, subscribers = run_findings_digest(conn, run_id)
        detail: dict[str, Any] = {
            "run": run_id,
            "findings_digest": digest,
            "shards": shards,
            "subscribers": subscribers,
        }
        append(conn, [Entry(at, ACTOR, "run.finish", f"run {run_id}", detail=detail)])
    else:
        append(conn, [Entry(at, ACTOR, f"run.{status}"[:40], f"run {run_id}", detail={"run": run_id})])
