"""The enforcement commands of ``realname``: cases, holds, suspensions and re-verification.
Wiring only: the work is in ``scanner.enforce.advance``, ``scanner.enforce.holds``, ``scanner.enforce.suspensions``,
``scanner.enforce.remediate`` and ``scanner.enforce.casequery``; the queue commands are in ``scanner.cli.notices``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional
from zoneinfo import ZoneInfo

import typer

from scanner.cli.common import (
    DatabaseOpt,
    FormatOpt,
    NowOpt,
    OfficerOpt,
    PolicyOpt,
    emit,
    fail,
    loaded_policy,
    login,
    moment,
    write_engine,
)

cases_app = typer.Typer(help="Enforcement cases: advance them (cron), show one, exempt one.", no_args_is_help=True)
holds_app = typer.Typer(help="Holds that freeze notices and eligibility in a scope.", no_args_is_help=True)
suspensions_app = typer.Typer(
    help="Suspensions: list, approve (a named officer), export for the BSS, confirm.", no_args_is_help=True
)


# --- cases -------------------------------------------------------------------------------------


@cases_app.command("advance")
def cases_advance(
    policy: PolicyOpt = None, now: NowOpt = None, format: FormatOpt = "text", database: DatabaseOpt = None
) -> None:
    """Open, advance, resolve and schedule every case (idempotent: run it from cron)."""
    from scanner.cli.console import console
    from scanner.enforce.advance import advance

    loaded = loaded_policy(policy)
    at = moment(now, loaded.enforcement.zone)
    summary = advance(write_engine(database), loaded.enforcement, at).to_dict()
    if format == "json":
        emit(summary)
        return
    events = ", ".join(f"{k} {v}" for k, v in sorted(summary["events"].items())) or "none"
    console.print(
        f"cases advance at {at.isoformat()}: "
        + (f"run {summary['run_applied']} applied, " if summary["run_applied"] else "no new enforcing run, ")
        + f"{summary['opened']} opened, {summary['resolved']} resolved; transitions: {events}; "
        f"{summary['notices_queued']} notices queued, {summary['notices_cancelled']} cancelled; "
        f"{summary['stuck']} cases waiting with no channel left; "
        f"{summary['swept']['receipt_overdue']} receipts overdue (72 h)",
        highlight=False,
    )


@cases_app.command("show")
def cases_show(
    who: Annotated[str, typer.Argument(help="Account id or mobile number.")],
    format: FormatOpt = "text",
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
    if format == "json":
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


# --- holds -------------------------------------------------------------------------------------


def _hold_time(value: str, zone: str, end_of_day: bool) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end_of_day else 0)
            return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))).astimezone(dt.UTC)


@holds_app.command("add")
def holds_add(
    scope: Annotated[str, typer.Option("--scope", help="all, region:420100, segment:enterprise or account:ID.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (a lockdown, a system fault, a complaint).")],
    until: Annotated[str, typer.Option("--until", help="Last day held (YYYY-MM-DD, to its end) or an ISO time.")],
    starts: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--from", help="First day held (default: now)."),
    ] = None,
    officer: OfficerOpt = "",
    policy: PolicyOpt = None,
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Freeze notices and eligibility in a scope until a date; `cases advance` applies it."""
    from scanner.enforce.cases import CaseError
    from scanner.enforce.holds import add_hold

    zone = loaded_policy(policy).enforcement.zone
    at = moment(now, zone)
    try:
        hold_id = add_hold(
            write_engine(database),
            scope,
            reason,
            _hold_time(until, zone, end_of_day=True),
            officer or login(),
            at,
            starts_at=_hold_time(starts, zone, end_of_day=False) if starts else None,
        )
    except (CaseError, ValueError) as exc:
        raise fail(str(exc)) from None
    emit({"hold_id": hold_id, "scope": scope, "until": _hold_time(until, zone, True).isoformat()})


