"""Reviewers and officers: who they are, what they cover, and their sign-in password (argon2id, from
``argon2-cffi``; only the hash is stored). Every change is an audit row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, Row

from notices.review import ReviewerView
from scanner.audit.log import record
from scanner.review.errors import NotFound, ReviewError
from scanner.tables import REVIEWER

ROLES = ("reviewer", "officer")
MIN_PASSWORD = 10


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ReviewError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher().hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed; False for a reviewer with no password."""
    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_reviewer(
    engine: Engine,
    *,
    login: str,
    name: str,
    role: str = "reviewer",
    regions: Sequence[str] = (),
    segments: Sequence[str] = (),
    password: str | None = None,
    actor: str,
    now: dt.datetime,
) -> int:
    login = login.strip()
    if not login or len(login) > 64 or not login.isprintable() or " " in login:
        raise ReviewError(f"login {login!r}: 1 to 64 printable characters without spaces")
    if role not in ROLES:
        raise ReviewError(f"reviewer {login}: role must be one of {', '.join(ROLES)}, not {role!r}")
    bad = [r for r in regions if not (r.isdigit() and 1 <= len(r) <= 6)]
    if bad:
        raise ReviewError(f"reviewer {login}: a region is an ID region code prefix of 1 to 6 digits, not {bad[0]!r}")
    values: dict[str, Any] = {
        "login": login,
        "name": name.strip() or login,
        "role": role,
        "regions": sorted(set(regions)),
        "segments": sorted(set(segments)),
        "active": True,
        "password_hash": hash_password(password) if password is not None else None,
        "failed_logins": 0,
        "created_at": now,
    }
    with engine.begin() as conn:
        if conn.execute(select(REVIEWER.c.id).where(REVIEWER.c.login == login)).first():
            raise ReviewError(f"reviewer {login}: already registered")
        reviewer_id = int(conn.execute(insert(REVIEWER).values(**values).returning(REVIEWER.c.id)).scalar_one())
        record(
            conn,
            now,
            actor,
            "reviewer.add",
            f"reviewer {login}",
            reviewer=login,
            role=role,
            regions=values["regions"],
            segments=values["segments"],
            password=values["password_hash"] is not None,
        )
    return reviewer_id


def update_reviewer(
    engine: Engine,
    login: str,
    *,
    actor: str,
    now: dt.datetime,
    password: str | None = None,
    active: bool | None = None,
    regions: Sequence[str] | None = None,
    segments: Sequence[str] | None = None,
) -> None:
    """Change a reviewer's password (which also lifts a lock), activity or scopes."""
    values: dict[str, Any] = {}
    if password is not None:
        values.update(password_hash=hash_password(password), failed_logins=0, locked_until=None)
    if active is not None:
        values["active"] = active
    if regions is not None:
        values["regions"] = sorted(set(regions))
    if segments is not None:
        values["segments"] = sorted(set(segments))
    if not values:
        return
    with engine.begin() as conn:
        done = conn.execute(update(REVIEWER).where(REVIEWER.c.login == login).values(**values)).rowcount
        if not done:
            raise NotFound(f"reviewer {login}: not registered")
        shown = {k: v for k, v in values.items() if k not in ("password_hash", "failed_logins", "locked_until")}
        record(
            conn,
            now,
            actor,
            "reviewer.update",
            f"reviewer {login}",
            reviewer=login,
            password=password is not None,
            **shown,
        )


def reviewer_by_login(conn: Connection, login: str) -> Row[Any] | None:
    return conn.execute(select(REVIEWER).where(REVIEWER.c.login == login)).first()


def reviewer_by_id(conn: Connection, reviewer_id: int) -> Row[Any]:
    row = conn.execute(select(REVIEWER).where(REVIEWER.c.id == reviewer_id)).first()
    if row is None:
        raise NotFound(f"reviewer {reviewer_id}: not registered")
    return row


def list_reviewers(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(REVIEWER).order_by(REVIEWER.c.login)))


def view_of(row: Row[Any]) -> ReviewerView:
    return ReviewerView(row.id, row.login, row.role, tuple(row.regions or ()), tuple(row.segments or ()), row.active)
