"""What the scan commands print: verdict and reason tables, the report, the diff of two runs and a
calibration summary (rich renderables; the commands choose where they go)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from scanner.cli.console import plain

VERDICT_STYLE = {"pass": "green", "review": "yellow", "fail": "red"}


def share_table(title: str, column: str, counts: dict[str, int], total: int, styles: dict[str, str]) -> Table:
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
    return share_table("Verdicts", "verdict", counts, sum(counts.values()), VERDICT_STYLE)


def reason_table(totals: dict[str, Any]) -> Table:
    table = Table(title="Reasons", show_edge=False)
    table.add_column("reason")
    table.add_column("subscribers", justify="right")
    for reason, n in sorted(totals.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(reason, str(n))
    return table


def _rate(share: dict[str, Any] | None) -> str:
    if not share or share.get("rate") is None:
        return "-"
    return f"{share['rate']:.1%} ({share['count']}/{share['n']})"


def _rate_ci(share: dict[str, Any]) -> str:
    lo, hi = share.get("ci95") or (None, None)
    return _rate(share) + ("" if lo is None else f" [{lo:.1%}, {hi:.1%}]")


def calibration_by_source(summary: dict[str, Any]) -> Table:
    """Every photo rate per source repository, with its 95% Wilson interval."""
    table = Table(title="Per source (95% Wilson intervals)", show_edge=False)
    for column in ("source", "figure", "rate (count/n) [95% interval]"):
        table.add_column(column, justify="right" if column.startswith("rate") else "left")
    for source, figures in summary["by_source"].items():
        rows = [
            ("face found, clear photos", figures["face_found_clear"]),
            ("clear photos wrongly flagged", figures["clear_wrongly_flagged"]),
            *(
                (f"{name}: {' or '.join(g['expected_reasons'])}", g["flagged"])
                for name, g in figures["attributes"].items()
            ),
            *(
                (f"variant {name}: {' or '.join(g['expected_reasons'])}", g["flagged"])
                for name, g in figures["variants"].items()
            ),
        ]
        for figure, share in rows:
            if share["n"]:
                table.add_row(plain(source), figure, _rate_ci(share))
                source = ""  # named once per group of rows
        table.add_section()
    return table


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
    judged = fm["bands"]
    bands = Table(
        title=f"Face match ({fm['pairs_from']}), model {fm['model']} ({fm['measure']}): "
        + (f"match at {judged['match']}, mismatch past {judged['mismatch']}" if judged else "no bands"),
        show_edge=False,
    )
    for column in ("pairs", "n", "match", "review", "mismatch"):
        bands.add_column(column, justify="left" if column == "pairs" else "right")
    for model, row in fm["models"].items():
        for label in ("genuine", "impostor"):
            got = row[label]
            bands.add_row(
                f"{model} {label}",
                str(got["pairs"]),
                *(f"{got[b]:.2%}" if got[b] is not None else "-" for b in ("match", "review", "mismatch")),
            )

    rates = Table(title="Genuine pairs accepted at an impostor accept rate (threshold)", show_edge=False)
    for column in ("model", "pairs", "at 0.10%", "at 0.01%"):
        rates.add_column(column, justify="left" if column in ("model", "pairs") else "right")

    def at(row: dict[str, Any] | None) -> str:
        if row is None:
            return "-"
        edge = "-" if row["threshold_past"] is None else f"{row['threshold_past']:.3f}"
        return f"{row['genuine_accept']:.1%} ({edge})"

    for model, row in fm["models"].items():
        rates.add_row(model, "all", *(at(row["at_impostor_accept"][k]) for k in ("0.10%", "0.01%")))
        for source, part in row["by_source"].items():
            if part["genuine_pairs"] and part["impostor_pairs"]:
                rates.add_row(
                    "",
                    f"{source} ({part['genuine_pairs']}/{part['impostor_pairs']})",
                    *(at(part["at_impostor_accept"][k]) for k in ("0.10%", "0.01%")),
                )

    sweep = Table(title="Accept rates over thresholds (genuine / impostor accepted)", show_edge=False)
    sweep.add_column("threshold", justify="right")
    for model, row in fm["models"].items():
        sweep.add_column(f"{model} {row['measure']} {'>=' if row['larger_is_alike'] else '<='}", justify="right")
    by_model = {model: {r["threshold"]: r for r in row["over_thresholds"]} for model, row in fm["models"].items()}
    for t in sorted({t for rows in by_model.values() for t in rows}):
        cells = []
        for model in fm["models"]:
            r = by_model[model].get(t)
            if r is None or r["genuine_accept"] is None or r["impostor_accept"] is None:
                cells.append("-")
            else:
                cells.append(f"{r['genuine_accept']:.3f} / {r['impostor_accept']:.4f}")
        sweep.add_row(f"{t:.3f}", *cells)
    cp = summary["copies"]
    copies = Table(title=f"LIVE_IS_COPY: face likeness >= {cp['min_likeness']}", show_edge=False)
    for column in ("pairs", "n", "flagged LIVE_IS_COPY", "likeness, extreme"):
        copies.add_column(column, justify="left" if column == "pairs" else "right")
    for name, row in cp["copies"].items():
        low = "-" if row["lowest_likeness"] is None else f"{row['lowest_likeness']:.4f} (lowest)"
        copies.add_row(f"original ~ {name}", str(row["n"]), str(row["flagged"]), low)
    gen = cp["genuine_pairs"]
    high = "-" if gen["highest_likeness"] is None else f"{gen['highest_likeness']:.4f} (highest)"
    copies.add_row("two captures of one person", str(gen["n"]), str(gen["flagged"]), high)
    return [head, attrs, bands, rates, sweep, copies, same_face_table(summary["same_face"])]


def same_face_table(sf: dict[str, Any]) -> Table:
    """FACE_UNDER_OTHER_ID's bound against different persons, captures of one person and copies."""
    table = Table(title=f"FACE_UNDER_OTHER_ID: SFace distance <= {sf['max_distance']} across the base", show_edge=False)
    for column in ("pairs", "n", "within", "rate", "95% upper", "nearest"):
        table.add_column(column, justify="left" if column == "pairs" else "right")

    def row(label: str, got: dict[str, Any]) -> None:
        if not got["pairs"]:
            return
        table.add_row(
            label,
            str(got["pairs"]),
            str(got["within"]),
            f"{got['rate']:.4%}",
            f"{got['rate_95_upper']:.4%}",
            f"{got['nearest']:.4f}",
        )

    row("different persons", sf["impostor"])
    row("two captures of one person", sf["genuine"])
    for source, part in sf["by_source"].items():
        row(f"  {source}: different persons", part["impostor"])
        row(f"  {source}: one person", part["genuine"])
    for name, got in sf["copies"].items():
        row(f"original ~ {name}", got)
    per_face, tail = sf["other_persons_per_face_95_upper"], sf["other_persons_per_face_tail"]
    if per_face is not None:
        table.caption = (
            f"One face searched against {sf['base_faces']:,}: up to {per_face:,} other persons within the bound "
            "at the 95% upper bound of the measured rate"
            + (f"; about {tail:g} by the tail of the different persons' distances, extrapolated" if tail else "")
            + "."
        )
    return table


