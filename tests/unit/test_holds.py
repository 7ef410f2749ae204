"""Holds: scopes, regions by prefix, lifting, and overlapping holds."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.holds import Hold, HoldScope, holding

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def hold(scope: str, start: int, end: int, lifted: int | None = None) -> Hold:
    return Hold(
        HoldScope.parse(scope), "lockdown", T0 + start * DAY, T0 + end * DAY, T0 + lifted * DAY if lifted else None
    )


@pytest.mark.parametrize(
    ("scope", "account", "region", "segment", "covered"),
    [
        ("all", "A1", "110105", "consumer", True),
        ("region:420100", "A1", "420102", "consumer", True),  # a Wuhan district
        ("region:420100", "A1", "420202", "consumer", False),  # Huangshi
        ("region:420000", "A1", "420202", "consumer", True),  # all of Hubei
        ("region:420102", "A1", "420102", "consumer", True),
        ("region:420102", "A1", "420103", "consumer", False),
        ("region:420100", "A1", None, "consumer", False),  # no readable region: not covered by a region hold
        ("segment:enterprise", "A1", "110105", "enterprise", True),
        ("segment:enterprise", "A1", "110105", "consumer", False),
        ("account:A7", "A7", "110105", "consumer", True),
        ("account:A7", "A1", "110105", "consumer", False),
    ],
)
def test_scopes_cover_whom_they_name(scope: str, account: str, region: str | None, segment: str, covered: bool) -> None:
    assert HoldScope.parse(scope).covers(account, region, segment) is covered


@pytest.mark.parametrize("bad", ["", "everyone", "region:4201", "region:abcdef", "segment:", "city:wuhan", "account"])
def test_bad_scopes_are_refused_with_the_forms_that_work(bad: str) -> None:
    with pytest.raises(ValueError, match="hold scope"):
        HoldScope.parse(bad)


def test_scopes_print_as_they_are_written() -> None:
    assert [str(HoldScope.parse(s)) for s in ("all", "region:420100", "account:A 1")] == [
        "all",
        "region:420100",
        "account:A 1",
    ]


def test_a_hold_needs_a_reason_and_a_positive_length() -> None:
    with pytest.raises(ValueError, match="reason"):
        Hold(HoldScope("all"), " ", T0, T0 + DAY)
    with pytest.raises(ValueError, match="end after"):
        Hold(HoldScope("all"), "x", T0, T0)


def test_a_lifted_hold_ends_when_it_is_lifted() -> None:
    h = hold("all", 0, 10, lifted=3)
    assert h.ends_at == T0 + 3 * DAY
    assert h.active(T0 + 2 * DAY) and not h.active(T0 + 3 * DAY)


def test_overlapping_and_following_holds_freeze_until_the_last_one_ends() -> None:
    holds = [hold("region:420100", 0, 5), hold("all", 4, 8), hold("account:A1", 8, 9), hold("account:B2", 0, 30)]
    assert holding(holds, T0 + DAY, "A1", "420102", "consumer") == T0 + 9 * DAY
    assert holding(holds, T0 + DAY, "C3", "110105", "consumer") is None  # only "all", from day 4
    assert holding(holds, T0 + 5 * DAY, "C3", "110105", "consumer") == T0 + 8 * DAY
    assert holding(holds, T0 + 10 * DAY, "A1", "420102", "consumer") is None


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 10)), max_size=6), st.integers(0, 30))
def test_the_freeze_end_is_covered_up_to_it_and_free_at_it(spans: list[tuple[int, int]], at_day: int) -> None:
    holds = [hold("all", start, start + length) for start, length in spans]
    at = T0 + at_day * DAY
    end = holding(holds, at, "A1", "110105", "consumer")
    if end is None:
        assert not any(h.active(at) for h in holds)
    else:
        assert end > at and not any(h.active(end) for h in holds)
        assert all(any(h.active(at + k * DAY) for h in holds) for k in range((end - at).days))
