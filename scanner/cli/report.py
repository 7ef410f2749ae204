"""``realname report``: one run's verdicts and the subscribers behind them (a table, CSV, JSON or a
self-contained HTML page), or the diff of two runs. Wiring only: the data is ``scanner.report`` and
``scanner.scan.diff``; the text is ``console_scan`` and ``console_diff``."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TextIO

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

from scanner.cli.common import DatabaseOpt, OutputOpt, fail, login, output_stream


class ReportFormat(StrEnum):
    TABLE = "table"
    TEXT = "text"  # the earlier name of ``table``
    CSV = "csv"
    JSON = "json"
    HTML = "html"


class CsvEncoding(StrEnum):
    UTF8 = "utf-8"  # written with a byte order mark, so that Excel reads it as UTF-8
    GB18030 = "gb18030"


DEFAULT_LIMIT = {ReportFormat.TABLE: 40, ReportFormat.HTML: 200}


@contextmanager
def _text_out(output: Path | None, encoding: str) -> Iterator[TextIO]:
    """``output`` (or standard output) as text in ``encoding``, lines as written (for csv)."""
    if output is not None:
        with output.open("w", encoding=encoding, newline="") as fh:
            yield fh
        return
    out = io.TextIOWrapper(sys.stdout.buffer, encoding=encoding, newline="", write_through=True)
    try:
        yield out
    finally:
        out.flush()
        out.detach()


def report_command(
    run: Annotated[Optional[int], typer.Argument(help="Run id (default: the latest run).")] = None,  # noqa: UP045
    format: Annotated[
        ReportFormat,
        typer.Option(
            "--format", help="table (text; `text` is accepted too), csv, json or html (one self-contained page)."
        ),
    ] = ReportFormat.TABLE,
    verdict: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--verdict",
            help="Only these verdicts (repeatable). Default: fail and review for the table, all for csv and json.",
        ),
    ] = None,
    output: OutputOpt = None,
    limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--limit",
            min=0,
            help="List at most this many subscribers (0: all): the table's default is 40, html's 200 of each of the "
            "failing and review lists, csv and json write all; with --diff, the first 1000 of each change.",
            show_default=False,
        ),
    ] = None,
    encoding: Annotated[
        CsvEncoding, typer.Option("--encoding", help="csv: utf-8 (with a byte order mark, for Excel) or gb18030.")
    ] = CsvEncoding.UTF8,
    reveal: Annotated[
        bool,
        typer.Option(
            "--reveal",
            help="Full phone and ID numbers (csv, json, html); needs --officer and --reason, "
            "and is recorded in the audit log.",
        ),
    ] = False,
    officer: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--officer", help="Who asks for the report, for the audit log (needed with --reveal; default: login)."
        ),
    ] = None,
    reason: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--reason", help="Why the full numbers are needed (with --reveal), for the audit log."),
    ] = None,
    diff: Annotated[
        Optional[tuple[int, int]],  # noqa: UP045
        typer.Option(
            "--diff",
            metavar="RUN_A RUN_B",
            help="Compare two runs (e.g. the last enforcing run and a preview): who newly fails and who newly "
            "passes, by reason, join year and region.",
        ),
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", help="table and --subscriber: the language of the reasons' sentences, zh or en.")
    ] = "zh",
    subscriber: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--subscriber",
            metavar="ACCOUNT|MSISDN",
            help="One subscriber's whole evidence trail instead of a run's report (table, json or html): findings of "
            "every run with measured values and thresholds, cases, notices and receipts, holds, approvals, "
            "re-verifications.",
        ),
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Counts by verdict and reason, and the subscribers behind them (numbers masked) as a table, csv, json or
    one html page; with --diff, who newly fails and who newly passes between two runs."""
    from rich.console import Console

    from scanner.cli.console import console
    from scanner.cli.console_diff import diff_renderables
    from scanner.cli.console_report import report_renderables
    from scanner.db import database_url, open_engine, write_engine_for
    from scanner.scan.diff import LIST_LIMIT, build_diff
    from scanner.scan.report import ReportError, find_run, write_json

    fmt = ReportFormat.TABLE if format is ReportFormat.TEXT else format
    if lang not in ("zh", "en"):
        raise fail(f"--lang {lang!r}: give zh or en")
    if subscriber is not None:
        from scanner.cli.report_trail import trail_report

        if run is not None or diff is not None or verdict:
            raise fail("--subscriber shows every run of one subscriber: give no run, --diff or --verdict with it")
        if fmt is ReportFormat.CSV:
            raise fail("--subscriber is written as a table, json or html")
        reveal_by = (officer, reason) if reveal else None
        return trail_report(subscriber, fmt.value, output, lang, reveal_by, officer, database)
    if diff is not None:
        if run is not None:
            raise fail(f"give either a run ({run}) or --diff RUN_A RUN_B, not both")
        if verdict:
            raise fail("--verdict does not apply to --diff (the diff counts every subscriber of both runs)")
        if fmt not in (ReportFormat.TABLE, ReportFormat.JSON):
            raise fail("--diff is written as a table or json")
    if reveal:
        if not (officer and officer.strip()) or not (reason and reason.strip()):
            raise fail("--reveal needs --officer NAME and --reason TEXT: every reveal is recorded in the audit log")
        if fmt is ReportFormat.TABLE or diff is not None:
            raise fail("--reveal applies to a run's csv, json or html report")
    chosen = set(verdict) if verdict else ({"fail", "review"} if fmt is ReportFormat.TABLE else None)
    bad = (chosen or set()) - {"pass", "review", "fail"}
    if bad:
        raise fail(f"unknown verdict(s): {', '.join(sorted(bad))}")
    listed = DEFAULT_LIMIT.get(fmt, 0) if limit is None else limit
    engine = open_engine(database)
    try:
        if diff is not None:
            data = build_diff(
                engine, *diff, list_limit=(listed or LIST_LIMIT) if fmt is ReportFormat.TABLE else LIST_LIMIT
            )
            with output_stream(output) as fh:
                if fmt is ReportFormat.JSON:
                    write_json(data, fh)
                else:
                    target = console if output is None else Console(file=fh, width=160)
                    for item in diff_renderables(data, listed):
                        target.print(item)
            _record_file(database, output, officer, fmt, *diff)
            return
        if fmt is ReportFormat.TABLE:
            from scanner.report.listing import listing

            data = listing(engine, run, chosen or {"fail", "review"}, listed)
            with output_stream(output) as fh:
                target = console if output is None else Console(file=fh, width=160)
                for item in report_renderables(**data, lang=lang):
                    target.print(item)
            _record_file(database, output, officer, fmt, data["run"]["id"])
            return
        from sqlmodel import Session

        with Session(engine) as session:
            run_id = find_run(session, run).id
    except ReportError as exc:
        raise fail(str(exc)) from None
    assert run_id is not None
    actor = (officer or "").strip() or login()
    if reveal:
        from scanner.report.disclosure import REVEAL, record, subject

        record(
            write_engine_for(database_url(database)),
            actor,
            REVEAL,
            subject(run_id),
            format=fmt.value,
            output=str(output) if output else "stdout",
            reason=(reason or "").strip(),
        )
    _record_file(database, output, actor, fmt, run_id)
    _write(engine, run_id, fmt, output, chosen, listed, encoding, reveal, actor)


