"""What the ``realname`` command modules share: common options and small helpers.

Time options (``--now``) take ISO 8601; a time without a zone is in the policy's time zone.
Commands that speak JSON lines read requests from standard input and write one answer per line.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional
from zoneinfo import ZoneInfo

import typer

from checks.policy import PolicyError

DatabaseOpt = Annotated[
    Optional[str],  # noqa: UP045 (typer needs Optional here)
    typer.Option(
        "--database",
        envvar="REALNAME_DATABASE_URL",
        help="SQLAlchemy URL of the database (default: sqlite:///realname.db).",
        show_default=False,
    ),
]
PolicyOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--policy", help="Policy TOML file (default: the bundled policies/default.toml)."),
]
NowOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--now",
        envvar="REALNAME_NOW",
        help="Act as if it were this time (ISO 8601; a time without a zone is in the policy's zone): "
        "for rehearsals and tests.",
        show_default=False,
    ),
]
OfficerOpt = Annotated[
    str,
    typer.Option("--officer", envvar="REALNAME_OFFICER", help="Who does this, for the audit trail (default: login)."),
]
FormatOpt = Annotated[str, typer.Option("--format", help="text or json.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    from scanner.cli.console import err_console

    err_console.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def loaded_policy(policy: Path | None) -> Any:
    from scanner.policyfile import load_policy

    try:
        return load_policy(policy)
    except PolicyError as exc:
        raise fail(str(exc)) from None


def moment(value: str | None, zone: str | None = None) -> dt.datetime:
    """Now, or the time given; a time without a zone is in ``zone`` (default: the bundled policy's)."""
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone or loaded_policy(None).enforcement.zone))
    return parsed.astimezone(dt.UTC)


def write_engine(database: str | None) -> Any:
    from scanner.db import database_url, open_engine, write_engine_for

    open_engine(database)
    return write_engine_for(database_url(database))


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def json_requests() -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, request, error) for each non-blank JSON line on standard input."""
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"line {number}: not JSON ({exc.msg})"
            continue
        if not isinstance(value, dict):
            yield number, None, f"line {number}: expected a JSON object"
            continue
        yield number, value, None