def run_renderables(run: Any, report_command: str, tables: bool = True) -> list[Any]:
    """What a finished rescan prints: its verdicts and reasons (unless ``tables`` is off: a report
    follows), one line of figures and ``report_command``, the command that shows the run again."""
    totals = run.totals
    out: list[Any] = []
    if tables:
        out.append(verdict_table(totals))
        if totals.get("reasons"):
            out.append(reason_table(totals))
    out.append(
        plain(
            f"run {run.id} ({run.mode}) finished: {totals['subscribers']} subscribers, {totals['photos']} photos "
            f"({totals['measured_photos']} measured, {totals['cached_photos']} from the measurement cache) "
            f"in {totals['wall_seconds']:.1f} s ({totals['photos_per_second'] or 0:.1f} photos/s); "
            f"see it again with: {report_command}"
        )
    )
    return out


def import_summary(file: Any, report: Any) -> Text:
    """One line for an import that committed."""
    return plain(
        f"{file}{'' if report.encoding == 'utf-8' else f' (read as {report.encoding})'}: "
        f"{report.rows} rows: {report.inserted} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected"
        + (f" (written to {report.rejects_file})" if report.rejects_file else "")
        + (f"; {report.kept_with_id_defects} kept with ID number defects" if report.kept_with_id_defects else "")
    )
