"""``realname report``: one run's verdicts and the subscribers behind them, or the diff of two runs.
Wiring only: the data is ``scanner.scan.report`` and ``scanner.scan.diff``; the text is ``console_scan``."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from scanner.cli.common import DatabaseOpt, FormatOpt, OutputFormat, OutputOpt, fail, output_stream


def report_command(
    run: Annotated[Optional[int], typer.Argument(help="Run id (default: the latest run).")] = None,  # noqa: UP045
    format: FormatOpt = OutputFormat.TEXT,
    verdict: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--verdict", help="Only these verdicts (repeatable). Default: fail and review for text, all for json."
        ),
    ] = None,
    output: OutputOpt = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            min=0,
            help="Text format: list at most this many failing and this many review subscribers (0: all; with "
            "--diff, the first 1000 of each change).",
        ),
    ] = 40,
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
        str,
        typer.Option("--lang", help="Text format: the language of the reasons' sentences, zh or en."),
    ] = "zh",
    subscriber: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--subscriber",
            metavar="ACCOUNT|MSISDN",
            help="One subscriber's whole evidence trail instead of a run's report: findings of every run with "
            "measured values and thresholds, cases, notices and receipts, holds, approvals, re-verifications.",
        ),
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Counts by verdict and reason, and the subscribers behind them (numbers masked); with --diff, who newly
    fails and who newly passes between two runs."""
    from rich.console import Console

    from scanner.cli.console import console
    from scanner.cli.console_diff import diff_renderables
    from scanner.cli.console_report import report_renderables
    from scanner.db import open_engine
    from scanner.report.listing import listing
    from scanner.scan.diff import LIST_LIMIT, build_diff
    from scanner.scan.report import ReportError, build_report, write_json

    if diff is not None:
        if run is not None:
            raise fail(f"give either a run ({run}) or --diff RUN_A RUN_B, not both")
        if verdict:
            raise fail("--verdict does not apply to --diff (the diff counts every subscriber of both runs)")
    chosen = set(verdict) if verdict else ({"fail", "review"} if format is OutputFormat.TEXT else None)
    bad = (chosen or set()) - {"pass", "review", "fail"}
    if bad:
        raise fail(f"unknown verdict(s): {', '.join(sorted(bad))}")
    if lang not in ("zh", "en"):
        raise fail(f"--lang {lang!r}: give zh or en")
    if subscriber is not None:
        if run is not None or diff is not None:
            raise fail("--subscriber shows every run of one subscriber: give no run and no --diff with it")
        return _trail(subscriber, format, output, lang, database)
    try:
        if diff is not None:
            listed = (limit or LIST_LIMIT) if format is OutputFormat.TEXT else LIST_LIMIT
            data = build_diff(open_engine(database), *diff, list_limit=listed)
        elif format is OutputFormat.TEXT:
            data = listing(open_engine(database), run, chosen or {"fail", "review"}, limit)
        else:
            data = build_report(open_engine(database), run, chosen)
    except ReportError as exc:
        raise fail(str(exc)) from None
    with output_stream(output) as fh:
        if format is OutputFormat.JSON:
            write_json(data, fh)
            return
        target = console if output is None else Console(file=fh, width=160)
        items = diff_renderables(data, limit) if diff is not None else report_renderables(**data, lang=lang)
        for item in items:
            target.print(item)


def _trail(who: str, format: OutputFormat, output: Any, lang: str, database: str | None) -> None:
    from rich.console import Console

    from scanner.cli.console import console
    from scanner.cli.console_trail import trail_renderables
    from scanner.db import open_engine
    from scanner.enforce.cases import CaseError
    from scanner.report.trail import subscriber_trail
    from scanner.scan.report import write_json

    try:
        trail = subscriber_trail(open_engine(database), who)
    except CaseError as exc:
        raise fail(str(exc)) from None
    with output_stream(output) as fh:
        if format is OutputFormat.JSON:
            write_json(trail, fh)
            return
        target = console if output is None else Console(file=fh, width=160)
        for item in trail_renderables(trail, lang):
            target.print(item)
