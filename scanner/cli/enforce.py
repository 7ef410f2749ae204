"""``realname cases`` and ``realname remediate``: open, advance and show cases; online
re-verification. Wiring only: the work is in ``scanner.enforce.advance``, ``scanner.enforce.casequery``,
``scanner.enforce.suspensions`` (exemption) and ``scanner.enforce.remediate``; the text is ``console_cases``.
"""

from __future__ import annotations

from pathlib import Path
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

cases_app = typer.Typer(help="Enforcement cases: advance them (cron), show one, exempt one.", no_args_is_help=True)

# --- cases -------------------------------------------------------------------------------------


@cases_app.command("advance")
def cases_advance(
    policy: PolicyOpt = None, now: NowOpt = None, format: FormatOpt = OutputFormat.TEXT, database: DatabaseOpt = None
) -> None:
    """Open, advance, resolve and schedule every case, and bring the review queue up to the newest
    enforcing run (items made and assigned) (idempotent: run it from cron)."""
    from scanner.cli.console import console
    from scanner.enforce.advance import advance
    from scanner.review.assign import assign_pending
    from scanner.review.items import sync_items

    loaded = loaded_policy(policy)
    at = moment(now, loaded.enforcement.zone)
    engine = write_engine(database)
    summary = advance(engine, loaded.enforcement, at).to_dict()
    summary["review"] = {**sync_items(engine, at).to_dict(), "assigned": assign_pending(engine, loaded.review, at)}
    if format is OutputFormat.JSON:
        emit(summary)
        return
    events = ", ".join(f"{k} {v}" for k, v in sorted(summary["events"].items())) or "none"
    console.print(
        f"cases advance at {at.isoformat()}: "
        + (f"run {summary['run_applied']} applied, " if summary["run_applied"] else "no new enforcing run, ")
        + f"{summary['opened']} opened, {summary['resolved']} resolved; transitions: {events}; "
        f"{summary['notices_queued']} notices queued, {summary['notices_cancelled']} cancelled; "
        f"{summary['stuck']} cases waiting with no channel left; "
        f"{summary['swept']['receipt_overdue']} receipts overdue (72 h); "
        f"review: {summary['review']['created']} items made, {sum(summary['review']['assigned'].values())} assigned",
        highlight=False,
    )


@cases_app.command("show")
def cases_show(
    who: Annotated[str, typer.Argument(help="Account id or mobile number.")],
    format: FormatOpt = OutputFormat.TEXT,
    database: DatabaseOpt = None,
) -> None:
    """A subscriber's cases with their whole history and notices (numbers masked)."""
    from scanner.cli.console import console
    from scanner.cli.console_cases import case_renderables
    from scanner.enforce.casequery import case_history
    from scanner.enforce.cases import CaseError

    try:
        data = case_history(write_engine(database), who)
    except CaseError as exc:
        raise fail(str(exc)) from None
    if format is OutputFormat.JSON:
        emit(data)
        return
    for item in case_renderables(data):
        console.print(item)


@cases_app.command("summary")
def cases_summary(database: DatabaseOpt = None) -> None:
    """How many cases are in each state (JSON)."""
    from scanner.enforce.casequery import case_counts

    emit(case_counts(write_engine(database)))


@cases_app.command("exempt")
def cases_exempt(
    case: Annotated[int, typer.Argument(help="Case id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the subscriber is exempted.")],
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """End a case by an officer's decision (pending notices are cancelled)."""
    from scanner.enforce.cases import CaseError
    from scanner.enforce.suspensions import exempt

    try:
        cancelled = exempt(write_engine(database), case, officer or login(), reason, moment(now))
    except CaseError as exc:
        raise fail(str(exc)) from None
    emit({"case_id": case, "state": "exempted", "notices_cancelled": cancelled})


# --- re-verification ---------------------------------------------------------------------------


def remediate_command(
    account: Annotated[str, typer.Argument(help="The subscriber's account id.")],
    live: Annotated[Path, typer.Option("--live", help="The new live photo (path or URL).")],
    id_portrait: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--id-portrait", help="A new ID portrait."),
    ] = None,
    handheld: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--handheld", help="A new photo holding the ID card."),
    ] = None,
    policy: PolicyOpt = None,
    now: NowOpt = None,
    format: FormatOpt = OutputFormat.TEXT,
    database: DatabaseOpt = None,
) -> None:
    """Online re-verification: judge new photos at once; on pass the case is resolved, pending notices
    cancelled and a confirmation SMS queued."""
    from scanner.cli.console import console, plain
    from scanner.cli.console_cases import remediation_lines
    from scanner.enforce.cases import CaseError
    from scanner.enforce.remediate import remediate

    loaded = loaded_policy(policy)
    photos = {"live": str(live)}
    if id_portrait:
        photos["id_portrait"] = id_portrait
    if handheld:
        photos["handheld"] = handheld
    try:
        result = remediate(write_engine(database), loaded, account, photos, moment(now, loaded.enforcement.zone))
    except CaseError as exc:
        raise fail(str(exc)) from None
    if format is OutputFormat.JSON:
        emit(result.__dict__)
    else:
        for line in remediation_lines(result):
            console.print(plain(line), highlight=False)
    if result.verdict != "pass":
        raise typer.Exit(1)
