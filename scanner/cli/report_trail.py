"""``realname report --subscriber``: one subscriber's whole evidence trail as a table, JSON or an HTML
page. Wiring only: the data is ``scanner.report.trail``, the table ``console_trail``, the page
``scanner.report.trail_html``. A reveal of full numbers is on the record before anything is shown."""

from __future__ import annotations

from pathlib import Path

from scanner.cli.common import fail, login, output_stream


def trail_report(
    who: str,
    fmt: str,
    output: Path | None,
    lang: str,
    reveal_by: tuple[str | None, str | None] | None,
    officer: str | None,
    database: str | None,
) -> None:
    """``reveal_by``: (officer, reason) when full numbers are asked for; both are required."""
    from rich.console import Console

    from scanner.cli.console import console
    from scanner.cli.console_trail import trail_renderables
    from scanner.db import database_url, open_engine, write_engine_for
    from scanner.enforce.cases import CaseError
    from scanner.report.disclosure import EXPORT, REVEAL, record
    from scanner.report.trail import subscriber_trail
    from scanner.scan.report import write_json

    if reveal_by is not None and not all(part and part.strip() for part in reveal_by):
        raise fail("--reveal needs --officer NAME and --reason TEXT: every reveal is recorded in the audit log")
    actor = (officer or "").strip() or login()
    engine = open_engine(database)
    try:
        trail = subscriber_trail(engine, who, reveal=reveal_by is not None)
    except CaseError as exc:
        raise fail(str(exc)) from None
    about = f"subscriber:{trail['subscriber']['account_id']}"
    writer = write_engine_for(database_url(database))
    sid = trail["subscriber_id"]
    if reveal_by is not None:
        where = str(output) if output else "stdout"
        record(writer, actor, REVEAL, about, subscriber_id=sid, format=fmt, output=where, reason=reveal_by[1])
    if output is not None:
        record(writer, actor, EXPORT, about, subscriber_id=sid, format=fmt, output=str(output))
    with output_stream(output) as fh:
        if fmt == "json":
            write_json(trail, fh)
        elif fmt == "html":
            from scanner.report.trail_html import write_trail_html

            write_trail_html(trail, fh, prepared_by=actor)
        else:
            target = console if output is None else Console(file=fh, width=160)
            for item in trail_renderables(trail, lang):
                target.print(item)