def _record_file(
    database: str | None, output: Path | None, actor: str | None, fmt: ReportFormat, *run_ids: int
) -> None:
    """An export of a report to a file is an audit row."""
    if output is None:
        return
    from scanner.db import database_url, write_engine_for
    from scanner.report.disclosure import EXPORT, record, subject

    record(
        write_engine_for(database_url(database)),
        (actor or "").strip() or login(),
        EXPORT,
        subject(*run_ids),
        format=fmt.value,
        output=str(output),
    )


def _write(
    engine: Engine,
    run_id: int,
    fmt: ReportFormat,
    output: Path | None,
    chosen: set[str] | None,
    limit: int,
    encoding: CsvEncoding,
    reveal: bool,
    actor: str,
) -> None:
    import itertools

    from scanner.report.rows import iter_rows

    rows = iter_rows(engine, run_id, chosen, reveal=reveal)
    if limit:
        rows = itertools.islice(rows, limit)
    if fmt is ReportFormat.CSV:
        from scanner.report.export import stream_csv

        with _text_out(output, "utf-8-sig" if encoding is CsvEncoding.UTF8 else "gb18030") as fh:
            stream_csv(rows, fh)
    elif fmt is ReportFormat.JSON:
        from sqlmodel import Session

        from scanner.report.export import stream_json
        from scanner.report.runs import find_run, run_summary

        with Session(engine) as session:
            found = find_run(session, run_id)
        head = {"run": run_summary(found), "totals": found.totals, "revealed": reveal}
        with output_stream(output) as fh:
            stream_json(head, rows, fh)
    else:
        from scanner.report.html import write_html

        with output_stream(output) as fh:
            write_html(engine, run_id, fh, limit=limit or 10**9, reveal=reveal, prepared_by=actor)
