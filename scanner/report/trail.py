"""One subscriber's whole evidence trail in one place (``realname report --subscriber``).

The subscriber's registration (numbers masked), the photos on file, every finding of every run with
its measured values, thresholds and the policy it was judged under, every case with its hash-checked
history, notices and receipts, the holds that covered it (number, officer, reason), approvals and
exports, and every re-verification, and the subscriber's rows of the audit log. Full numbers only with ``reveal``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from notices.privacy import mask_number
from scanner.audit.query import LogFilter, read_log
from scanner.enforce.casequery import case_history
from scanner.report.listing import photo_file
from scanner.report.rows import province
from scanner.tables import CASE, CASE_TRANSITION, FINDING, HOLD, PHOTO, SCAN_RUN, SUBSCRIBER

TRAIL_SCHEMA = "realname-scanner/trail/1"
AUDIT_ROWS = 500  # the subscriber's newest rows of the audit log, shown oldest first


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def subscriber_trail(engine: Engine, who: str, reveal: bool = False) -> dict[str, Any]:
    """The trail of the subscriber with this account id or mobile number (``CaseError`` if none or
    several match). ``reveal``: full phone and ID numbers (the caller audits the reveal)."""
    cases = case_history(engine, who)  # finds the one subscriber, or says why not
    show = (lambda v: v) if reveal else mask_number
    with engine.connect() as conn:
        sub = conn.execute(select(SUBSCRIBER).where(SUBSCRIBER.c.account_id == cases["account_id"])).one()
        photos = [
            {
                "kind": p.kind,
                "file": photo_file(p.uri),
                "sha256": p.sha256,
                "size_bytes": p.size_bytes,
                "scanned_at": _iso(p.scanned_at),
            }
            for p in conn.execute(select(PHOTO).where(PHOTO.c.subscriber_id == sub.id).order_by(PHOTO.c.kind))
        ]
        findings = [
            {
                "run": f.run_id,
                "mode": f.mode,
                "as_of": _iso(f.as_of),
                "judged_at": _iso(f.created_at),
                "policy": {"name": f.policy_name, "version": f.policy_version, "sha256": f.policy_sha256},
                "verdict": f.verdict,
                "reasons": list(f.reasons),
                "evidence": list(f.evidence),
                "face_scores": dict(f.distances),
            }
            for f in conn.execute(
                select(
                    FINDING.c.run_id,
                    FINDING.c.verdict,
                    FINDING.c.reasons,
                    FINDING.c.evidence,
                    FINDING.c.distances,
                    FINDING.c.created_at,
                    SCAN_RUN.c.mode,
                    SCAN_RUN.c.as_of,
                    SCAN_RUN.c.policy_name,
                    SCAN_RUN.c.policy_version,
                    SCAN_RUN.c.policy_sha256,
                )
                .join(SCAN_RUN, SCAN_RUN.c.id == FINDING.c.run_id)
                .where(FINDING.c.subscriber_id == sub.id)
                .order_by(FINDING.c.run_id)
            )
        ]
        hold_ids = {
            row.hold_id
            for row in conn.execute(
                select(CASE_TRANSITION.c.hold_id)
                .join(CASE, CASE.c.id == CASE_TRANSITION.c.case_id)
                .where(CASE.c.subscriber_id == sub.id, CASE_TRANSITION.c.hold_id.is_not(None))
            )
        }
        holds = [
            {
                "id": h.id,
                "scope": h.scope,
                "reason": h.reason,
                "placed_by": h.created_by,
                "starts_at": _iso(h.starts_at),
                "until": _iso(h.until),
                "lifted_at": _iso(h.lifted_at),
                "lifted_by": h.lifted_by,
            }
            for h in conn.execute(select(HOLD).where(HOLD.c.id.in_(sorted(hold_ids))).order_by(HOLD.c.id))
        ]
        approvals = [
            {"case": c.id, "approved_by": c.approved_by, "approved_at": _iso(c.approved_at),
             "exported_at": _iso(c.exported_at)}
            for c in conn.execute(select(CASE).where(CASE.c.subscriber_id == sub.id).order_by(CASE.c.id))
            if c.approved_by or c.exported_at
        ]  # fmt: skip
        audit_rows = read_log(conn, LogFilter(subscriber=sub.account_id, limit=AUDIT_ROWS))
    return {
        "schema": TRAIL_SCHEMA,
        "subscriber_id": sub.id,
        "revealed": reveal,
        "subscriber": {
            "account_id": sub.account_id,
            "msisdn": show(sub.msisdn),
            "id_number": show(sub.id_number),
            "segment": sub.segment,
            "joined_on": _iso(sub.joined_on),
            "region": province(sub.region_code, sub.id_number) or None,  # not the county: it narrows the masked ID
            "id_expires_on": _iso(sub.id_expires_on),
            "id_legacy": sub.id_legacy,
        },
        "photos": photos,
        "findings": findings,
        "cases": cases["cases"],
        "holds": holds,
        "approvals": approvals,
        "remediations": cases["remediations"],
        "audit": [
            {k: row[k] for k in ("seq", "at", "actor", "action", "subject", "detail", "digest")} for row in audit_rows
        ],
    }


def detail_text(detail: dict[str, Any]) -> str:
    """An audit row's detail as ``key=value`` pairs (the values as stored: masked numbers)."""
    return ", ".join(f"{key}={value}" for key, value in sorted(detail.items()))
