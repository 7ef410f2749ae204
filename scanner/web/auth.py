"""Sign-in, sessions and sign-out.

A session is a random token in the signed cookie; the database keeps only its sha256 (``web_session``),
so a session ends for good when it is signed out, idle too long or too old, whatever the cookie says.
Passwords are argon2id hashes (``scanner.review.reviewers``). Wrong passwords slow sign-in down and then
lock the account for a while (``after_failure``); every sign-in, failure, lock and sign-out is an
audit row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from sqlalchemy import delete, insert, select, update

from scanner.audit.log import record
from scanner.review.reviewers import hash_password, password_matches, reviewer_by_login
from scanner.tables import REVIEWER, WEB_SESSION
from scanner.web.app import wants_json
from scanner.web.context import engine, now, signed_in, who

bp = Blueprint("auth", __name__)

SLOW_AFTER = 3  # from the 3rd wrong password in a row, each next try waits
SLOW_SECONDS = 5  # 5 s after the 3rd, 10 s after the 4th
LOCK_AFTER = 5  # the 5th wrong password in a row locks the account
LOCK_MINUTES = 15
TOUCH_EVERY = dt.timedelta(seconds=60)  # a session's expiry moves on at most once a minute
KEEP_ENDED = dt.timedelta(days=1)  # sessions expired longer ago are deleted at the next sign-in


def after_failure(failures: int, at: dt.datetime) -> dt.datetime | None:
    """Until when sign-in is refused after ``failures`` wrong passwords in a row (None: not at all)."""
    if failures >= LOCK_AFTER:
        return at + dt.timedelta(minutes=LOCK_MINUTES)
    if failures >= SLOW_AFTER:
        return at + dt.timedelta(seconds=SLOW_SECONDS * 2 ** (failures - SLOW_AFTER))
    return None


@cache
def _dummy_hash() -> str:
    """A real argon2id hash of a random password: unknown logins cost as much time as known ones."""
    return hash_password(secrets.token_hex(16))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class WebUser:
    """The signed-in reviewer as Flask-Login sees them; the session token is the id it keeps."""

    token: str
    reviewer_id: int
    login: str
    name: str
    role: str
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.token


def load_user(token: str) -> WebUser | None:
    """The reviewer of a live session (its expiry moved on), or None for an ended or unknown one."""
    at = now()
    digest = token_hash(token)
    with engine().connect() as conn:
        row = conn.execute(
            select(WEB_SESSION, REVIEWER.c.login, REVIEWER.c.name, REVIEWER.c.role, REVIEWER.c.active)
            .join(REVIEWER, REVIEWER.c.id == WEB_SESSION.c.reviewer_id)
            .where(WEB_SESSION.c.token_sha256 == digest)
        ).first()
    if row is None or row.ended_at is not None or row.expires_at <= at or not row.active:
        return None
    if at - row.last_seen_at >= TOUCH_EVERY:
        expires = min(at + current_app.config["REALNAME_IDLE"], row.created_at + current_app.config["REALNAME_MAX_AGE"])
        with engine().begin() as conn:
            conn.execute(
                update(WEB_SESSION).where(WEB_SESSION.c.id == row.id).values(last_seen_at=at, expires_at=expires)
            )
    return WebUser(token, row.reviewer_id, row.login, row.name, row.role)


def unauthorized() -> Any:
    expired = "_user_id" in session
    message = "your session has expired: sign in again" if expired else "sign in first"
    if wants_json():
        return jsonify(error=message), 401
    if expired:
        session.pop("_user_id", None)
        flash(message)
    return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("pages.home")
    return target


@dataclass(frozen=True)
class SignIn:
    user: WebUser | None
    message: str


def sign_in(login: str, password: str, address: str) -> SignIn:
    """Check ``login``'s password; on success a new session. Refused while the account is locked."""
    at = now()
    login = login.strip()[:64]
    with engine().connect() as conn:
        row = reviewer_by_login(conn, login) if login else None
    wrong = "wrong login or password"
    if row is None or not row.active or not row.password_hash:
        password_matches(_dummy_hash(), password)  # as slow as a real check: a login's existence does not show
        _audit(at, "web", "web.sign_in_failed", login, address=address, known=False)
        return SignIn(None, wrong)
    if row.locked_until is not None and row.locked_until > at:
        wait = int((row.locked_until - at).total_seconds()) + 1
        _audit(at, f"review:{login}", "web.sign_in_refused", login, address=address, locked_for_s=wait)
        return SignIn(None, f"too many wrong passwords: try again in {_duration(wait)}")
    if not password_matches(row.password_hash, password):
        with engine().begin() as conn:
            failures = int(
                conn.execute(
                    update(REVIEWER)
                    .where(REVIEWER.c.id == row.id)
                    .values(failed_logins=REVIEWER.c.failed_logins + 1)
                    .returning(REVIEWER.c.failed_logins)
                ).scalar_one()
            )
            until = after_failure(failures, at)
            conn.execute(update(REVIEWER).where(REVIEWER.c.id == row.id).values(locked_until=until))
            record(
                conn,
                at,
                f"review:{login}",
                "web.sign_in_failed",
                f"reviewer {login}",
                address=address,
                failures=failures,
                locked_until=until.isoformat() if until else None,
            )
        if until is None:
            return SignIn(None, wrong)
        wait = int((until - at).total_seconds())
        what = "the account is locked" if failures >= LOCK_AFTER else "wait"
        return SignIn(None, f"{wrong} ({failures} in a row): {what} for {_duration(wait)}")
    token = secrets.token_urlsafe(32)
    expires = at + min(current_app.config["REALNAME_IDLE"], current_app.config["REALNAME_MAX_AGE"])
    with engine().begin() as conn:
        conn.execute(update(REVIEWER).where(REVIEWER.c.id == row.id).values(failed_logins=0, locked_until=None))
        conn.execute(delete(WEB_SESSION).where(WEB_SESSION.c.expires_at < at - KEEP_ENDED))
        conn.execute(
            insert(WEB_SESSION).values(
                token_sha256=token_hash(token), reviewer_id=row.id, created_at=at, last_seen_at=at, expires_at=expires
            )
        )
        record(conn, at, f"review:{login}", "web.sign_in", f"reviewer {login}", address=address)
    return SignIn(WebUser(token, row.id, row.login, row.name, row.role), "")


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"


def _audit(at: dt.datetime, actor: str, action: str, login: str, **detail: Any) -> None:
    with engine().begin() as conn:
        record(conn, at, actor, action, f"reviewer {login or '-'}", **detail)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    result = sign_in(request.form.get("login", ""), request.form.get("password", ""), request.remote_addr or "")
    if result.user is None:
        return render_template("login.html", error=result.message, next=request.form.get("next", "")), 401
    session.clear()
    login_user(result.user)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
@signed_in
def logout() -> Any:
    me = who()
    token = session.get("_user_id")
    at = now()
    with engine().begin() as conn:
        if token:
            conn.execute(
                update(WEB_SESSION)
                .where(WEB_SESSION.c.token_sha256 == token_hash(str(token)), WEB_SESSION.c.ended_at.is_(None))
                .values(ended_at=at)
            )
        record(conn, at, me.actor, "web.sign_out", f"reviewer {me.login}")
    logout_user()
    session.clear()
    flash("signed out")
    return redirect(url_for("auth.login"))
