"""Reading cases for people: one subscriber's whole history, and the counts of all cases.

Numbers are masked; notice texts are stored already masked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from notices.privacy import mask_number
from scanner.enforce.cases import CaseError, count_by_state, verify_history
from scanner.records import normalise_msisdn
from scanner.tables import CASE, CASE_TRANSITION, NOTICE, REMEDIATION, SUBSCRIBER


def case_history(engine: Engine, who: str) -> dict[str, Any]:
    """Every case of the subscriber with this account id or mobile number, with history and notices."""
    msisdn = normalise_msisdn(who)
    with engine.connect() as conn:
        conditions = [SUBSCRIBER.c.account_id == who.strip()]
        if msisdn:
            conditions.append(SUBSCRIBER.c.msisdn == msisdn)
        subs = conn.execute(select(SUBSCRIBER).where(or_(*conditions))).all()
        if not subs:
            raise CaseError(f"{mask_number(who) if msisdn else who}: no subscriber with that account id or number")
        if len(subs) > 1:
            accounts = ", ".join(s.account_id for s in subs)
            raise CaseError(f"{mask_number(who)} belongs to several accounts ({accounts}): give the account id")
        sub = subs[0]
        cases = []
        for case in conn.execute(select(CASE).where(CASE.c.subscriber_id == sub.id).order_by(CASE.c.id)):
            intact, _lines = verify_history(conn, case.id)
            history = [
                {
                    "seq": t.seq,
                    "at": t.at.isoformat(),
                    "event": t.event,
                    "from": t.from_state,
                    "to": t.to_state,
                    "stage": t.stage,
                    "actor": t.actor,
                    "why": t.why,
                    "finding_id": t.finding_id,
                    "receipt": t.receipt,
                }
                for t in conn.execute(
                    select(CASE_TRANSITION).where(CASE_TRANSITION.c.case_id == case.id).order_by(CASE_TRANSITION.c.seq)
                )
            ]
            notices = [
                {
                    "id": n.id,
                    "stage": n.stage,
                    "slot": n.slot,
                    "attempt": n.attempt,
                    "channel": n.channel,
                    "template": n.template,
                    "status": n.status,
                    "not_before": n.not_before.isoformat(),
                    "attempts": n.attempts,
                    "receipt": n.receipt_stat,
                    "final_at": n.final_at.isoformat() if n.final_at else None,
                    "error": n.error,
                    "segments": n.segments,
                    "text": n.text,
                }
                for n in conn.execute(select(NOTICE).where(NOTICE.c.case_id == case.id).order_by(NOTICE.c.id))
            ]
            cases.append(
                {
                    "id": case.id,
                    "state": case.state,
                    "stage": case.stage,
                    "reasons": list(case.reasons),
                    "opened_at": case.opened_at.isoformat(),
                    "grace_ends_at": case.grace_ends_at.isoformat() if case.grace_ends_at else None,
                    "approved_by": case.approved_by,
                    "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                    "history_intact": intact,
                    "history": history,
                    "notices": notices,
                }
            )
        remediations = [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "verdict": r.verdict,
                "reasons": list(r.reasons),
                "evidence": list(r.evidence or []),
            }
            for r in conn.execute(
                select(REMEDIATION).where(REMEDIATION.c.subscriber_id == sub.id).order_by(REMEDIATION.c.id)
            )
        ]
    return {
        "account_id": sub.account_id,
        "msisdn": mask_number(sub.msisdn),
        "segment": sub.segment,
        "cases": cases,
        "remediations": remediations,
    }


def case_counts(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        by_state = count_by_state(conn)
        by_stage = {
            int(stage): int(n)
            for stage, n in conn.execute(
                select(CASE.c.stage, func.count()).where(CASE.c.state == "notifying").group_by(CASE.c.stage)
            )
        }
    return {"by_state": by_state, "notifying_by_stage": by_stage, "total": sum(by_state.values())}
