"""Terminal rendering with rich: progress for long work, summary and report tables."""

from __future__ import annotations

import datetime as dt
import json
import os
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
from rich.table import Table
from rich.text import Text

from scanner.scan.rescan import Progress as ScanProgress

# Piped output (reports saved to files, cron mail) gets room for wide tables.
_PIPE_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
console = Console(soft_wrap=True, width=_PIPE_WIDTH)
err_console = Console(stderr=True, soft_wrap=True)


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
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
            f"run [bold]{run.id}[/] ({run.mode}): policy {run.policy_name} {run.policy_version}, as of {run.as_of}"
            + (f"; continuing after {p.subscribers_done} subscribers already judged" if p.subscribers_done else "")
        )
        state["task"] = bar.add_task(
            "photos", total=p.photos_total, completed=p.photos_done, failures=p.failures, unreadable=p.unreadable
        )

    def on_progress(p: ScanProgress) -> None:
        if "task" in state:
            bar.update(state["task"], completed=p.photos_done, failures=p.failures, unreadable=p.unreadable)

    with bar:
        yield on_start, on_progress


_VERDICT_STYLE = {"pass": "green", "review": "yellow", "fail": "red"}


def _share_table(title: str, column: str, counts: dict[str, int], total: int, styles: dict[str, str]) -> Table:
    """Names with their subscriber counts and their share of ``total``."""
    table = Table(title=title, show_edge=False)
    table.add_column(column)
    table.add_column("subscribers", justify="right")
    table.add_column("share", justify="right")
    for name, n in counts.items():
        table.add_row(Text(name, style=styles.get(name, "")), str(n), f"{n / (total or 1):.1%}")
    return table


def verdict_table(totals: dict[str, Any]) -> Table:
    counts = totals.get("verdicts", {})
    return _share_table("Verdicts", "verdict", counts, sum(counts.values()), _VERDICT_STYLE)


