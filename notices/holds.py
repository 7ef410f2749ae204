"""Holds: periods in which no notice goes out and no case becomes eligible in a scope.

A hold covers everybody (``all``), a region (``region:420100``: a six-digit
region code; trailing ``00`` pairs widen it, so ``420100`` covers every
district of Wuhan, 4201xx, and ``420000`` all of Hubei), a segment
(``segment:enterprise``) or one account (``account:ID``). It runs from its
start until its ``until`` time or until it is lifted, whichever comes first.
When it ends, a covered case's next delay counts from the end of the hold.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

_REGION = re.compile(r"^[1-9][0-9]{5}$")
KINDS = ("all", "region", "segment", "account")


@dataclass(frozen=True)
class HoldScope:
    kind: str
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> HoldScope:
        text = text.strip()
        if text == "all":
            return cls("all")
        kind, sep, value = text.partition(":")
        value = value.strip()
        if not sep or kind not in KINDS[1:] or not value:
            raise ValueError(f"hold scope {text!r}: use all, region:420100, segment:enterprise or account:ID")
        if kind == "region" and not _REGION.match(value):
            raise ValueError(f"hold scope {text!r}: a region is a six-digit code such as 420100")
        return cls(kind, value)

    def __str__(self) -> str:
        return self.kind if self.kind == "all" else f"{self.kind}:{self.value}"

    def covers(self, account_id: str, region_code: str | None, segment: str) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "account":
            return account_id == self.value
        if self.kind == "segment":
            return segment == self.value
        return region_code is not None and region_code.startswith(self.region_prefix())

    def region_prefix(self) -> str:
        """The code prefix a region scope covers: ``420100`` -> ``4201``, ``420000`` -> ``42``."""
        prefix = self.value
        while prefix.endswith("00") and len(prefix) > 2:
            prefix = prefix[:-2]
        return prefix


@dataclass(frozen=True)
class Hold:
    scope: HoldScope
    reason: str
    starts_at: dt.datetime
    until: dt.datetime
    lifted_at: dt.datetime | None = None
    id: int | None = None  # the hold's number on the database, named in case histories
    created_by: str = ""

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("a hold needs a reason")
        if self.until <= self.starts_at:
            raise ValueError("a hold must end after it starts")

    @property
    def ends_at(self) -> dt.datetime:
        return min(self.until, self.lifted_at) if self.lifted_at is not None else self.until

    def active(self, at: dt.datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def covering(
    holds: Iterable[Hold], at: dt.datetime, account_id: str, region_code: str | None, segment: str
) -> list[Hold]:
    """The holds in force at ``at`` whose scope covers this subscriber, oldest first."""
    return [h for h in holds if h.active(at) and h.scope.covers(account_id, region_code, segment)]


def described(holds: Iterable[Hold]) -> str:
    """Holds named for a case's history: number, who placed it and why (\"hold 3 by officer:Li: lockdown\")."""
    return "; ".join(
        f"hold {h.id if h.id is not None else '?'}" + (f" by {h.created_by}" if h.created_by else "") + f": {h.reason}"
        for h in holds
    )


def holding(
    holds: Iterable[Hold], at: dt.datetime, account_id: str, region_code: str | None, segment: str
) -> dt.datetime | None:
    """The time the holds covering this subscriber at ``at`` all end (they may
    overlap or follow on each other); None when none covers it now."""
    covering = [h for h in holds if h.scope.covers(account_id, region_code, segment)]
    end: dt.datetime | None = None
    moment = at
    while True:
        now_active = [h for h in covering if h.active(moment)]
        if not now_active:
            return end
        end = max(h.ends_at for h in now_active)
        moment = end  # a hold starting exactly when another ends continues the freeze
