"""``realname audit``: the tamper-evident audit trail, verified and read. Wiring only: the work is in
``scanner.audit``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from scanner.cli.common import DatabaseOpt, FormatOpt, OutputFormat, emit, fail, moment

audit_app = typer.Typer(help="The hash-chained audit log: verify it, read it.", no_args_is_help=True)


def _anchor(value: str) -> tuple[int, str]:
    seq, sep, digest = value.partition(":")
    digest = digest.strip().lower()
    if not sep or not seq.strip().isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise fail(f"--anchor {value!r}: give SEQ:DIGEST, e.g. 1200:<64 hex digits>")
    return int(seq), digest


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--anchor",
            help="SEQ:DIGEST from an earlier report: the row SEQ must still have that digest (catches a "
            "rewrite of the whole chain).",
        ),
    ] = None,
    format: FormatOpt = OutputFormat.TEXT,
    database: DatabaseOpt = None,
) -> None:
    """Check the audit log's hash chain, every finished run's findings and every case's history; name
    the first row altered, deleted, inserted or reordered. Exit 0 when intact, 1 otherwise."""
    from scanner.audit.verify import verify
    from scanner.db import database_url, open_engine

    pinned = _anchor(anchor) if anchor else None
    with open_engine(database).connect() as conn:
        result = verify(conn, pinned, url=database_url(database))
    if format is OutputFormat.JSON:
        emit(result.to_dict())
    else:
        _print_verification(result)
    raise typer.Exit(0 if result.intact else 1)


def _print_verification(result: object) -> None:
    from scanner.audit.verify import Verification

    assert isinstance(result, Verification)
    lines = []
    if result.log_break is None:
        lines.append(f"audit log intact: {result.rows} rows checked")
    else:
        b = result.log_break
        lines.append(f"audit log BROKEN at seq {b.seq}: {b.kind} ({b.why}); intact up to seq {result.head_seq}")
    lines.append(f"head: seq {result.head_seq} digest {result.head_digest}")
    lines.append(f"runs checked: {result.runs_checked}")
    for p in result.run_problems:
        lines.append(f"run {p.run_id} ALTERED: {p.why}")
    lines.append(f"case histories checked: {result.cases_checked}")
    if result.broken_cases:
        lines.append(f"case histories BROKEN: {', '.join(map(str, result.broken_cases))}")
    if result.anchor is not None:
        lines.append(f"anchor seq {result.anchor[0]}: {result.anchor_problem or 'matches'}")
    lines.append("seconds: " + ", ".join(f"{part} {s:.1f}" for part, s in result.seconds.items()))
    lines.append("intact" if result.intact else "NOT intact")
    typer.echo("\n".join(lines))


@audit_app.command("log")
def audit_log(
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--since", help="From this date (YYYY-MM-DD, policy time zone) or ISO time."),
    ] = None,
    actor: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--actor", help="Only this actor (e.g. officer:wang, rescan, cases advance)."),
    ] = None,
    subscriber: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--subscriber", help="Only rows about this subscriber (account id or mobile number)."),
    ] = None,
    action: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--action", help="Only actions starting with this (e.g. notice. or case.approve)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="The newest N rows matching, oldest first.")] = 100,
    format: FormatOpt = OutputFormat.TEXT,
    database: DatabaseOpt = None,
) -> None:
    """Read the audit log (numbers masked): who did what, when, to which case, notice or subscriber."""
    import orjson

    from scanner.audit.query import LogFilter, read_log
    from scanner.db import open_engine

    flt = LogFilter(moment(since) if since else None, actor, subscriber, action, limit)
    with open_engine(database).connect() as conn:
        rows = read_log(conn, flt)
    if format is OutputFormat.JSON:
        for row in rows:
            emit(row)
        return
    for row in rows:
        who = f" [{row['subscriber']}]" if row["subscriber"] else ""
        detail = orjson.dumps(row["detail"]).decode()
        typer.echo(f"{row['seq']:>8} {row['at']} {row['actor']} {row['action']} {row['subject']}{who} {detail}")
