"""The review rules: who gets an item (least-loaded, in scope, under the cap, never the first reviewer
of a second opinion, never an officer) and what a decision does to an item (second opinions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.review import (
    RECAPTURE_REASON,
    Decision,
    ItemState,
    ReviewerView,
    ReviewRuleError,
    ReviewRules,
    choose_reviewer,
    fail_reasons,
    parse_review_rules,
    settle,
)

STRICT = ReviewRules(second_opinion_for_fail=True)
PLAIN = ReviewRules()

reviewers = st.lists(
    st.builds(
        ReviewerView,
        id=st.integers(1, 30),
        login=st.just("r"),
        role=st.sampled_from(["reviewer", "reviewer", "officer"]),
        regions=st.lists(st.sampled_from(["11", "42", "4201", "31"]), max_size=2).map(tuple),
        segments=st.lists(st.sampled_from(["consumer", "enterprise"]), max_size=1).map(tuple),
        active=st.booleans(),
    ),
    max_size=8,
    unique_by=lambda r: r.id,
)


@given(
    reviewers,
    st.dictionaries(st.integers(1, 30), st.integers(0, 6)),
    st.sampled_from(["110105", "420102", "310101", None]),
    st.sampled_from(["consumer", "enterprise"]),
    st.integers(1, 5),
    st.one_of(st.none(), st.integers(1, 30)),
)
def test_the_chosen_reviewer_is_eligible_and_least_loaded(
    pool: list[ReviewerView], load: dict[int, int], region: str | None, segment: str, cap: int, first: int | None
) -> None:
    chosen = choose_reviewer(pool, load, region_code=region, segment=segment, max_load=cap, exclude=first)
    eligible = [
        r
        for r in pool
        if r.active and r.role == "reviewer" and r.id != first and load.get(r.id, 0) < cap and r.covers(region, segment)
    ]
    if not eligible:
        assert chosen is None
        return
    assert chosen in eligible
    assert load.get(chosen.id, 0) == min(load.get(r.id, 0) for r in eligible)


def test_scopes_are_region_prefixes_and_segments() -> None:
    wuhan = ReviewerView(1, "w", "reviewer", regions=("4201",), segments=("enterprise",))
    assert wuhan.covers("420102", "enterprise")
    assert not wuhan.covers("420502", "enterprise") and not wuhan.covers("420102", "consumer")
    assert not wuhan.covers(None, "enterprise")
    assert ReviewerView(2, "a", "reviewer").covers(None, "consumer")


@pytest.mark.parametrize(
    ("rules", "state", "decision", "officer", "expected"),
    [
        (PLAIN, ItemState.PENDING, Decision.FAIL, False, (ItemState.DECIDED, True, Decision.FAIL, "BLURRY")),
        (PLAIN, ItemState.PENDING, Decision.PASS, False, (ItemState.DECIDED, True, Decision.PASS, None)),
        (
            PLAIN,
            ItemState.PENDING,
            Decision.RECAPTURE,
            False,
            (ItemState.DECIDED, True, Decision.RECAPTURE, RECAPTURE_REASON),
        ),
        (STRICT, ItemState.PENDING, Decision.FAIL, False, (ItemState.SECOND, False, None, "BLURRY")),
        (STRICT, ItemState.PENDING, Decision.PASS, False, (ItemState.DECIDED, True, Decision.PASS, None)),
        (STRICT, ItemState.PENDING, Decision.FAIL, True, (ItemState.DECIDED, True, Decision.FAIL, "BLURRY")),
        (STRICT, ItemState.SECOND, Decision.FAIL, False, (ItemState.DECIDED, True, Decision.FAIL, "FACE_MISMATCH")),
        (STRICT, ItemState.SECOND, Decision.PASS, False, (ItemState.DISPUTED, False, None, None)),
        (STRICT, ItemState.SECOND, Decision.RECAPTURE, False, (ItemState.DISPUTED, False, None, None)),
        (STRICT, ItemState.DISPUTED, Decision.PASS, True, (ItemState.DECIDED, True, Decision.PASS, None)),
    ],
)
def test_settle(
    rules: ReviewRules, state: ItemState, decision: Decision, officer: bool, expected: tuple[object, ...]
) -> None:
    reason = "BLURRY" if decision is Decision.FAIL else None
    out = settle(state, decision, reason, rules=rules, officer=officer, first_reason="FACE_MISMATCH")
    assert (out.state, out.final, out.decision, out.reason) == expected


def test_a_fail_needs_a_reason_and_the_rules_table_is_checked() -> None:
    with pytest.raises(ValueError, match="reason code"):
        settle(ItemState.PENDING, Decision.FAIL, None, rules=PLAIN, officer=False)
    assert "FACE_MISMATCH" in fail_reasons() and RECAPTURE_REASON not in fail_reasons()
    assert parse_review_rules({"service_hours": 8}).service_target.total_seconds() == 8 * 3600
    with pytest.raises(ReviewRuleError, match=r"review\.lease_minute: unknown key"):
        parse_review_rules({"lease_minute": 5})
    with pytest.raises(ReviewRuleError, match=r"review\.max_per_reviewer"):
        parse_review_rules({"max_per_reviewer": 0})
