"""``realname holds``: freeze notices and eligibility in a scope (a lockdown, a system fault, a
complaint). Wiring only: the work is in ``scanner.enforce.holds``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from scanner.cli.common import (
    DatabaseOpt,
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

holds_app = typer.Typer(help="Holds that freeze notices and eligibility in a scope.", no_args_is_help=True)

# --- holds -------------------------------------------------------------------------------------


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
    from notices.holds import HoldScope
    from scanner.enforce.cases import CaseError
    from scanner.enforce.holds import add_hold, covers

    zone = loaded_policy(policy).enforcement.zone
    at = moment(now, zone)
    ends = moment(until, zone, end_of_day=True)
    try:
        hold_id = add_hold(
            write_engine(database),
            scope,
            reason,
            ends,
            officer or login(),
            at,
            starts_at=moment(starts, zone) if starts else None,
        )
    except (CaseError, ValueError) as exc:
        raise fail(str(exc)) from None
    emit(
        {
            "hold_id": hold_id,
            "scope": scope,
            "covers": covers(HoldScope.parse(scope)),
            "until": ends.isoformat(),
        }
    )


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
