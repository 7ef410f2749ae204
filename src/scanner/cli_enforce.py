"""The enforcement commands of ``realname``: cases, holds, the notice queue, suspensions
and re-verification. Wiring only: the work is in ``scanner.advance``, ``scanner.holdsdb``,
``scanner.noticequeue``, ``scanner.suspensions`` and ``scanner.remediate``.

The queue commands speak JSON lines (one request per line on standard input, one
answer per line on standard output) so an SMS system can drive them from any language.
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

cases_app = typer.Typer(help="Enforcement cases: advance them (cron), show one, exempt one.", no_args_is_help=True)
holds_app = typer.Typer(help="Holds that freeze notices and eligibility in a scope.", no_args_is_help=True)
notices_app = typer.Typer(
    help="The notice queue for the SMS system (JSON lines): claim, ack, nack, receipt, stats.", no_args_is_help=True
)
suspensions_app = typer.Typer(
    help="Suspensions: list, approve (a named officer), export for the BSS, confirm.", no_args_is_help=True
)

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
    typer.Option("--policy", help="Policy TOML file with the ladder and notice settings (default: the bundled one)."),
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


def _fail(message: str, code: int = 2) -> typer.Exit:
    from scanner.console import err_console

    err_console.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _loaded(policy: Path | None) -> Any:
    from scanner.policyfile import load_policy

    try:
        return load_policy(policy)
    except PolicyError as exc:
        raise _fail(str(exc)) from None


def _now(value: str | None, zone: str | None = None) -> dt.datetime:
    """Now, or the time given; a time without a zone is in ``zone`` (default: the bundled policy's)."""
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone or _loaded(None).enforcement.zone))
    return parsed.astimezone(dt.UTC)


def _engine(database: str | None) -> Any:
    from scanner.db import database_url, open_engine, write_engine_for

    open_engine(database)
    return write_engine_for(database_url(database))


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _requests() -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
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


# --- cases -------------------------------------------------------------------------------------


@cases_app.command("advance")
def cases_advance(
    policy: PolicyOpt = None, now: NowOpt = None, format: FormatOpt = "text", database: DatabaseOpt = None
) -> None:
    """Open, advance, resolve and schedule every case (idempotent: run it from cron)."""
    from scanner.advance import advance
    from scanner.console import console

    loaded = _loaded(policy)
    at = _now(now, loaded.enforcement.zone)
    summary = advance(_engine(database), loaded.enforcement, at).to_dict()
    if format == "json":
        _emit(summary)
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
    from scanner.caselog import CaseError
    from scanner.casequery import case_history
    from scanner.console import console
    from scanner.console_cases import case_renderables

    try:
        data = case_history(_engine(database), who)
    except CaseError as exc:
        raise _fail(str(exc)) from None
    if format == "json":
        _emit(data)
        return
    for item in case_renderables(data):
        console.print(item)


@cases_app.command("summary")
def cases_summary(database: DatabaseOpt = None) -> None:
    """How many cases are in each state (JSON)."""
    from scanner.casequery import case_counts

    _emit(case_counts(_engine(database)))


