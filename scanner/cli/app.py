"""The ``realname`` command: thin wiring over the scanner library. Each command group lives in its own
module of this package; this one only puts them together."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from scanner.cli import admin, audit, enforce, holds, notices, quick, relay, report, review, scan, serve, suspensions

app = typer.Typer(
    name="realname",
    help="Rescan a subscriber base for real-name compliance (import, rescan, report) and enforce it humanely "
    "(cases, notices, holds, suspensions), with a tamper-evident audit trail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold full numbers; tracebacks never show them
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
policy_app = typer.Typer(help="Policy files.", no_args_is_help=True)

app.command("import")(scan.import_command)
app.command("rescan")(scan.rescan_command)
app.command("report")(report.report_command)
app.command("demo")(scan.demo_command)
app.command("calibrate")(scan.calibrate_command)
app.add_typer(db_app, name="db")
db_app.command("upgrade")(admin.db_upgrade)
app.add_typer(policy_app, name="policy")
policy_app.command("check")(admin.policy_check)
app.add_typer(enforce.cases_app, name="cases")
app.add_typer(holds.holds_app, name="holds")
app.add_typer(notices.notices_app, name="notices")
app.add_typer(suspensions.suspensions_app, name="suspensions")
app.command("remediate")(enforce.remediate_command)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(review.review_app, name="review")
app.command("serve")(serve.serve_command)
app.add_typer(relay.relay_app, name="relay")


@app.callback()
def options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="REALNAME_DEBUG", help="On a database error, show the traceback (numbers masked)."
        ),
    ] = False,
) -> None:
    """Options for every command (before the command's name)."""
    global DEBUG
    DEBUG = debug


DEBUG = False


def main() -> None:
    """The ``realname`` program: a database error ends it with a short, masked message (exit 2), never
    with the statement's parameters; ``--debug`` adds the traceback, masked too. The queue commands
    the SMS system runs in a loop start without Typer's option parsing when they can (``quick``)."""
    try:
        call = quick.parse(sys.argv[1:], {"notices": notices.notices_app})
        if call is None:
            app()
        else:
            quick.run(call)
    except Exception as exc:
        if not _from_the_database(exc):
            raise
        raise SystemExit(_database_failure(exc)) from None


def _from_the_database(exc: Exception) -> bool:
    """Whether the error came from the database layer (looked up only once there is an error, so that
    a command that never touches the database does not load it)."""
    sa_exc, db = sys.modules.get("sqlalchemy.exc"), sys.modules.get("scanner.db")
    return (sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError)) or (
        db is not None and isinstance(exc, db.DatabaseError)
    )


def _database_failure(exc: Exception) -> int:
    import traceback

    from rich.text import Text

    from notices.privacy import mask_text
    from scanner.cli.console import err_console
    from scanner.db import DatabaseError

    if isinstance(exc, DatabaseError):  # ours: it names the path and why
        err_console.print(Text.assemble(("error:", "red"), f" database: {mask_text(str(exc))}"), highlight=False)
        return 2
    cause = getattr(exc, "orig", None) or exc  # the driver's own message, without SQL and parameters
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:500]
    if DEBUG:
        err_console.print(mask_text("".join(traceback.format_exception(exc))), highlight=False, markup=False)
    err_console.print(
        Text.assemble(("error:", "red"), f" database: {type(cause).__name__}: {mask_text(first)}"), highlight=False
    )
    if not DEBUG:
        err_console.print("(run with realname --debug ... for the traceback)", highlight=False)
    return 2
