"""The ``realname`` command: thin wiring over the scanner library. Each command group lives in its own
module of this package; this one only puts them together."""

from __future__ import annotations

import typer

from scanner.cli import admin, enforce, holds, notices, report, scan, suspensions

app = typer.Typer(
    name="realname",
    help="Rescan a subscriber base for real-name compliance (import, rescan, report) and enforce it humanely "
    "(cases, notices, holds, suspensions).",
    no_args_is_help=True,
    add_completion=False,
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


def main() -> None:
    app()
