"""The enforcement half of a policy file: the ladder and how notices are sent.

A policy TOML file holds the checks' thresholds (``checks.policy``) and, in its
``[ladder]`` and ``[notices]`` tables, everything the enforcement side needs:
the stages, the grace period, the send window, the re-verification link, the
retry schedule of the queue and the channel to fall back to when a channel
gives up. This module validates those two tables (already parsed from TOML);
it reads no file. Errors name the key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from notices.channels import Channel
from notices.ladder import DEFAULT_LADDER, Ladder
from notices.queue import QueueRules
from notices.retry import RetryPolicy
from notices.window import SendWindow

ANY_LINK = "*"


class EnforcementError(ValueError):
    """A ``[ladder]`` or ``[notices]`` table that cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _clock(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day (HH:MM)") from None


class NoticeRules(_Strict):
    send_window: tuple[str, str] = ("08:00", "21:00")
    link: str = Field(min_length=1, max_length=200)
    signature: str = Field(default="", max_length=20)
    lease_seconds: int = Field(default=300, ge=10, le=86_400)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_first_delay_minutes: int = Field(default=5, ge=1, le=1440)
    retry_longest_delay_hours: int = Field(default=6, ge=1, le=168)
    # An undelivered notice is sent again on the same channel this many times before
    # the fallback channel is used.
    resend_undelivered: int = Field(default=2, ge=0, le=10)
    resend_after_hours: int = Field(default=24, ge=1, le=720)
    # channel -> channel to use when it gives up (dead, or undelivered after its resends).
    fallback: dict[Channel, Channel] = Field(
        default_factory=lambda: {Channel.SMS: Channel.CALL, Channel.APP: Channel.SMS, Channel.CALL: Channel.LETTER}
    )
    # The SMS gateway's links to SMSCs (their ids in the gateway) -> SMS parts per second each takes
    # (an SMSC counts every part it is handed, so a 3-part notice costs 3). "*" is the gateway's own
    # routing, when the relay names no link.
    sms_links: dict[str, float] = Field(default_factory=lambda: {ANY_LINK: 50.0})

    @field_validator("send_window")
    @classmethod
    def _window(cls, value: tuple[str, str]) -> tuple[str, str]:
        opens, closes = _clock(value[0]), _clock(value[1])
        if not opens < closes:
            raise ValueError(f"the send window must open before it closes ({value[0]} - {value[1]})")
        return value

    @field_validator("sms_links")
    @classmethod
    def _links(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError('name at least one link ("*" for the gateway\'s own routing)')
        for name, rate in value.items():
            if not name.strip() or len(name) > 64:
                raise ValueError(f"link name {name!r} must be 1 to 64 characters")
            if not 0 < rate <= 10_000:
                raise ValueError(f"link {name}: {rate} parts per second is not in (0, 10000]")
        if ANY_LINK in value and len(value) > 1:
            raise ValueError('"*" (the gateway\'s own routing) cannot be combined with named links')
        return value

    @model_validator(mode="after")
    def _no_fallback_loop(self) -> NoticeRules:
        for start in self.fallback:
            seen, channel = {start}, self.fallback.get(start)
            while channel is not None:
                if channel in seen:
                    raise ValueError(f"fallback from {start.value} comes back to {channel.value}")
                seen.add(channel)
                channel = self.fallback.get(channel)
        return self


@dataclass(frozen=True)
class Enforcement(QueueRules):
    """Everything the enforcement side takes from a policy: the queue's rules (send window, retry
    schedule, lease) and the ladder, the notices' link and signature, resends and fallbacks."""

    ladder: Ladder
    link: str
    signature: str
    resend_undelivered: int
    resend_after: dt.timedelta
    fallback: Mapping[Channel, Channel]
    sms_links: Mapping[str, float]

    def fallback_for(self, channel: Channel) -> Channel | None:
        return self.fallback.get(channel)


def parse_enforcement(
    ladder: Mapping[str, Any] | None, notices: Mapping[str, Any] | None, timezone: str = "Asia/Shanghai"
) -> Enforcement:
    """Validate the ``[ladder]`` and ``[notices]`` tables. Without a ``[ladder]`` the default ladder
    applies (day 0 SMS, day 7 SMS, day 14 call and SMS, 7 days of grace); ``[notices]`` must at least
    give the operator's re-verification ``link``, which every notice carries: there is no default."""
    try:
        parsed_ladder = DEFAULT_LADDER if ladder is None else Ladder.model_validate(_tuples(ladder))
    except ValidationError as exc:
        raise EnforcementError(_explain("ladder", exc)) from None
    try:
        rules = NoticeRules.model_validate(_tuples(notices or {}))
    except ValidationError as exc:
        raise EnforcementError(_explain("notices", exc)) from None
    try:
        window = SendWindow(_clock(rules.send_window[0]), _clock(rules.send_window[1]), timezone)
    except Exception as exc:
        raise EnforcementError(f"notices.send_window: {exc}") from None
    return Enforcement(
        ladder=parsed_ladder,
        window=window,
        retry=RetryPolicy(
            max_attempts=rules.max_attempts,
            first_delay=dt.timedelta(minutes=rules.retry_first_delay_minutes),
            longest_delay=dt.timedelta(hours=rules.retry_longest_delay_hours),
        ),
        link=rules.link,
        signature=rules.signature,
        lease_seconds=rules.lease_seconds,
        resend_undelivered=rules.resend_undelivered,
        resend_after=dt.timedelta(hours=rules.resend_after_hours),
        fallback=dict(rules.fallback),
        sms_links=dict(rules.sms_links),
    )


def _tuples(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _explain(table: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in (table, *err["loc"]))
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key")
        else:
            lines.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(lines)
