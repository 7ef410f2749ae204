"""Human review: the states of a review item, the decisions a reviewer can give, the policy's
``[review]`` table, and the two pure choices the queue makes: which reviewer gets an item, and what a
decision does to it (a fail may need a second reviewer to agree).

Pure: no clock, no database. The queue on the database is ``scanner.review``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from notices.reasons import REASONS


class ItemState(StrEnum):
    """Where an item stands. Whether someone holds it is separate: an assignee with a lease that has not
    expired (an expired lease puts the item back in the queue as it stands)."""

    PENDING = "pending"  # waiting for a first decision
    SECOND = "second"  # a first reviewer failed it; a second, different reviewer must agree
    DISPUTED = "disputed"  # the two reviewers disagreed: an officer decides
    DECIDED = "decided"  # final
    WITHDRAWN = "withdrawn"  # a newer enforcing run no longer sends the subscriber to review


OPEN_ITEM_STATES = (ItemState.PENDING, ItemState.SECOND, ItemState.DISPUTED)


class Decision(StrEnum):
    PASS = "pass"  # the photos are acceptable: the item closes, a case a review opened is resolved
    FAIL = "fail"  # not acceptable, for a reason code: a case is opened (or kept) with that reason
    RECAPTURE = "recapture"  # ask the subscriber for new photos: the ladder starts with a recapture text


RECAPTURE_REASON = "PHOTO_RECAPTURE"


class ReviewRuleError(ValueError):
    """A ``[review]`` table that cannot be used; the message names the key."""


class ReviewRules(BaseModel):
    """The policy's ``[review]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    service_hours: float = Field(default=24.0, gt=0, le=24 * 30)  # an item older than this is overdue
    lease_minutes: int = Field(default=30, ge=1, le=24 * 60)  # how long an assignment holds
    max_per_reviewer: int = Field(default=20, ge=1, le=10_000)  # items one reviewer holds at once
    second_opinion_for_fail: bool = False  # a fail needs a second reviewer to agree

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.lease_minutes)

    @property
    def service_target(self) -> dt.timedelta:
        return dt.timedelta(hours=self.service_hours)


def parse_review_rules(table: Mapping[str, Any] | None) -> ReviewRules:
    try:
        return ReviewRules.model_validate(dict(table or {}))
    except ValidationError as exc:
        where = "; ".join(
            f"review.{'.'.join(str(p) for p in err['loc'])}: "
            + ("unknown key" if err["type"] == "extra_forbidden" else str(err["msg"]))
            for err in exc.errors()
        )
        raise ReviewRuleError(where) from None


def fail_reasons() -> list[str]:
    """The reason codes a reviewer may give a fail: every reason the notices can put into words."""
    return sorted(code for code in REASONS if code != RECAPTURE_REASON)


@dataclass(frozen=True)
class ReviewerView:
    id: int
    login: str
    role: str
    regions: tuple[str, ...] = ()  # ID region code prefixes; empty: every region
    segments: tuple[str, ...] = ()  # empty: every segment
    active: bool = True

    def covers(self, region_code: str | None, segment: str) -> bool:
        if self.regions and not any((region_code or "").startswith(prefix) for prefix in self.regions):
            return False
        return not self.segments or segment in self.segments


def choose_reviewer(
    reviewers: Sequence[ReviewerView],
    load: Mapping[int, int],
    *,
    region_code: str | None,
    segment: str,
    max_load: int,
    exclude: int | None = None,
) -> ReviewerView | None:
    """The least-loaded active reviewer whose scope covers the subscriber and who holds fewer than
    ``max_load`` items; ties go to the lower id. ``exclude``: the first reviewer, for a second
    opinion. Officers are not assigned work automatically (they take disputed items)."""
    eligible = [
        r
        for r in reviewers
        if r.active
        and r.role == "reviewer"
        and r.id != exclude
        and load.get(r.id, 0) < max_load
        and r.covers(region_code, segment)
    ]
    if not eligible:
        return None
    return min(eligible, key=lambda r: (load.get(r.id, 0), r.id))


@dataclass(frozen=True)
class Outcome:
    """What a decision does to an item."""

    state: ItemState
    final: bool  # the decision is the item's (False: a first fail awaiting a second opinion, or a dispute)
    decision: Decision | None  # the item's final decision, when final
    reason: str | None


def settle(
    state: ItemState,
    decision: Decision,
    reason: str | None,
    *,
    rules: ReviewRules,
    officer: bool,
    first_reason: str | None = None,
) -> Outcome:
    """The item's state after ``decision``. An officer's decision is always final. With
    ``second_opinion_for_fail``, a reviewer's first fail waits for a second reviewer; the second fail
    settles it (with the first reviewer's reason), a second pass or recapture makes it disputed."""
    if decision is Decision.FAIL and not reason:
        raise ValueError("a fail needs a reason code")
    if decision is Decision.RECAPTURE:
        reason = RECAPTURE_REASON
    if decision is Decision.PASS:
        reason = None
    if officer:
        return Outcome(ItemState.DECIDED, True, decision, reason)
    if state is ItemState.SECOND:
        if decision is Decision.FAIL:
            return Outcome(ItemState.DECIDED, True, Decision.FAIL, first_reason or reason)
        return Outcome(ItemState.DISPUTED, False, None, None)
    if decision is Decision.FAIL and rules.second_opinion_for_fail:
        return Outcome(ItemState.SECOND, False, None, reason)
    return Outcome(ItemState.DECIDED, True, decision, reason)
