"""What ``realname report --diff`` prints: the two runs, who changed verdict, by reason, join year and
region, and the lists of subscribers (rich renderables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from scanner.cli.console import plain
from scanner.cli.console_scan import VERDICT_STYLE, share_table

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
        table.add_column(Text("not in B" if vb == "absent" else vb, style=VERDICT_STYLE.get(vb, "")), justify="right")
    table.add_column("total", justify="right")
    for va in states:
        row = matrix[va]
        if va == "absent" and not any(row.values()):
            continue
        cells = [Text(str(n), style="bold" if n and va != vb else "dim" if not n else "") for vb, n in row.items()]
        label = Text("not in A" if va == "absent" else va, style=VERDICT_STYLE.get(va, ""))
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
        move.append(row["verdict_a"] or "-", style=VERDICT_STYLE.get(row["verdict_a"] or "", ""))
        move.append(" -> ")
        move.append(row["verdict_b"] or "-", style=VERDICT_STYLE.get(row["verdict_b"] or "", ""))
        table.add_row(
            plain(row["account_id"]),
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
    changes = share_table("Changes", "change", counts, diff["subscribers"], _CHANGE_STYLE)
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
