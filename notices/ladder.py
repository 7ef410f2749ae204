"""The notice ladder: the stages a case climbs before it can be eligible for suspension.

Each stage has a delay, counted from the delivery of the stage before it (the
first stage's from the case's opening), the channels it uses and a template.
A stage starts only when the one before it was delivered and its delay has
passed; the grace period starts when the last stage was delivered. A ladder
must contain at least one stage on a channel other than SMS: a case is never
eligible on text messages alone.

Subscribers aged ``assisted_min_age`` or more and those in the assisted
segments (enterprise accounts by default) also get an assisted-channel task at
the first stage (an agent's or account manager's call).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notices.channels import Channel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Stage(_Strict):
    delay_days: int = Field(ge=0, le=365)
    channels: tuple[Channel, ...] = Field(min_length=1)
    template: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _distinct_channels(self) -> Stage:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"stage {self.template}: a channel is listed twice")
        return self


class Ladder(_Strict):
    stages: tuple[Stage, ...] = Field(min_length=1, max_length=12)
    grace_days: int = Field(ge=0, le=365)
    assisted_min_age: int = Field(default=70, ge=0, le=150)
    assisted_segments: tuple[str, ...] = ("enterprise",)
    assisted_channel: Channel = Channel.CALL

    @model_validator(mode="after")
    def _not_sms_alone(self) -> Ladder:
        if all(set(stage.channels) == {Channel.SMS} for stage in self.stages):
            raise ValueError("the ladder needs at least one stage on a channel other than sms")
        return self

    def channels_for(self, stage_no: int, age: int | None, segment: str) -> tuple[Channel, ...]:
        """The channels of stage ``stage_no`` (1-based) for a subscriber of this age and segment."""
        stage = self.stages[stage_no - 1]
        assisted = (age is not None and age >= self.assisted_min_age) or segment in self.assisted_segments
        if stage_no == 1 and assisted and self.assisted_channel not in stage.channels:
            return (*stage.channels, self.assisted_channel)
        return stage.channels

    def stage_due(self, stage_no: int, previous_delivered_at: dt.datetime) -> dt.datetime:
        """When stage ``stage_no`` may start: its delay after the stage before it was
        delivered (for the first stage, after the case was opened)."""
        return previous_delivered_at + dt.timedelta(days=self.stages[stage_no - 1].delay_days)

    def grace_ends(self, last_delivered_at: dt.datetime) -> dt.datetime:
        return last_delivered_at + dt.timedelta(days=self.grace_days)


DEFAULT_LADDER = Ladder(
    stages=(
        Stage(delay_days=0, channels=(Channel.SMS,), template="first_notice"),
        Stage(delay_days=7, channels=(Channel.SMS,), template="reminder"),
        Stage(delay_days=7, channels=(Channel.CALL, Channel.SMS), template="final_notice"),
    ),
    grace_days=7,
)