@cases_app.command("exempt")
def cases_exempt(
    case: Annotated[int, typer.Argument(help="Case id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the subscriber is exempted.")],
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """End a case by an officer's decision (pending notices are cancelled)."""
    from scanner.caselog import CaseError
    from scanner.suspensions import exempt

    try:
        cancelled = exempt(_engine(database), case, officer or _login(), reason, _now(now))
    except CaseError as exc:
        raise _fail(str(exc)) from None
    _emit({"case_id": case, "state": "exempted", "notices_cancelled": cancelled})


# --- holds -------------------------------------------------------------------------------------


def _hold_time(value: str, zone: str, end_of_day: bool) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end_of_day else 0)
            return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
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
    from scanner.caselog import CaseError
    from scanner.holdsdb import add_hold

    zone = _loaded(policy).enforcement.zone
    at = _now(now, zone)
    try:
        hold_id = add_hold(
            _engine(database),
            scope,
            reason,
            _hold_time(until, zone, end_of_day=True),
            officer or _login(),
            at,
            starts_at=_hold_time(starts, zone, end_of_day=False) if starts else None,
        )
    except (CaseError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _emit({"hold_id": hold_id, "scope": scope, "until": _hold_time(until, zone, True).isoformat()})


@holds_app.command("list")
def holds_list(
    all_holds: Annotated[bool, typer.Option("--all", help="Include holds that have ended.")] = False,
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Holds in force and scheduled (JSON lines)."""
    from scanner.holdsdb import list_holds

    for hold in list_holds(_engine(database), _now(now), include_ended=all_holds):
        _emit(hold)


@holds_app.command("lift")
def holds_lift(
    hold: Annotated[int, typer.Argument(help="Hold id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is lifted early.")],
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """End a hold now; delays of the cases it covered count from now."""
    from scanner.caselog import CaseError
    from scanner.holdsdb import lift_hold

    try:
        lift_hold(_engine(database), hold, officer or _login(), reason, _now(now))
    except CaseError as exc:
        raise _fail(str(exc)) from None
    _emit({"hold_id": hold, "lifted": True})


# --- the notice queue --------------------------------------------------------------------------


def _queue(policy: Path | None, database: str | None) -> Any:
    from scanner.noticequeue import SqlNoticeQueue

    return SqlNoticeQueue(_engine(database), _loaded(policy).enforcement)


@notices_app.command("claim")
def notices_claim(
    n: Annotated[int, typer.Option("--n", min=1, max=1000, help="At most this many notices.")] = 10,
    consumer: Annotated[str, typer.Option("--consumer", help="The consumer's name (recorded on the claim).")] = "",
    lease: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--lease", min=10, help="Seconds before an unacknowledged claim is handed out again."),
    ] = None,
    channel: Annotated[str, typer.Option("--channel", help="sms (default), call, letter or app.")] = "sms",
    policy: PolicyOpt = None,
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Lease due notices: one JSON line each, with the FULL number for the gateway (nothing outside the
    send window)."""
    queue = _queue(policy, database)
    for notice in queue.claim(n, consumer or _login(), lease, channel, now=_now(now, queue.enforcement.zone)):
        _emit(
            {
                "id": notice.id,
                "token": notice.claim_token,
                "lease_expires_at": notice.lease_expires_at.isoformat(),
                "msisdn": notice.msisdn,
                "channel": notice.channel,
                "template": notice.template,
                "params": notice.params,
                "text": notice.text,
                "segments": notice.segments,
                "attempts": notice.attempts,
            }
        )


def _answer_lines(policy: Path | None, database: str | None, now: str | None, call: str) -> None:
    from scanner.noticequeue import QueueError

    queue = _queue(policy, database)
    failures = 0
    for number, request, error in _requests():
        if request is None:
            failures += 1
            _emit({"line": number, "error": error})
            continue
        at = _now(now, queue.enforcement.zone)
        try:
            if call == "ack":
                result = queue.ack(int(request["id"]), str(request["token"]), str(request["gateway_message_id"]), at)
                _emit({"id": request["id"], "status": result})
            elif call == "nack":
                result = queue.nack(
                    int(request["id"]),
                    str(request["token"]),
                    str(request.get("error") or "unspecified"),
                    bool(request.get("permanent", False)),
                    at,
                )
                _emit({"id": request["id"], "status": result})
            else:
                done = request.get("done_at")
                done_at = _now(str(done)) if done else None
                result = queue.receipt(
                    str(request["gateway_message_id"]), str(request["stat"]), request.get("error"), done_at, at
                )
                _emit({"gateway_message_id": request["gateway_message_id"], "result": result})
        except KeyError as exc:
            failures += 1
            _emit({"line": number, "error": f"line {number}: missing field {exc.args[0]!r}"})
        except (QueueError, ValueError) as exc:
            failures += 1
            _emit({"line": number, "id": request.get("id"), "error": str(exc)})
    if failures:
        raise typer.Exit(1)


@notices_app.command("ack")
def notices_ack(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Acknowledge sent notices: lines {"id", "token", "gateway_message_id"} on standard input."""
    _answer_lines(policy, database, now, "ack")


@notices_app.command("nack")
def notices_nack(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Give notices back: lines {"id", "token", "error", "permanent"}; retried later or dead."""
    _answer_lines(policy, database, now, "nack")


@notices_app.command("receipt")
def notices_receipt(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Delivery receipts: lines {"gateway_message_id", "stat", "error", "done_at"} (SMPP stat values)."""
    _answer_lines(policy, database, now, "receipt")


@notices_app.command("stats")
def notices_stats(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Counts by channel and status, due now, expired leases (one JSON object)."""
    queue = _queue(policy, database)
    _emit(queue.stats(_now(now, queue.enforcement.zone)))


# --- suspensions -------------------------------------------------------------------------------


@suspensions_app.command("list")
def suspensions_list(database: DatabaseOpt = None) -> None:
    """Eligible and approved cases (JSON lines, numbers masked)."""
    from scanner.suspensions import pending_decisions

    for row in pending_decisions(_engine(database)):
        _emit(row)


@suspensions_app.command("approve")
def suspensions_approve(
    case: Annotated[int, typer.Argument(help="Case id (eligible).")],
    officer: Annotated[str, typer.Option("--officer", help="The approving officer's name (required).")],
    note: Annotated[str, typer.Option("--note", help="A note for the history.")] = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Approve suspension of an eligible case. Nothing is suspended until the BSS acts on the export."""
    from scanner.caselog import CaseError
    from scanner.suspensions import approve

    try:
        approve(_engine(database), case, officer, _now(now), note)
    except CaseError as exc:
        raise _fail(str(exc)) from None
    _emit({"case_id": case, "state": "approved", "approved_by": officer})


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
    from scanner.suspensions import export_approved

    rows = export_approved(_engine(database), output, officer or _login(), _now(now), full_numbers)
    _emit({"exported": len(rows), "file": str(output)})


@suspensions_app.command("confirm")
def suspensions_confirm(
    cases: Annotated[list[int], typer.Argument(help="Case ids the BSS suspended.")],
    bss_ref: Annotated[str, typer.Option("--bss-ref", help="The BSS's reference for the batch.")],
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Record that the BSS suspended these lines."""
    from scanner.caselog import CaseError
    from scanner.suspensions import confirm

    try:
        done = confirm(_engine(database), cases, bss_ref, _now(now))
    except CaseError as exc:
        raise _fail(str(exc)) from None
    _emit({"confirmed": done})


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
    from scanner.caselog import CaseError
    from scanner.console import console
    from scanner.remediate import remediate

    loaded = _loaded(policy)
    photos = {"live": str(live)}
    if id_portrait:
        photos["id_portrait"] = id_portrait
    if handheld:
        photos["handheld"] = handheld
    try:
        result = remediate(_engine(database), loaded, account, photos, _now(now, loaded.enforcement.zone))
    except CaseError as exc:
        raise _fail(str(exc)) from None
    if format == "json":
        _emit(result.__dict__)
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
