"""What the ``realname`` command modules share: common options and small helpers.

Time options (``--now``, ``--until``) take ISO 8601; a time without a zone is in the policy's time
zone, and a bare date means the start of that day there (or its end, where the option says so).
Commands that speak JSON lines read requests from standard input and write one answer per line.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shlex
import shutil
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TextIO
from zoneinfo import ZoneInfo

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from notices.queue import QueueRules
    from scanner.policyfile import LoadedPolicy


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Breakdown(StrEnum):
    """How `calibrate --by` splits its rates."""

    SOURCE = "source"


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
FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]
OutputOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--output", "-o", help="Write to this file instead of standard output."),
]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes.")]  # noqa: UP045


def fail(message: str, code: int = 2) -> typer.Exit:
    from rich.text import Text

    from scanner.cli.console import err_console, plain

    err_console.print(Text.assemble(("error:", "red"), " ", plain(message)), highlight=False)
    return typer.Exit(code)


def login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


@contextmanager
def _policy_errors() -> Iterator[None]:
    """A bad policy file ends the command with its error, which names the file and the key (the
    error's type is looked up only once there is an error: it comes with pydantic)."""
    try:
        yield
    except Exception as exc:
        from checks.policy import PolicyError

        if isinstance(exc, PolicyError):
            raise fail(str(exc)) from None
        raise


def loaded_policy(policy: Path | None) -> LoadedPolicy:
    """The policy file given (the bundled default without one), validated."""
    from scanner.policyfile import load_policy

    with _policy_errors():
        return load_policy(policy)


def queue_rules(policy: Path | None) -> QueueRules:
    """The queue's rules (send window, retry schedule, lease) of the policy file given (the bundled
    default without one): the whole file is validated unless this installation already validated
    these very bytes (``scanner.policycache``)."""
    from scanner.policyfile import load_queue_rules

    with _policy_errors():
        return load_queue_rules(policy)


def parse_time(value: str, zone: str, *, end_of_day: bool = False) -> dt.datetime:
    """The time given, in UTC. A time without a zone is in ``zone``; a bare date (YYYY-MM-DD) is the
    start of that day there, or with ``end_of_day`` its end. Raises ValueError naming the value."""
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end_of_day else 0)
            parsed = dt.datetime.combine(day, dt.time(0))
        else:
            parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(dt.UTC)


def moment(value: str | None, zone: str | None = None, *, end_of_day: bool = False) -> dt.datetime:
    """Now, or the time given to an option (``parse_time``; ``zone`` defaults to the bundled policy's);
    a value that is not a time ends the command with its error."""
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        return parse_time(value, zone or queue_rules(None).zone, end_of_day=end_of_day)
    except ValueError as exc:
        raise fail(str(exc)) from None


def day(value: str | None, option: str) -> dt.date:
    """Today, or the ISO date given to ``option``."""
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def command_line(*args: str, database: str | None = None) -> str:
    """A ``realname`` command line that works as printed: the program as it was started (a path when
    it is not on the PATH) and ``--database`` unless it is the default."""
    program = Path(sys.argv[0])
    name = "realname"
    if program.name == name and program.exists():
        on_path = shutil.which(name)
        if not on_path or Path(on_path).resolve() != program.resolve():
            name = str(program)  # e.g. .venv/bin/realname
    words = [name, *args]
    if database:
        words += ["--database", database]
    return " ".join(shlex.quote(w) for w in words)


def write_engine(database: str | None) -> Engine:
    """The migrated database's engine for short read-modify-write transactions."""
    from scanner.db import database_url, open_engine, write_engine_for

    open_engine(database)
    return write_engine_for(database_url(database))


def output_stream(output: Path | None) -> AbstractContextManager[TextIO]:
    """The file given to ``--output`` (UTF-8), or standard output."""
    return output.open("w", encoding="utf-8") if output else nullcontext(sys.stdout)


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
