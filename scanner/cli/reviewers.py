"""``realname review reviewers``: who reviews, what they cover, their sign-in password. Wiring only: the
work is in ``scanner.review.reviewers``."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from scanner.cli.common import (
    DatabaseOpt,
    FormatOpt,
    NowOpt,
    OfficerOpt,
    OutputFormat,
    PolicyOpt,
    emit,
    fail,
    loaded_policy,
    login,
    moment,
    write_engine,
)

reviewers_app = typer.Typer(help="Reviewers and officers who decide review items.", no_args_is_help=True)
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the sign-in password from the first line of standard input (never an argument)."
    ),
]


def _password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise fail("--password-stdin: standard input held no password")
    return line


# --- reviewers ---------------------------------------------------------------------------------


@reviewers_app.command("add")
def reviewers_add(
    login_name: Annotated[str, typer.Argument(metavar="LOGIN", help="The sign-in name.")],
    name: Annotated[str, typer.Option("--name", help="The person's name, as decisions show it.")] = "",
    role: Annotated[str, typer.Option("--role", help="reviewer (decides items) or officer (also runs the queue).")] = (
        "reviewer"
    ),
    region: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--region", help="Cover only ID region codes starting with this (repeat for several)."),
    ] = None,
    segment: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--segment", help="Cover only this segment (repeat for several)."),
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Register a reviewer (or an officer); with --password-stdin they can sign in to `realname serve`."""
    from scanner.review.errors import ReviewError
    from scanner.review.reviewers import add_reviewer

    try:
        reviewer_id = add_reviewer(
            write_engine(database),
            login=login_name,
            name=name,
            role=role,
            regions=region or [],
            segments=segment or [],
            password=_password(password_stdin),
            actor=officer or login(),
            now=moment(now),
        )
    except ReviewError as exc:
        raise fail(str(exc)) from None
    emit({"reviewer": login_name, "id": reviewer_id, "role": role})


@reviewers_app.command("set")
def reviewers_set(
    login_name: Annotated[str, typer.Argument(metavar="LOGIN", help="The sign-in name.")],
    password_stdin: PasswordStdinOpt = False,
    active: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--active/--inactive", help="Take part in assignment and sign-in, or not."),
    ] = None,
    region: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--region", help="Replace the region scope (repeat for several)."),
    ] = None,
    segment: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--segment", help="Replace the segment scope (repeat for several)."),
    ] = None,
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Change a reviewer's password (which also lifts a sign-in lock), activity or scopes."""
    from scanner.review.errors import ReviewError
    from scanner.review.reviewers import update_reviewer

    try:
        update_reviewer(
            write_engine(database),
            login_name,
            actor=officer or login(),
            now=moment(now),
            password=_password(password_stdin),
            active=active,
            regions=region,
            segments=segment,
        )
    except ReviewError as exc:
        raise fail(str(exc)) from None
    emit({"reviewer": login_name, "updated": True})


@reviewers_app.command("list")
def reviewers_list(
    policy: PolicyOpt = None, now: NowOpt = None, format: FormatOpt = OutputFormat.TEXT, database: DatabaseOpt = None
) -> None:
    """Reviewers with their scopes, the items they hold and what they decided."""
    from scanner.cli.console import console
    from scanner.cli.console_review import reviewers_table
    from scanner.review.stats import queue_summary

    loaded = loaded_policy(policy)
    with write_engine(database).connect() as conn:
        summary = queue_summary(conn, loaded.review, moment(now, loaded.enforcement.zone))
    if format is OutputFormat.JSON:
        emit(summary.per_reviewer)
        return
    console.print(reviewers_table(summary.per_reviewer))