def reason_table(totals: dict[str, Any]) -> Table:
    table = Table(title="Reasons", show_edge=False)
    table.add_column("reason")
    table.add_column("subscribers", justify="right")
    for reason, n in sorted(totals.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(reason, str(n))
    return table


def _evidence_text(item: dict[str, Any]) -> str:
    parts = [item["code"]]
    if item.get("photo_kind"):
        parts.append(f"({item['photo_kind']})")
    if item.get("measure") and item.get("value") is not None:
        rel = item.get("comparison") or "vs"
        threshold = item.get("threshold")
        parts.append(f"{item['measure']}={item['value']}" + (f" {rel} {threshold}" if threshold is not None else ""))
    elif item.get("detail"):
        parts.append(item["detail"])
    return " ".join(parts)


def subscriber_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("account")
    table.add_column("msisdn")
    table.add_column("verdict")
    table.add_column("evidence")
    for row in rows:
        style = _VERDICT_STYLE.get(row["verdict"], "green")
        table.add_row(
            row["account_id"],
            row["msisdn"],
            Text(row["verdict"], style=style),
            Text("\n".join(_evidence_text(e) for e in row["evidence"]) or "-"),
        )
    return table


def _rate(share: dict[str, Any] | None) -> str:
    if not share or share.get("rate") is None:
        return "-"
    return f"{share['rate']:.1%} ({share['count']}/{share['n']})"


def calibration_tables(summary: dict[str, Any], policy_label: str) -> list[Table]:
    """Rich tables for a calibration summary (see ``scanner.scan.calibrate``)."""
    head = Table(title=f"Calibration under policy {policy_label}", show_edge=False)
    head.add_column("figure")
    head.add_column("value", justify="right")
    head.add_row("photos measured", str(summary["photos"]))
    head.add_row("unreadable", str(summary["unreadable"]))
    head.add_row("face found, clear photos", _rate(summary["face_found_clear"]))
    head.add_row("clear photos flagged for occlusion, blur or exposure", _rate(summary["clear_wrongly_flagged"]))
    head.add_row("clear photos with NO_FACE", _rate(summary["clear_no_face"]))

    attrs = Table(title="Attributes and derived variants", show_edge=False)
    for column in ("photos", "expected reason", "flagged with it", "not passed", "NO_FACE"):
        attrs.add_column(column, justify="left" if column in ("photos", "expected reason") else "right")
    for group in ("attributes", "variants"):
        for name, row in summary[group].items():
            attrs.add_row(
                name if group == "attributes" else f"variant: {name}",
                " or ".join(row["expected_reasons"]),
                _rate(row["flagged"]),
                _rate(row["not_passed"]),
                _rate(row["no_face"]),
            )

    fm = summary["face_match"]
    bands = Table(
        title=f"Face match ({fm['pairs_from']}): match <= {fm['match_max_distance']}, "
        f"mismatch > {fm['mismatch_above_distance']}",
        show_edge=False,
    )
    for column in ("pairs", "n", "match", "review", "mismatch"):
        bands.add_column(column, justify="left" if column == "pairs" else "right")
    for label in ("genuine", "impostor"):
        row = fm[label]
        bands.add_row(
            label,
            str(row["pairs"]),
            *(f"{row[b]:.2%}" if row[b] is not None else "-" for b in ("match", "review", "mismatch")),
        )

    sweep = Table(title="Accept rates over thresholds", show_edge=False)
    for column in ("distance <=", "genuine accepted", "impostor accepted"):
        sweep.add_column(column, justify="right")
    for row in fm["over_thresholds"]:
        sweep.add_row(
            f"{row['distance_at_most']:.3f}",
            "-" if row["genuine_accept"] is None else f"{row['genuine_accept']:.3f}",
            "-" if row["impostor_accept"] is None else f"{row['impostor_accept']:.4f}",
        )
    return [head, attrs, bands, sweep]


_CHANGE_STYLE = {"newly_failing": "red", "newly_passing": "green", "newly_review": "yellow"}
_CHANGE_TITLES = {
    "newly_failing": ("Newly failing", "new reason"),
    "newly_passing": ("Newly passing", "reason gone"),
    "newly_review": ("Newly in review", "new reason"),
    "fail_to_review": ("Fail to review", ""),
    "unchanged": ("Unchanged verdict", ""),
    "only_in_a": ("Only in run A", ""),
    "only_in_b": ("Only in run B", ""),
}


def _run_line(label: str, run: dict[str, Any]) -> Text:
    policy = run["policy"]
    return Text.from_markup(
        f"  {label}  [bold]run {run['id']}[/]  policy {policy['name']} {policy['version']} "
        f"(sha256 {policy['sha256'][:12]}), {run['mode']}, as of {run['as_of']}, {run['status']}"
    )


def _count_table(title: str, column: str, counts: dict[str, int], extra: tuple[str, int] | None = None) -> Table:
    table = Table(title=title, show_edge=False)
    table.add_column(column)
    table.add_column("subscribers", justify="right")
    for name, n in counts.items():
        table.add_row(name, str(n))
    if extra and extra[1]:
        table.add_row(Text(extra[0], style="dim"), str(extra[1]))
    if not table.row_count:
        table.add_row("-", "0")
    return table


def _transition_table(diff: dict[str, Any]) -> Table:
    matrix = diff["transitions"]
    states = list(matrix)
    table = Table(title="Verdict in run A (rows) -> run B (columns)", show_edge=False)
    table.add_column(f"run {diff['run_a']['id']} \\ run {diff['run_b']['id']}")
    for vb in states:
        table.add_column(Text("not in B" if vb == "absent" else vb, style=_VERDICT_STYLE.get(vb, "")), justify="right")
    table.add_column("total", justify="right")
    for va in states:
        row = matrix[va]
        if va == "absent" and not any(row.values()):
            continue
        cells = [Text(str(n), style="bold" if n and va != vb else "dim" if not n else "") for vb, n in row.items()]
        label = Text("not in A" if va == "absent" else va, style=_VERDICT_STYLE.get(va, ""))
        table.add_row(label, *cells, str(sum(row.values())))
    totals = [sum(matrix[va][vb] for va in states) for vb in states]
    table.add_row(Text("total", style="italic"), *map(str, totals), str(sum(totals)))
    return table


def _breakdown_grid(name: str, part: dict[str, Any]) -> Table:
    title, reason_label = _CHANGE_TITLES[name]
    grid = Table.grid(padding=(0, 4))
    grid.title = f"{title}: {part['subscribers']} subscribers"
    grid.title_style = "bold " + _CHANGE_STYLE[name]
    unchanged_codes = ("(same codes, other severity)", part["no_reason_change"])
    grid.add_row(
        _count_table(f"by {reason_label}", "reason", part["by_reason"], unchanged_codes),
        _count_table("by join year", "joined", part["by_join_year"]),
        _count_table("by region (ID number)", "province", part["by_region"]),
    )
    return grid


def _list_table(name: str, listed: dict[str, Any], total: int, limit: int) -> Table:
    rows = listed["subscribers"] if limit == 0 else listed["subscribers"][:limit]
    title = _CHANGE_TITLES[name][0]
    table = Table(title=f"{title}: {len(rows)} of {total} subscribers", show_edge=False)
    for column in ("account", "msisdn", "region", "joined", "verdict A -> B"):
        table.add_column(column, no_wrap=column != "region")
    table.add_column("reasons in A", min_width=20)
    table.add_column("reasons in B", min_width=20)
    for row in rows:
        move = Text()
        move.append(row["verdict_a"] or "-", style=_VERDICT_STYLE.get(row["verdict_a"] or "", ""))
        move.append(" -> ")
        move.append(row["verdict_b"] or "-", style=_VERDICT_STYLE.get(row["verdict_b"] or "", ""))
        table.add_row(
            row["account_id"],
            row["msisdn"],
            row["region"],
            str(row["join_year"]),
            move,
            ", ".join(row["reasons_a"] or []) or "-",
            ", ".join(row["reasons_b"] or []) or "-",
        )
    return table


def diff_renderables(diff: dict[str, Any], limit: int) -> list[Any]:
    """What ``realname report --diff`` prints (see ``scanner.scan.diff``): runs, warnings, the changes and the
    transition matrix, the breakdowns of newly failing, passing and review subscribers, then at most
    ``limit`` subscribers of each changed category (0: every one the diff listed)."""
    from scanner.scan.diff import LIST_LIMIT

    counts = diff["counts"]
    a, b = diff["run_a"], diff["run_b"]
    out: list[Any] = [
        Text.from_markup(
            f"[bold]Run {a['id']} -> run {b['id']}[/]: [red]{counts['newly_failing']} newly failing[/], "
            f"[green]{counts['newly_passing']} newly passing[/], [yellow]{counts['newly_review']} newly in review[/] "
            f"of {diff['subscribers']} subscribers"
        ),
        _run_line("A", a),
        _run_line("B", b),
    ]
    out.extend(Text(f"warning: {w}", style="bold yellow") for w in diff["warnings"])
    changes = _share_table("Changes", "change", counts, diff["subscribers"], _CHANGE_STYLE)
    grid = Table.grid(padding=(0, 4))
    grid.add_row(changes, _transition_table(diff))
    out.append(grid)
    for name in ("newly_failing", "newly_passing", "newly_review"):
        if diff[name]["subscribers"]:
            out.append(_breakdown_grid(name, diff[name]))
    still = diff["unchanged_new_reasons"]
    if still["subscribers"]:
        title = f"Same verdict, new reasons: {still['subscribers']} subscribers"
        out.append(_count_table(title, "new reason", still["by_reason"]))
    for name, listed in diff["lists"].items():
        if not counts[name]:
            continue
        out.append(_list_table(name, listed, counts[name], limit))
        hidden = counts[name] - (len(listed["subscribers"]) if limit == 0 else min(limit, len(listed["subscribers"])))
        if hidden:
            out.append(Text(f"... {hidden} more not shown: raise --limit, or --format json for the first {LIST_LIMIT}"))
    return out
