"""A reviewer's decision on an item, and what it does to the subscriber's case.

- ``pass``: the item is decided; an open case that a review decision opened is resolved (its pending
  notices cancelled). A case a failing finding opened is left to the rescans: a person passing the
  photos in the review band does not answer a failing measurement.
- ``fail`` with a reason code: a case is opened with that reason (its notices say it in words), or the
  subscriber's open case keeps going with the reason added.
- ``recapture``: the same with the reason ``PHOTO_RECAPTURE``; a new case's first notice asks for new
  photos (``notices.planner``).

With ``second_opinion_for_fail`` a reviewer's fail waits for a second reviewer (``notices.review.settle``).
Only the reviewer holding the item with a live lease, or an officer, may decide it; the decision row
keeps what the reviewer was shown, and one audit row records who decided what, when.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, Row

from notices.cases import CaseEvent, opened, opening_record
from notices.review import RECAPTURE_REASON, Decision, ItemState, ReviewRules, fail_reasons, settle
from scanner.audit.log import record
from scanner.enforce.cases import active_case, append_histories, apply_event, cancel_pending
from scanner.review.errors import NotFound, NotYours, ReviewError
from scanner.tables import CASE, REVIEW_DECISION, REVIEW_ITEM, REVIEWER

_DECIDABLE = (ItemState.PENDING.value, ItemState.SECOND.value, ItemState.DISPUTED.value)


@dataclass(frozen=True)
class DecisionResult:
    item_id: int
    state: str
    final: bool
    case_id: int | None
    case_event: str | None  # open | keep | resolve, or None


def _item(conn: Connection, item_id: int) -> Row[Any]:
    query = select(REVIEW_ITEM).where(REVIEW_ITEM.c.id == item_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"review item {item_id}: no such item")
    return row


def _may_decide(item: Row[Any], reviewer: Row[Any], now: dt.datetime) -> None:
    if item.state not in _DECIDABLE:
        raise ReviewError(f"review item {item.id}: already {item.state}")
    if reviewer.role == "officer":
        return
    if item.state == ItemState.DISPUTED.value:
        raise NotYours(f"review item {item.id}: the reviewers disagreed; an officer decides it")
    if item.assignee_id != reviewer.id:
        raise NotYours(f"review item {item.id}: assigned to another reviewer")
    if item.lease_expires_at is None or item.lease_expires_at <= now:
        raise NotYours(f"review item {item.id}: your assignment expired; open the next item again")


def decide(
    engine: Engine,
    rules: ReviewRules,
    *,
    item_id: int,
    reviewer_id: int,
    decision: Decision,
    reason: str | None,
    note: str = "",
    now: dt.datetime,
    shown: dict[str, Any] | None = None,
) -> DecisionResult:
    if decision is Decision.FAIL and reason not in fail_reasons():
        raise ReviewError(f"review item {item_id}: a fail needs a known reason code, not {reason!r}")
    with engine.begin() as conn:
        item = _item(conn, item_id)
        reviewer = conn.execute(select(REVIEWER).where(REVIEWER.c.id == reviewer_id)).first()
        if reviewer is None or not reviewer.active:
            raise NotFound(f"reviewer {reviewer_id}: not registered or not active")
        _may_decide(item, reviewer, now)
        officer = reviewer.role == "officer"
        if item.state == ItemState.SECOND.value and item.first_reviewer_id == reviewer.id and not officer:
            raise NotYours(f"review item {item.id}: a second opinion must come from another reviewer")
        outcome = settle(
            ItemState(item.state),
            decision,
            reason,
            rules=rules,
            officer=officer,
            first_reason=item.first_reason,
        )
        actor = f"review:{reviewer.login}"
        shown = shown or {}
        conn.execute(
            insert(REVIEW_DECISION).values(
                item_id=item.id,
                reviewer_id=reviewer.id,
                decision=decision.value,
                reason=reason if decision is Decision.FAIL else None,
                note=note.strip()[:2000],
                at=now,
                final=outcome.final,
                shown=shown,
            )
        )
        values: dict[str, Any] = {"state": outcome.state.value, "assignee_id": None, "lease_expires_at": None}
        if outcome.state is ItemState.SECOND:
            values.update(first_reviewer_id=reviewer.id, first_reason=reason)
        case_id, case_event = None, None
        if outcome.final and outcome.decision is not None:
            case_id, case_event = _apply_to_case(conn, item, outcome.decision, outcome.reason, actor, now)
            values.update(
                decision=outcome.decision.value,
                decision_reason=outcome.reason,
                decided_by=reviewer.login,
                decided_at=now,
                active_subscriber_id=None,
                case_id=case_id,
            )
        conn.execute(update(REVIEW_ITEM).where(REVIEW_ITEM.c.id == item.id).values(updated_at=now, **values))
        record(
            conn,
            now,
            actor,
            "review.decide",
            f"review item {item.id}",
            subscriber_id=item.subscriber_id,
            item=item.id,
            decision=decision.value,
            reason=reason if decision is Decision.FAIL else None,
            state=outcome.state.value,
            final=outcome.final,
            case=case_id,
            case_event=case_event,
            sha256=hashlib.sha256(orjson.dumps(shown, option=orjson.OPT_SORT_KEYS)).hexdigest(),
            shown={"photos": shown.get("photos", {})},
        )
    return DecisionResult(item.id, outcome.state.value, outcome.final, case_id, case_event)


def _apply_to_case(
    conn: Connection, item: Row[Any], decision: Decision, reason: str | None, actor: str, now: dt.datetime
) -> tuple[int | None, str | None]:
    case = active_case(conn, item.subscriber_id, lock=True)
    if decision is Decision.PASS:
        if case is None or case.opened_by_review_id is None:
            return (case.id if case is not None else None), None
        apply_event(
            conn, case, CaseEvent.RESOLVE, now=now, actor=actor, why=f"review item {item.id}: the photos pass review"
        )
        cancel_pending(conn, case.id, now, "the case was resolved by a review", actor)
        return case.id, "resolve"
    code = reason or RECAPTURE_REASON
    if case is not None:
        reasons = list(dict.fromkeys([*(case.reasons or []), code]))
        if reasons != list(case.reasons or []):
            conn.execute(update(CASE).where(CASE.c.id == case.id).values(reasons=reasons, updated_at=now))
            record(
                conn,
                now,
                actor,
                "case.reasons",
                f"case {case.id}",
                subscriber_id=item.subscriber_id,
                case=case.id,
                item=item.id,
                reasons=reasons,
            )
        return case.id, "keep"
    case_id = int(
        conn.execute(
            insert(CASE)
            .values(
                subscriber_id=item.subscriber_id,
                active_subscriber_id=item.subscriber_id,
                state=opened().state.value,
                stage=0,
                reasons=[code],
                opened_at=now,
                opened_by_review_id=item.id,
                updated_at=now,
            )
            .returning(CASE.c.id)
        ).scalar_one()
    )
    verb = "asks for new photos" if decision is Decision.RECAPTURE else f"fails the photos: {code}"
    append_histories(
        conn,
        {
            case_id: [
                opening_record(at=now, actor=actor, why=f"review item {item.id}: the reviewer {verb}", finding_id=None)
            ]
        },
    )
    return case_id, "open"
