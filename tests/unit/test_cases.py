"""The case state machine: the table, holds, and properties over random event sequences."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notices.cases import (
    TERMINAL,
    TRANSITIONS,
    CaseEvent,
    CaseState,
    CaseStatus,
    IllegalTransition,
    TransitionRecord,
    apply,
    opened,
)

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
E = CaseEvent
S = CaseState


def run(events: list[CaseEvent], status: CaseStatus | None = None) -> tuple[CaseStatus, list[TransitionRecord]]:
    status = status or opened()
    history = []
    for i, event in enumerate(events):
        status, record = apply(status, event, at=T0 + dt.timedelta(days=i), actor="test", why=f"step {i}")
        history.append(record)
    return status, history


def test_the_whole_ladder_to_a_confirmed_suspension_is_recorded_step_by_step() -> None:
    events = [
        E.START_LADDER,
        E.NEXT_STAGE,
        E.NEXT_STAGE,
        E.LADDER_DELIVERED,
        E.GRACE_PASSED,
        E.APPROVE,
        E.CONFIRM_SUSPENDED,
    ]
    status, history = run(events)
    assert status == CaseStatus(S.SUSPENDED, stage=3)
    assert [r.to_state for r in history] == [
        S.NOTIFYING,
        S.NOTIFYING,
        S.NOTIFYING,
        S.AWAITING_GRACE,
        S.ELIGIBLE,
        S.APPROVED,
        S.SUSPENDED,
    ]
    assert [r.stage for r in history[:3]] == [1, 2, 3]
    assert all(a.to_state == b.from_state for a, b in itertools.pairwise(history))
    assert [r.at for r in history] == sorted(r.at for r in history)


@pytest.mark.parametrize(
    ("events", "bad"),
    [
        ([], E.APPROVE),  # no approval before the ladder
        ([], E.LADDER_DELIVERED),
        ([E.START_LADDER], E.GRACE_PASSED),  # grace only after every stage was delivered
        ([E.START_LADDER], E.APPROVE),
        ([E.START_LADDER, E.LADDER_DELIVERED], E.APPROVE),  # not eligible yet
        ([E.START_LADDER, E.LADDER_DELIVERED, E.GRACE_PASSED], E.CONFIRM_SUSPENDED),  # not approved
        ([E.START_LADDER, E.LADDER_DELIVERED, E.GRACE_PASSED, E.APPROVE, E.CONFIRM_SUSPENDED], E.EXEMPT),
        ([E.START_LADDER, E.LADDER_DELIVERED, E.GRACE_PASSED, E.APPROVE, E.CONFIRM_SUSPENDED], E.HOLD),
        ([E.RESOLVE], E.START_LADDER),  # a resolved case is over: a new failure opens a new case
        ([E.EXEMPT], E.RESOLVE),
        ([], E.RELEASE),  # not on hold
        ([E.HOLD], E.HOLD),  # overlapping holds are counted by the caller, not stacked here
    ],
)
def test_events_the_table_does_not_allow_raise(events: list[CaseEvent], bad: CaseEvent) -> None:
    status, _ = run(events)
    with pytest.raises(IllegalTransition, match=bad.value):
        apply(status, bad, at=T0, actor="test", why="x")


def test_a_transition_needs_a_time_zone_an_actor_and_a_reason() -> None:
    with pytest.raises(ValueError, match="time zone"):
        apply(opened(), E.START_LADDER, at=dt.datetime(2026, 12, 1), actor="a", why="b")
    with pytest.raises(ValueError, match="who or what"):
        apply(opened(), E.START_LADDER, at=T0, actor=" ", why="b")
    with pytest.raises(ValueError, match="who or what"):
        apply(opened(), E.START_LADDER, at=T0, actor="a", why="")


def test_a_hold_freezes_the_stage_and_release_returns_to_it() -> None:
    status, _ = run([E.START_LADDER, E.NEXT_STAGE, E.HOLD])
    assert status == CaseStatus(S.ON_HOLD, stage=2, held_from=S.NOTIFYING)
    status, history = run([E.RELEASE], status)
    assert status == CaseStatus(S.NOTIFYING, stage=2)
    assert history[0].from_state is S.ON_HOLD


@pytest.mark.parametrize("held", [S.ELIGIBLE, S.APPROVED])
def test_a_hold_on_an_eligible_or_approved_case_sends_it_back_to_grace(held: CaseState) -> None:
    to_held = [E.START_LADDER, E.LADDER_DELIVERED, E.GRACE_PASSED] + ([E.APPROVE] if held is S.APPROVED else [])
    status, _ = run([*to_held, E.HOLD])
    assert status.held_from is held
    status, _ = run([E.RELEASE], status)
    assert status.state is S.AWAITING_GRACE  # grace recomputed from the end of the hold; approve again


def test_records_carry_the_finding_or_receipt_they_came_from() -> None:
    _, record = apply(opened(), E.RESOLVE, at=T0, actor="rescan", why="passing finding", finding_id=42)
    assert (record.finding_id, record.receipt_id) == (42, None)
    status, _ = run([E.START_LADDER])
    _, record = apply(status, E.NEXT_STAGE, at=T0, actor="receipt", why="delivered", receipt_id="gw-9")
    assert record.receipt_id == "gw-9" and record.stage == 2


def test_every_state_and_event_is_either_in_the_table_or_refused() -> None:
    for state in S:
        status = CaseStatus(state, held_from=S.OPEN if state is S.ON_HOLD else None)
        for event in E:
            allowed = (state, event) in TRANSITIONS or (event is E.RELEASE and state is S.ON_HOLD)
            if allowed:
                assert apply(status, event, at=T0, actor="t", why="w")[0].state in S
            else:
                with pytest.raises(IllegalTransition):
                    apply(status, event, at=T0, actor="t", why="w")
    assert all(not any(s is state for (s, _) in TRANSITIONS) for state in TERMINAL)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(E)), max_size=40))
def test_random_event_sequences_never_skip_the_ladder(events: list[CaseEvent]) -> None:
    """Apply what the table allows of a random sequence and check the history."""
    status, history = opened(), []
    for i, event in enumerate(events):
        try:
            status, record = apply(status, event, at=T0 + dt.timedelta(hours=i), actor="t", why="w")
        except IllegalTransition:
            continue
        history.append(record)
    previous = S.OPEN
    delivered_since_grace_reset = False
    for record in history:
        assert record.from_state is previous
        previous = record.to_state
        if record.to_state is S.AWAITING_GRACE and record.event is E.LADDER_DELIVERED:
            delivered_since_grace_reset = True
        if record.to_state is S.ELIGIBLE:
            # Only from the grace period, and only ever after the whole ladder was delivered.
            assert record.from_state is S.AWAITING_GRACE and record.event is E.GRACE_PASSED
            assert delivered_since_grace_reset
        if record.to_state is S.APPROVED:
            assert record.from_state is S.ELIGIBLE
        if record.to_state is S.SUSPENDED:
            assert record.from_state is S.APPROVED
        if record.from_state in TERMINAL:
            raise AssertionError(f"a {record.from_state.value} case changed")
    assert status.state is previous
