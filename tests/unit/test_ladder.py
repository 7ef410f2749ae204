"""The notice ladder: the default stages, validation, assisted channels and due times."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from notices.channels import Channel
from notices.ladder import DEFAULT_LADDER, Ladder, Stage

OPENED = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


def test_the_default_is_day_0_sms_day_7_sms_day_14_call_and_sms_then_7_days_of_grace() -> None:
    ladder = DEFAULT_LADDER
    assert [s.channels for s in ladder.stages] == [(Channel.SMS,), (Channel.SMS,), (Channel.CALL, Channel.SMS)]
    # Delivered at once at every stage, the ladder takes 14 days and the grace 7 more.
    first = ladder.stage_due(1, OPENED)
    second = ladder.stage_due(2, first)
    third = ladder.stage_due(3, second)
    assert [(t - OPENED).days for t in (first, second, third)] == [0, 7, 14]
    assert (ladder.grace_ends(third) - OPENED).days == 21


def test_a_late_delivery_moves_every_later_stage() -> None:
    first_delivered = OPENED + dt.timedelta(days=3)  # undelivered for three days, retried
    assert (DEFAULT_LADDER.stage_due(2, first_delivered) - OPENED).days == 10


@pytest.mark.parametrize(
    ("age", "segment", "expected"),
    [
        (35, "consumer", (Channel.SMS,)),
        (69, "consumer", (Channel.SMS,)),
        (70, "consumer", (Channel.SMS, Channel.CALL)),
        (None, "enterprise", (Channel.SMS, Channel.CALL)),
        (None, "consumer", (Channel.SMS,)),  # no birth date readable: by segment only
    ],
)
def test_the_elderly_and_enterprise_accounts_get_an_assisted_call_at_the_first_stage(
    age: int | None, segment: str, expected: tuple[Channel, ...]
) -> None:
    assert DEFAULT_LADDER.channels_for(1, age, segment) == expected
    assert DEFAULT_LADDER.channels_for(2, age, segment) == (Channel.SMS,)


def test_a_ladder_of_text_messages_alone_is_refused() -> None:
    with pytest.raises(ValidationError, match="other than sms"):
        Ladder(stages=(Stage(delay_days=0, channels=(Channel.SMS,), template="a"),), grace_days=7)


@pytest.mark.parametrize(
    "bad",
    [
        {"stages": (), "grace_days": 7},
        {"stages": ({"delay_days": -1, "channels": ("call",), "template": "a"},), "grace_days": 7},
        {"stages": ({"delay_days": 0, "channels": (), "template": "a"},), "grace_days": 7},
        {"stages": ({"delay_days": 0, "channels": ("fax",), "template": "a"},), "grace_days": 7},
        {"stages": ({"delay_days": 0, "channels": ("call", "call"), "template": "a"},), "grace_days": 7},
        {"stages": ({"delay_days": 0, "channels": ("call",), "template": "a"},), "grace_days": -2},
        {"stages": ({"delay_days": 0, "channels": ("call",), "template": "a"},), "grace_days": 7, "extra": 1},
    ],
)
def test_malformed_ladders_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Ladder.model_validate(bad)
