"""The queue contract: SMPP receipt stats, the 72-hour rule, dedup keys and the retry schedule."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.queue import (
    RECEIPT_TIMEOUT,
    ReceiptOutcome,
    UnknownStat,
    dedup_key,
    receipt_outcome,
    receipt_overdue,
)
from notices.retry import RetryPolicy

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("stat", "outcome"),
    [
        ("DELIVRD", ReceiptOutcome.DELIVERED),
        ("delivrd ", ReceiptOutcome.DELIVERED),
        ("UNDELIV", ReceiptOutcome.UNDELIVERED),
        ("EXPIRED", ReceiptOutcome.UNDELIVERED),
        ("DELETED", ReceiptOutcome.UNDELIVERED),
        ("REJECTD", ReceiptOutcome.UNDELIVERED),
        ("UNKNOWN", ReceiptOutcome.UNDELIVERED),
        ("ACCEPTD", ReceiptOutcome.PENDING),
        ("ENROUTE", ReceiptOutcome.PENDING),
    ],
)
def test_smpp_stats_map_to_delivered_undelivered_or_still_pending(stat: str, outcome: ReceiptOutcome) -> None:
    assert receipt_outcome(stat) is outcome


def test_an_unknown_stat_is_refused_by_name() -> None:
    with pytest.raises(UnknownStat, match="'SENT'"):
        receipt_outcome("SENT")


def test_no_final_receipt_within_72_hours_counts_as_undelivered() -> None:
    assert not receipt_overdue(NOW, NOW + dt.timedelta(hours=71, minutes=59))
    assert receipt_overdue(NOW, NOW + RECEIPT_TIMEOUT)


def test_dedup_keys_differ_by_case_stage_attempt_and_channel() -> None:
    keys = {dedup_key(c, s, a, ch) for c in (1, 2) for s in (1, 2) for a in (1, 2) for ch in ("sms", "call")}
    assert len(keys) == 16
    assert dedup_key(7, 2, 1, "sms") == dedup_key(7, 2, 1, "sms")


def test_retries_back_off_doubling_to_a_cap_then_the_notice_is_dead() -> None:
    policy = RetryPolicy(max_attempts=6, first_delay=dt.timedelta(minutes=5), longest_delay=dt.timedelta(minutes=30))
    delays = [policy.after_failure(n, NOW, permanent=False) for n in range(1, 7)]
    assert [(d - NOW).total_seconds() / 60 if d else None for d in delays] == [5, 10, 20, 30, 30, None]
    assert policy.after_failure(1, NOW, permanent=True) is None


def test_a_retry_policy_must_make_sense() -> None:
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(first_delay=dt.timedelta(hours=2), longest_delay=dt.timedelta(hours=1))


@given(st.integers(1, 40))
def test_the_next_attempt_is_never_sooner_than_the_last_one_and_never_past_the_cap(attempts: int) -> None:
    policy = RetryPolicy(max_attempts=50)
    this = policy.after_failure(attempts, NOW, permanent=False)
    after = policy.after_failure(attempts + 1, NOW, permanent=False)
    assert this is not None and after is not None
    assert NOW < this <= after <= NOW + policy.longest_delay
