"""The terminal: the consoles, progress bars for long work and JSON log lines for cron."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from scanner.scan.rescan import Progress as ScanProgress

# Piped output (reports saved to files, cron mail) gets room for wide tables.
_PIPE_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
console = Console(soft_wrap=True, width=_PIPE_WIDTH)
err_console = Console(stderr=True, soft_wrap=True)


# C0 and C1 control characters but tab and newline: an escape sequence in a photo path or a reason
# must not reach the terminal (or a report file) as a command.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: object, style: str = "") -> Text:
    """Text from files, officers or subscribers as the terminal shows it: never read as markup, and
    control characters shown as ``\\xNN``."""
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value)), style=style)


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed and task.finished and task.elapsed:
            # A short run ends before rich has two samples to take a speed from: the mean will do.
            speed = (task.completed - task.fields.get("at_start", 0)) / task.elapsed
        return Text(f"{speed:.1f} photo/s" if speed else "-- photo/s", style="cyan")


def log_line(event: str, **fields: Any) -> None:
    """One JSON object per line on standard error, for cron and log collectors."""
    record = {"ts": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "event": event, **fields}
    sys.stderr.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stderr.flush()


def _progress_fields(p: ScanProgress) -> dict[str, Any]:
    rate, eta = p.rate(), p.eta_seconds()
    return {
        "photos_done": p.photos_done,
        "photos_total": p.photos_total,
        "subscribers_done": p.subscribers_done,
        "subscribers_total": p.subscribers_total,
        "photos_per_second": round(rate, 2) if rate else None,
        "eta_seconds": round(eta) if eta is not None else None,
        "failures": p.failures,
        "unreadable": p.unreadable,
        "measured": p.measured,
        "from_cache": p.from_cache,
    }


@contextmanager
def scan_progress(quiet: bool = False, every_seconds: float = 30.0) -> Iterator[tuple[Any, Any]]:
    """Yields ``(on_start, on_progress)`` callbacks for ``rescan``: a progress bar,
    or with ``quiet`` a JSON log line at the start and at most every ``every_seconds``."""
    if quiet:
        last = [time.monotonic()]

        def start_line(run: Any, p: ScanProgress) -> None:
            log_line(
                "started",
                run=run.id,
                mode=run.mode,
                policy=f"{run.policy_name} {run.policy_version}",
                **_progress_fields(p),
            )

        def progress_line(p: ScanProgress) -> None:
            if time.monotonic() - last[0] >= every_seconds:
                last[0] = time.monotonic()
                log_line("progress", **_progress_fields(p))

        yield start_line, progress_line
        return
    bar = Progress(
        TextColumn("[bold]rescan[/]"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("fail [red]{task.fields[failures]}[/] unreadable {task.fields[unreadable]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
    )
    state: dict[str, Any] = {}

    def on_start(run: Any, p: ScanProgress) -> None:
        err_console.print(
            Text.assemble(
                "run ",
                (str(run.id), "bold"),
                f" ({run.mode}): policy ",
                plain(f"{run.policy_name} {run.policy_version}"),
                f", as of {run.as_of}",
                f"; continuing after {p.subscribers_done} subscribers already judged" if p.subscribers_done else "",
            )
        )
        bar.start()  # only now: a run refused before it starts leaves standard error to its one error line
        state["task"] = bar.add_task(
            "photos",
            total=p.photos_total,
            completed=p.photos_done,
            failures=p.failures,
            unreadable=p.unreadable,
            at_start=p.photos_done,
        )

    def on_progress(p: ScanProgress) -> None:
        if "task" in state:
            bar.update(state["task"], completed=p.photos_done, failures=p.failures, unreadable=p.unreadable)

    try:
        yield on_start, on_progress
    finally:
        if "task" in state:
            bar.stop()
