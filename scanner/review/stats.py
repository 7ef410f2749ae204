"""The officer's view of the queue: how many items wait, are held, are overdue; what each reviewer
decided; and how reviewers' decisions line up with the automatic measurements, reason by reason (a
reason whose flags people mostly pass is a threshold to look at)."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from notices.review import ItemState, ReviewRules
from scanner.tables import FINDING, REVIEW_DECISION, REVIEW_ITEM, REVIEWER

NO_REASON = "-"  # an item referred by an officer whose subscriber the run did not flag


@dataclass
class QueueSummary:
    pending: int = 0  # waiting for a first decision, nobody holds them
    assigned: int = 0  # held by a reviewer with a live lease
    second: int = 0  # waiting for a second opinion
    disputed: int = 0
    overdue: int = 0  # open and older than the service target
    decided: int = 0
    withdrawn: int = 0
    per_reviewer: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def queue_summary(conn: Connection, rules: ReviewRules, now: dt.datetime) -> QueueSummary:
    out = QueueSummary()
    item = REVIEW_ITEM.c
    held = and_(item.assignee_id.is_not(None), item.lease_expires_at > now)
    open_state = item.state.in_([ItemState.PENDING.value, ItemState.SECOND.value, ItemState.DISPUTED.value])
    row = conn.execute(
        select(
            func.count().filter(item.state == ItemState.PENDING.value, ~held),
            func.count().filter(open_state, held),
            func.count().filter(item.state == ItemState.SECOND.value),
            func.count().filter(item.state == ItemState.DISPUTED.value),
            func.count().filter(open_state, item.created_at < now - rules.service_target),
            func.count().filter(item.state == ItemState.DECIDED.value),
            func.count().filter(item.state == ItemState.WITHDRAWN.value),
        )
    ).one()
    out.pending, out.assigned, out.second, out.disputed, out.overdue, out.decided, out.withdrawn = (int(v) for v in row)
    holding: dict[int, int] = dict(
        conn.execute(select(item.assignee_id, func.count()).where(open_state, held).group_by(item.assignee_id)).all()
    )
    d = REVIEW_DECISION.c
    decided = {
        (r.reviewer_id, r.decision): int(r.n)
        for r in conn.execute(
            select(d.reviewer_id, d.decision, func.count().label("n")).group_by(d.reviewer_id, d.decision)
        )
    }
    for r in conn.execute(select(REVIEWER).order_by(REVIEWER.c.login)):
        counts = {k: decided.get((r.id, k), 0) for k in ("pass", "fail", "recapture")}
        out.per_reviewer.append(
            {
                "login": r.login,
                "name": r.name,
                "role": r.role,
                "active": r.active,
                "regions": list(r.regions or []),
                "segments": list(r.segments or []),
                "held": int(holding.get(r.id, 0)),
                "decided": sum(counts.values()),
                **counts,
            }
        )
    return out


@dataclass
class ConfusionRow:
    reason: str
    severity: str  # what the run said of it: review, fail, or "-" (not flagged)
    n: int = 0
    passed: int = 0
    failed: int = 0
    recapture: int = 0
    measure: str | None = None
    threshold: float | None = None
    values_pass: list[float] = field(default_factory=list)
    values_fail: list[float] = field(default_factory=list)

    @property
    def confirmed(self) -> float | None:
        """Share of decisions that agree with the run: fail or recapture for a flag, pass for no flag."""
        if not self.n:
            return None
        agree = self.passed if self.severity == NO_REASON else self.failed + self.recapture
        return agree / self.n

    def to_dict(self) -> dict[str, Any]:
        def median(values: list[float]) -> float | None:
            return round(statistics.median(values), 4) if values else None

        return {
            "reason": self.reason,
            "severity": self.severity,
            "decided": self.n,
            "pass": self.passed,
            "fail": self.failed,
            "recapture": self.recapture,
            "confirmed": round(self.confirmed, 4) if self.confirmed is not None else None,
            "measure": self.measure,
            "threshold": self.threshold,
            "median_value_pass": median(self.values_pass),
            "median_value_fail": median(self.values_fail),
        }


def confusion(conn: Connection) -> list[ConfusionRow]:
    """Final decisions by the reasons the run gave, with the measured values on each side."""
    item = REVIEW_ITEM.c
    rows = conn.execute(
        select(item.decision, item.reasons, FINDING.c.evidence)
        .select_from(REVIEW_ITEM.outerjoin(FINDING, FINDING.c.id == item.finding_id))
        .where(item.state == ItemState.DECIDED.value)
    )
    table: dict[tuple[str, str], ConfusionRow] = {}
    for decision, reasons, evidence in rows:
        by_code: dict[str, dict[str, Any]] = {}
        for e in evidence or []:
            by_code.setdefault(e.get("code", ""), e)
        for code in list(reasons or []) or [NO_REASON]:
            e = by_code.get(code, {})
            severity = str(e.get("severity") or ("review" if code != NO_REASON else NO_REASON))
            row = table.setdefault((code, severity), ConfusionRow(code, severity))
            row.n += 1
            row.passed += decision == "pass"
            row.failed += decision == "fail"
            row.recapture += decision == "recapture"
            value = e.get("value")
            if isinstance(value, int | float):
                row.measure, row.threshold = e.get("measure"), e.get("threshold")
                (row.values_pass if decision == "pass" else row.values_fail).append(float(value))
    return sorted(table.values(), key=lambda r: (-r.n, r.reason))


def disagreements(conn: Connection) -> dict[str, int]:
    """Second opinions: how many fails a second reviewer confirmed, and how many were disputed."""
    d = REVIEW_DECISION.c
    firsts = select(d.item_id).where(d.final.is_(False), d.decision == "fail").distinct().subquery()
    row = conn.execute(
        select(
            func.count(),
            func.count().filter(item_state_is(ItemState.DISPUTED)),
            func.sum(case((REVIEW_ITEM.c.decision == "fail", 1), else_=0)),
        ).select_from(firsts.join(REVIEW_ITEM, REVIEW_ITEM.c.id == firsts.c.item_id))
    ).one()
    return {"second_opinions": int(row[0]), "disputed_now": int(row[1]), "confirmed_fail": int(row[2] or 0)}


def item_state_is(state: ItemState) -> Any:
    return REVIEW_ITEM.c.state == state.value
