"""The Flask application: configuration, sign-in, CSRF, security headers and error pages.

Every response carries ``Cache-Control: no-store`` (each page shows personal data) and a content
security policy that allows only this server's own scripts, styles and images: the pages have no
inline script, and nothing is loaded from elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from notices.privacy import mask_name
from scanner.policyfile import LoadedPolicy

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    engine: Engine,
    loaded: LoadedPolicy,
    *,
    secret: bytes,
    session_minutes: int = 30,
    session_hours_max: int = 12,
    secure_cookies: bool = False,
    clock: Callable[[], dt.datetime] = utc_now,
) -> Flask:
    """The review app over ``engine``, deciding by ``loaded``'s ``[review]`` rules and match bands.

    ``secret`` signs the session cookie and the CSRF tokens (at least 32 bytes). A session ends after
    ``session_minutes`` without a request, or ``session_hours_max`` after sign-in, whichever is first;
    ``clock`` gives the time (tests move it)."""
    from scanner.web import api, auth, pages

    if len(secret) < 32:
        raise ValueError("the web app's secret needs at least 32 bytes")
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="realname_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the session that holds it
        WTF_CSRF_SSL_STRICT=secure_cookies,
        MAX_CONTENT_LENGTH=64 * 1024,
        REALNAME_ENGINE=engine,
        REALNAME_POLICY=loaded,
        REALNAME_CLOCK=clock,
        REALNAME_IDLE=dt.timedelta(minutes=session_minutes),
        REALNAME_MAX_AGE=dt.timedelta(hours=session_hours_max),
    )
    app.jinja_env.autoescape = True
    app.jinja_env.filters["mask_name"] = mask_name
    app.jinja_env.globals["age"] = age
    CSRFProtect(app)
    manager = LoginManager(app)
    manager.session_protection = "basic"
    manager.user_loader(auth.load_user)
    manager.unauthorized_handler(auth.unauthorized)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    app.after_request(_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def age(then: dt.datetime, at: dt.datetime) -> str:
    hours = (at - then).total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or "/photos/" in request.path


def error(status: int, message: str) -> tuple[Any, int]:
    """An error as JSON for the API and photos, as a page otherwise; the message names the item."""
    if wants_json():
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status


def _csrf_error(exc: CSRFError) -> tuple[Any, int]:
    return error(400, f"refused: {exc.description} (reload the page and try again)")


def _http_error(exc: HTTPException) -> tuple[Any, int]:
    return error(exc.code or 500, exc.description or exc.name)
