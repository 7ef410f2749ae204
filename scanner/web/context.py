"""What a request works with: the database, the policy, the time and the signed-in reviewer; and the two
steps pages and the API share: opening an item the reviewer may see, and deciding it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app
from flask_login import current_user
from sqlalchemy.engine import Engine

from notices.review import Decision, ReviewRules, fail_reasons
from scanner.policyfile import LoadedPolicy
from scanner.review.decide import DecisionResult, decide
from scanner.review.detail import ItemDetail, item_detail, may_view
from scanner.review.errors import NotFound, NotYours, ReviewError
from scanner.review.reviewers import reviewer_by_id
from scanner.review.shown import shown_of


def engine() -> Engine:
    return cast(Engine, current_app.config["REALNAME_ENGINE"])


def loaded() -> LoadedPolicy:
    return cast(LoadedPolicy, current_app.config["REALNAME_POLICY"])


def rules() -> ReviewRules:
    return loaded().review


def now() -> dt.datetime:
    return cast(dt.datetime, current_app.config["REALNAME_CLOCK"]())


@dataclass(frozen=True)
class Who:
    id: int
    login: str
    role: str

    @property
    def actor(self) -> str:
        return f"review:{self.login}"

    @property
    def officer(self) -> bool:
        return self.role == "officer"


View = TypeVar("View", bound=Callable[..., Any])


def signed_in(view: View) -> View:
    """Only for a signed-in reviewer; anyone else is sent to sign in (the API answers 401)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return cast(Any, current_app).login_manager.unauthorized()
        return view(*args, **kwargs)

    return cast(View, wrapper)


def officer_only(view: View) -> View:
    """Only for a signed-in officer (403 for a reviewer)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return cast(Any, current_app).login_manager.unauthorized()
        if not who().officer:
            abort(403, "this page is for officers")
        return view(*args, **kwargs)

    return cast(View, wrapper)


def who() -> Who:
    user: Any = current_user
    return Who(int(user.reviewer_id), str(user.login), str(user.role))


def open_item(item_id: int) -> ItemDetail:
    """Item ``item_id`` if the signed-in reviewer may see it (``NotFound`` or ``NotYours`` if not)."""
    at = now()
    with engine().connect() as conn:
        reviewer = reviewer_by_id(conn, who().id)
        if not may_view(conn, item_id, reviewer, at):
            raise NotYours(f"review item {item_id}: assigned to another reviewer, or your assignment expired")
        return item_detail(conn, item_id, rules(), at, policy=loaded().policy)


def opened(item_id: int) -> ItemDetail:
    """``open_item``, or the request ends: 404 unknown, 403 not theirs (a page, or JSON under /api)."""
    try:
        return open_item(item_id)
    except NotFound as exc:
        abort(404, str(exc))
    except NotYours as exc:
        abort(403, str(exc))


def decide_item(item_id: int, decision: str, reason: str | None, note: str) -> DecisionResult:
    """The signed-in reviewer's decision on ``item_id``, keeping what the page showed."""
    try:
        chosen = Decision(decision)
    except ValueError:
        raise ReviewError(f"review item {item_id}: decision {decision!r} is not pass, fail or recapture") from None
    reason = str(reason).strip() if reason else None
    if chosen is Decision.FAIL and reason not in fail_reasons():
        raise ReviewError(f"review item {item_id}: a fail needs one of the reason codes, not {reason!r}")
    detail = open_item(item_id)
    return decide(
        engine(),
        rules(),
        item_id=item_id,
        reviewer_id=who().id,
        decision=chosen,
        reason=reason if chosen is Decision.FAIL else None,
        note=note,
        now=now(),
        shown={**shown_of(detail), "via": "web"},
    )
