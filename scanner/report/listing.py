"""The subscribers a person reads first: the failing and the review subscribers of a run, each list
on its own and capped, with the files their reasons were measured on.

Numbers are masked; a photo's file is named by its folder and base name, with any long number masked
(operators often name photo files after the ID or phone number).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from notices.privacy import mask_number, mask_text
from scanner.report.rows import photo_files, photo_name
from scanner.report.runs import find_run, policy_thresholds, run_summary, severities
from scanner.tables import FINDING, SUBSCRIBER


def photo_file(uri: str) -> str:
    """A photo's file for a report: its folder and base name, long numbers masked."""
    return mask_text(photo_name(uri))


def listed(engine: Engine, run_id: int, verdict: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The first ``limit`` subscribers (by account) with ``verdict`` in the run (0: all), and how many
    have it. Each row: account, masked numbers, verdict, evidence, and the photo files by kind."""
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(FINDING).where(FINDING.c.run_id == run_id, FINDING.c.verdict == verdict)
        ).scalar_one()
        query = (
            select(
                SUBSCRIBER.c.id,
                SUBSCRIBER.c.account_id,
                SUBSCRIBER.c.msisdn,
                SUBSCRIBER.c.id_number,
                FINDING.c.verdict,
                FINDING.c.evidence,
            )
            .join(SUBSCRIBER, SUBSCRIBER.c.id == FINDING.c.subscriber_id)
            .where(FINDING.c.run_id == run_id, FINDING.c.verdict == verdict)
            .order_by(SUBSCRIBER.c.account_id)
        )
        if limit:
            query = query.limit(limit)
        rows = conn.execute(query).all()
        files: dict[int, dict[str, str]] = {}
        ids = [row.id for row in rows]
        for start in range(0, len(ids), 500):
            for (sid, kind), name in photo_files(conn, ids[start : start + 500]).items():
                files.setdefault(sid, {})[kind] = mask_text(name)
    return [
        {
            "account_id": row.account_id,
            "msisdn": mask_number(row.msisdn),
            "id_number": mask_number(row.id_number),
            "verdict": row.verdict,
            "evidence": list(row.evidence),
            "files": files.get(row.id, {}),
        }
        for row in rows
    ], int(total)


def listing(engine: Engine, run_id: int | None, verdicts: set[str], limit: int) -> dict[str, Any]:
    """What the text report shows: the run, its totals, each chosen verdict's first ``limit``
    subscribers with the count behind them, and each reason's severity under the run's policy
    (empty when the policy file has changed since the run)."""
    from sqlmodel import Session

    with Session(engine) as session:
        run = find_run(session, run_id)
    assert run.id is not None
    policy_path, thresholds = policy_thresholds(run)
    severity = {} if policy_path is None else severities(thresholds)
    return {
        "run": run_summary(run),
        "totals": run.totals,
        "lists": {verdict: listed(engine, run.id, verdict, limit) for verdict in sorted(verdicts)},
        "severity": severity,
    }
