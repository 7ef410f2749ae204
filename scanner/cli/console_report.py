"""What ``realname report`` prints for one run: its verdicts, its reasons in plain words with their
severity, and the failing and review subscribers in their own lists, each reason with what was
measured on which photo against which threshold (rich renderables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from scanner.cli.console import plain
from scanner.cli.console_scan import VERDICT_STYLE, verdict_table

_LIST_TITLES = {
    "fail": ("不通过的用户", "Failing subscribers"),
    "review": ("待人工复核的用户", "Subscribers for review"),
    "pass": ("通过的用户", "Passing subscribers"),
}
_SEVERITY_WORDS = {"fail": ("不通过", "fail"), "review": ("复核", "review"), "ignore": ("忽略", "ignored")}


def _words(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "zh" else pair[1]


def reason_meaning_table(totals: dict[str, Any], severity: dict[str, str], lang: str) -> Table:
    """Reasons with their severity under the run's policy, their count and what they mean."""
    from notices.reasons import reason_text

    table = Table(title="Reasons" if lang == "en" else "原因", show_edge=False)
    for column in ("reason", "severity", "subscribers", "what it means"):
        table.add_column(column, justify="right" if column == "subscribers" else "left", overflow="fold")
    for reason, n in sorted(totals.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        said = reason_text(reason)
        level = severity.get(reason, "")
        table.add_row(
            reason,
            Text(_words(_SEVERITY_WORDS.get(level, (level, level)), lang), style=VERDICT_STYLE.get(level, "")),
            str(n),
            said.zh if lang == "zh" else said.en,
        )
    return table


def evidence_sentence(item: dict[str, Any], files: dict[str, str], lang: str) -> Text:
    """One reason of a finding for an officer: code and severity, what it means, what was measured on
    which photo (kind and file) against which threshold."""
    from notices.reasons import describe_evidence, reason_text

    level = item.get("severity") or ""
    said = reason_text(item["code"])
    tail = ": ".join(p for p in describe_evidence(item, lang, files) if p)
    return Text.assemble(
        (item["code"], "bold"),
        " ",
        (f"[{_words(_SEVERITY_WORDS.get(level, (level, level)), lang)}]", VERDICT_STYLE.get(level, "")),
        " ",
        plain((said.zh if lang == "zh" else said.en) + (f" {tail}" if tail else "")),
    )


def listed_table(rows: list[dict[str, Any]], title: str, lang: str) -> Table:
    """Subscribers with each reason on its own line, the verdict's own reasons first."""
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("account", "msisdn", "reasons"):
        table.add_column(column, overflow="fold")
    for row in rows:
        ranked = sorted(row["evidence"], key=lambda e: e.get("severity") != row["verdict"])
        table.add_row(
            plain(row["account_id"]),
            row["msisdn"],
            Text("\n").join(evidence_sentence(e, row["files"], lang) for e in ranked) if ranked else "-",
        )
    return table


def report_renderables(
    run: dict[str, Any],
    totals: dict[str, Any],
    lists: dict[str, tuple[list[dict[str, Any]], int]],
    severity: dict[str, str],
    lang: str,
) -> list[Any]:
    """The text report of one run (``realname report``): the run, its verdicts, its reasons in plain
    words, then each chosen verdict's subscribers in their own list (failing, then review), each
    capped on its own so a long failing list never hides the review list."""
    r = run
    out: list[Any] = [
        Text.assemble(
            (f"Run {r['id']}", "bold"),
            plain(f"  policy {r['policy']['name']} {r['policy']['version']} "),
            f"(sha256 {r['policy']['sha256'][:12]}), mode {r['mode']}, as of {r['as_of']}, {r['status']}",
        ),
        verdict_table(totals),
    ]
    if totals.get("reasons"):
        out.append(reason_meaning_table(totals, severity, lang))
    if not severity:
        out.append("(the run's policy file has changed or moved since: severities are not shown)")
    for verdict in ("fail", "review", "pass"):
        if verdict not in lists:
            continue
        rows, total = lists[verdict]
        title = f"{_words(_LIST_TITLES[verdict], lang)}: {total}"
        if not total:
            out.append(Text(title, style="bold"))
            continue
        out.append(listed_table(rows, title, lang))
        if len(rows) < total:
            out.append(f"... {total - len(rows)} more not shown: use --limit 0, or --format json for all of them.")
    return out
