"""``realname suspensions``: eligible cases, a named officer's approval, the export for the BSS and
its confirmation. Wiring only: the work is in ``scanner.enforce.suspensions``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.common import (
    DatabaseOpt,
    NowOpt,
    OfficerOpt,
    emit,
    fail,
    login,
    moment,
    write_engine,
)

suspensions_app = typer.Typer(
    help="Suspensions: list, approve (a named officer), export for the BSS, confirm.", no_args_is_help=True
)


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
        bool,
        typer.Option(
            "--full-numbers",
            help="Write full mobile and ID numbers: the file the BSS acts on. Only this marks the cases exported "
            "(as a batch); a masked export is a preview.",
        ),
    ] = False,
    batch: Annotated[
        int | None,
        typer.Option("--batch", help="Write an earlier batch again (its cases), e.g. after the file was lost."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Write the approved cases not yet exported (masked numbers unless --full-numbers)."""
    from scanner.enforce.cases import CaseError
    from scanner.enforce.suspensions import export_approved

    try:
        done = export_approved(
            write_engine(database), output, officer or login(), moment(now), full_numbers, batch=batch, force=force
        )
    except CaseError as exc:
        raise fail(str(exc)) from None
    emit({"exported": len(done.rows), "file": str(output), "batch": done.batch, "cases_marked_exported": done.consumed})


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
