"""The case state machine: one enum of states, one table of transitions.

A case is opened for a subscriber by a failing finding of an enforcing run (or a
reviewer's fail or request for new photos, ``notices.review``) and
ends resolved (a passing finding or a successful re-verification) or exempted
(an officer's decision). Between the two it climbs the notice ladder; it can
only become eligible for suspension from ``AWAITING_GRACE``, which it reaches
only when the ladder reports every stage delivered. Suspension needs an
officer's approval and then the BSS's confirmation: nothing here suspends.

Pure: no clock, no database. Every applied event returns the new status and an
append-only record of the change (who or what, when, why, and the finding or
receipt it came from); an event the table does not allow raises
``IllegalTransition`` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum


class CaseState(StrEnum):
    OPEN = "open"  # a failing finding or a reviewer's decision opened it; no notice yet
    NOTIFYING = "notifying"  # a stage of the ladder is under way (``stage`` says which)
    AWAITING_GRACE = "awaiting_grace"  # every stage delivered; the grace period runs
    ELIGIBLE = "eligible"  # ladder delivered, grace passed, no hold: an officer may approve
    APPROVED = "approved"  # an officer approved suspension; the BSS has not confirmed it
    SUSPENDED = "suspended"  # the BSS confirmed the suspension
    RESOLVED = "resolved"  # a passing finding or a re-verification ended it
    EXEMPTED = "exempted"  # an officer exempted the subscriber
    ON_HOLD = "on_hold"  # a hold freezes its notices and its eligibility


class CaseEvent(StrEnum):
    OPEN = "open"  # a failing finding or a reviewer's decision opened it (the first history line; not in the table)
    START_LADDER = "start_ladder"  # the first stage's notices are queued
    NEXT_STAGE = "next_stage"  # the previous stage was delivered and its delay passed
    LADDER_DELIVERED = "ladder_delivered"  # the last stage was delivered
    GRACE_PASSED = "grace_passed"  # the grace period ended with no hold and a non-SMS stage done
    APPROVE = "approve"  # an officer approves suspension
    CONFIRM_SUSPENDED = "confirm_suspended"  # the BSS reports the line suspended
    RESOLVE = "resolve"  # a passing finding or a successful re-verification
    EXEMPT = "exempt"  # an officer exempts the subscriber
    HOLD = "hold"  # a hold now covers the case
    RELEASE = "release"  # the last hold covering the case ended


TERMINAL = frozenset({CaseState.RESOLVED, CaseState.EXEMPTED})
# States a hold can freeze, and the states a case can be resolved or exempted from.
_HOLDABLE = (CaseState.OPEN, CaseState.NOTIFYING, CaseState.AWAITING_GRACE, CaseState.ELIGIBLE, CaseState.APPROVED)
_OPEN_ENDED = (*_HOLDABLE, CaseState.ON_HOLD)

# (state, event) -> next state. RELEASE is not here: where a case goes when its
# hold ends depends on where it was (``release_to``).
TRANSITIONS: dict[tuple[CaseState, CaseEvent], CaseState] = {
    (CaseState.OPEN, CaseEvent.START_LADDER): CaseState.NOTIFYING,
    (CaseState.NOTIFYING, CaseEvent.NEXT_STAGE): CaseState.NOTIFYING,
    (CaseState.NOTIFYING, CaseEvent.LADDER_DELIVERED): CaseState.AWAITING_GRACE,
    (CaseState.AWAITING_GRACE, CaseEvent.GRACE_PASSED): CaseState.ELIGIBLE,
    (CaseState.ELIGIBLE, CaseEvent.APPROVE): CaseState.APPROVED,
    (CaseState.APPROVED, CaseEvent.CONFIRM_SUSPENDED): CaseState.SUSPENDED,
    **{(state, CaseEvent.HOLD): CaseState.ON_HOLD for state in _HOLDABLE},
    **{(state, CaseEvent.RESOLVE): CaseState.RESOLVED for state in (*_OPEN_ENDED, CaseState.SUSPENDED)},
    **{(state, CaseEvent.EXEMPT): CaseState.EXEMPTED for state in _OPEN_ENDED},
}


def release_to(held_from: CaseState) -> CaseState:
    """Where a case goes when its hold ends. A case that was eligible or approved
    goes back to its grace period (recomputed from the end of the hold), so an
    approval given before the hold must be given again after it."""
    if held_from in (CaseState.ELIGIBLE, CaseState.APPROVED):
        return CaseState.AWAITING_GRACE
    return held_from


class IllegalTransition(ValueError):
    """An event the transitions table does not allow in the case's state."""


@dataclass(frozen=True)
class CaseStatus:
    state: CaseState
    stage: int = 0  # the ladder stage under way or last delivered (1-based; 0 before the first)
    held_from: CaseState | None = None  # the state a hold froze, while ON_HOLD


@dataclass(frozen=True)
class TransitionRecord:
    """One line of a case's append-only history."""

    from_state: CaseState
    to_state: CaseState
    event: CaseEvent
    at: dt.datetime
    actor: str  # "cases advance", "officer:Wang Li", "bss", "remediate", ...
    why: str
    stage: int
    finding_id: int | None = None
    receipt_id: str | None = None
    hold_id: int | None = None  # the hold that put the case on hold (the first, when several cover it)


def opened() -> CaseStatus:
    return CaseStatus(CaseState.OPEN)


def opening_record(*, at: dt.datetime, actor: str, why: str, finding_id: int | None) -> TransitionRecord:
    """The first line of a case's history."""
    if at.tzinfo is None:
        raise ValueError("transition times must carry a time zone")
    return TransitionRecord(CaseState.OPEN, CaseState.OPEN, CaseEvent.OPEN, at, actor, why, 0, finding_id)


def apply(
    status: CaseStatus,
    event: CaseEvent,
    *,
    at: dt.datetime,
    actor: str,
    why: str,
    finding_id: int | None = None,
    receipt_id: str | None = None,
    hold_id: int | None = None,
) -> tuple[CaseStatus, TransitionRecord]:
    """The status after ``event`` and the record of the change; raises ``IllegalTransition``."""
    if at.tzinfo is None:
        raise ValueError("transition times must carry a time zone")
    if not actor.strip() or not why.strip():
        raise ValueError("a transition needs who or what made it and why")
    state = status.state
    if event is CaseEvent.RELEASE:
        if state is not CaseState.ON_HOLD or status.held_from is None:
            raise IllegalTransition(f"{event.value}: the case is {state.value}, not on hold")
        new = CaseStatus(release_to(status.held_from), status.stage)
    else:
        target = TRANSITIONS.get((state, event))
        if target is None:
            raise IllegalTransition(f"{event.value} is not allowed when the case is {state.value}")
        if event is CaseEvent.HOLD:
            new = replace(status, state=target, held_from=state)
        elif event in (CaseEvent.START_LADDER, CaseEvent.NEXT_STAGE):
            new = CaseStatus(target, status.stage + 1)
        else:
            new = CaseStatus(target, status.stage)
    record = TransitionRecord(state, new.state, event, at, actor, why, new.stage, finding_id, receipt_id, hold_id)
    return new, record
