"""Run reports: counts by verdict and reason, and the subscribers behind them.

The JSON form is a stable, documented schema (``REPORT_SCHEMA``; see the
README). Phone and ID numbers appear only masked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from notices.privacy import mask_number
from scanner.models import Finding, ScanRun, Subscriber

REPORT_SCHEMA = "realname-scanner/report/1"
PAGE = 1000


class ReportError(LookupError):
    pass


def find_run(session: Session, run_id: int | None) -> ScanRun:
    if run_id is None:
        run = session.exec(select(ScanRun).order_by(col(ScanRun.id).desc())).first()
        if run is None:
            raise ReportError("no scan runs yet: run `realname rescan` first")
        return run
    run = session.get(ScanRun, run_id)
    if run is None:
        raise ReportError(f"no scan run with id {run_id}")
    return run


def run_summary(run: ScanRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "policy": {"name": run.policy_name, "version": run.policy_version, "sha256": run.policy_sha256},
        "mode": run.mode,
        "as_of": run.as_of.isoformat(),
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def iter_subscriber_rows(engine: Engine, run_id: int, verdicts: set[str] | None = None) -> Iterator[dict[str, Any]]:
    """One dict per finding of the run, in subscriber order, read page by page."""
    last = 0
    with Session(engine) as session:
        while True:
            query = (
                select(Finding, Subscriber)
                .join(Subscriber, col(Subscriber.id) == col(Finding.subscriber_id))
                .where(Finding.run_id == run_id, col(Finding.id) > last)
                .order_by(col(Finding.id))
                .limit(PAGE)
            )
            if verdicts:
                query = query.where(col(Finding.verdict).in_(sorted(verdicts)))
            rows = list(session.exec(query))
            if not rows:
                return
            for finding, sub in rows:
                yield {
                    "account_id": sub.account_id,
                    "msisdn": mask_number(sub.msisdn),
                    "id_number": mask_number(sub.id_number),
                    "segment": sub.segment,
                    "joined_on": sub.joined_on.isoformat(),
                    "verdict": finding.verdict,
                    "reasons": finding.reasons,
                    "evidence": finding.evidence,
                    "face_distances": finding.distances,
                }
            last = rows[-1][0].id or last


def build_report(engine: Engine, run_id: int | None, verdicts: set[str] | None = None) -> dict[str, Any]:
    with Session(engine) as session:
        run = find_run(session, run_id)
    assert run.id is not None
    return {
        "schema": REPORT_SCHEMA,
        "run": run_summary(run),
        "totals": run.totals,
        "subscribers": list(iter_subscriber_rows(engine, run.id, verdicts)),
    }


def write_json(report: dict[str, Any], out: IO[str]) -> None:
    json.dump(report, out, ensure_ascii=False, indent=2)
    out.write("\n")
