"""The send window: inside it a notice goes at once, outside it waits for the next opening."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.window import SendWindow

SH = ZoneInfo("Asia/Shanghai")
WINDOW = SendWindow()


@pytest.mark.parametrize(
    ("local", "expected_local"),
    [
        (dt.datetime(2026, 12, 1, 7, 59), dt.datetime(2026, 12, 1, 8, 0)),
        (dt.datetime(2026, 12, 1, 8, 0), dt.datetime(2026, 12, 1, 8, 0)),
        (dt.datetime(2026, 12, 1, 20, 59, 59), dt.datetime(2026, 12, 1, 20, 59, 59)),
        (dt.datetime(2026, 12, 1, 21, 0), dt.datetime(2026, 12, 2, 8, 0)),
        (dt.datetime(2026, 12, 1, 23, 30), dt.datetime(2026, 12, 2, 8, 0)),
        (dt.datetime(2026, 12, 31, 22, 0), dt.datetime(2027, 1, 1, 8, 0)),
    ],
)
def test_times_outside_the_window_wait_for_the_next_opening(local: dt.datetime, expected_local: dt.datetime) -> None:
    got = WINDOW.next_send_time(local.replace(tzinfo=SH))
    assert got.tzinfo is dt.UTC
    assert got == expected_local.replace(tzinfo=SH)


def test_the_window_is_read_in_its_own_zone() -> None:
    # 23:00 UTC is 07:00 the next morning in Shanghai: not yet open.
    at = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)
    assert not WINDOW.contains(at)
    assert WINDOW.next_send_time(at) == dt.datetime(2026, 12, 2, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai


def test_bad_windows_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="open before"):
        SendWindow(dt.time(21, 0), dt.time(8, 0))
    with pytest.raises(Exception, match="Mars"):
        SendWindow(zone="Mars/Olympus")
    with pytest.raises(ValueError, match="time zone"):
        WINDOW.next_send_time(dt.datetime(2026, 12, 1, 9, 0))


@given(st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(dt.UTC)))
def test_the_send_time_is_in_the_window_not_early_and_the_first_possible(at: dt.datetime) -> None:
    sent = WINDOW.next_send_time(at)
    assert WINDOW.contains(sent)
    assert sent >= at
    if sent > at:
        # Nothing between ``at`` and ``sent`` was inside the window: a minute before it was still closed.
        assert not WINDOW.contains(sent - dt.timedelta(minutes=1)) or sent - dt.timedelta(minutes=1) < at