@holds_app.command("list")
def holds_list(
    all_holds: Annotated[bool, typer.Option("--all", help="Include holds that have ended.")] = False,
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Holds in force and scheduled (JSON lines)."""
    from scanner.enforce.holds import list_holds

    for hold in list_holds(write_engine(database), moment(now), include_ended=all_holds):
        emit(hold)


@holds_app.command("lift")
def holds_lift(
    hold: Annotated[int, typer.Argument(help="Hold id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is lifted early.")],
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """End a hold now; delays of the cases it covered count from now."""
    from scanner.enforce.cases import CaseError
    from scanner.enforce.holds import lift_hold

    try:
        lift_hold(write_engine(database), hold, officer or login(), reason, moment(now))
    except CaseError as exc:
        raise fail(str(exc)) from None
    emit({"hold_id": hold, "lifted": True})


# --- suspensions -------------------------------------------------------------------------------


@suspensions_app.command("list")
def suspensions_list(database: DatabaseOpt = None) -> None:
    """Eligible and approved cases (JSON lines, numbers masked)."""
    from scanner.enforce.suspensions import pending_decisions

    for row in pending_decisions(write_engine(database)):
        emit(row)


@suspensions_app.command("approve")
def suspensions_approve(
    case: Annotated[int, typer.Argument(help="Case id (eligible).")],
    officer: Annotated[str, typer.Option("--officer", help="The approving officer's name (required).")],
    note: Annotated[str, typer.Option("--note", help="A note for the history.")] = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Approve suspension of an eligible case. Nothing is suspended until the BSS acts on the export."""
    from scanner.enforce.cases import CaseError
    from scanner.enforce.suspensions import approve

    try:
        approve(write_engine(database), case, officer, moment(now), note)
    except CaseError as exc:
        raise fail(str(exc)) from None
    emit({"case_id": case, "state": "approved", "approved_by": officer})


@suspensions_app.command("export")
def suspensions_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write for the BSS.")],
    full_numbers: Annotated[
        bool, typer.Option("--full-numbers", help="Write full mobile and ID numbers (the BSS needs them).")
    ] = False,
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Write the approved cases not yet exported (masked numbers unless --full-numbers)."""
    from scanner.enforce.suspensions import export_approved

    rows = export_approved(write_engine(database), output, officer or login(), moment(now), full_numbers)
    emit({"exported": len(rows), "file": str(output)})


@suspensions_app.command("confirm")
def suspensions_confirm(
    cases: Annotated[list[int], typer.Argument(help="Case ids the BSS suspended.")],
    bss_ref: Annotated[str, typer.Option("--bss-ref", help="The BSS's reference for the batch.")],
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Record that the BSS suspended these lines."""
    from scanner.enforce.cases import CaseError
    from scanner.enforce.suspensions import confirm

    try:
        done = confirm(write_engine(database), cases, bss_ref, moment(now))
    except CaseError as exc:
        raise fail(str(exc)) from None
    emit({"confirmed": done})


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
    format: FormatOpt = "text",
    database: DatabaseOpt = None,
) -> None:
    """Online re-verification: judge new photos at once; on pass the case is resolved, pending notices
    cancelled and a confirmation SMS queued."""
    from scanner.cli.console import console
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
    if format == "json":
        emit(result.__dict__)
    else:
        console.print(f"re-verification {result.remediation_id} of {account}: {result.verdict}", highlight=False)
        for item in result.evidence:
            console.print(f"  {item['code']} ({item['photo_kind']}): {item['detail']}", highlight=False)
        if result.case_resolved:
            console.print(
                f"case {result.case_id} resolved; {result.notices_cancelled} pending notices cancelled; "
                f"confirmation SMS {'queued' if result.confirmation_queued else 'already queued'}",
                highlight=False,
            )
        elif result.verdict == "pass":
            console.print("no open case: the new photos are on file", highlight=False)
        else:
            console.print("the photos do not pass: nothing changed; the notices go on", highlight=False)
    if result.verdict != "pass":
        raise typer.Exit(1)
