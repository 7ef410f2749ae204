"""What ``realname report --subscriber`` prints: one subscriber's whole evidence trail (rich renderables)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.table import Table
from rich.text import Text

from scanner.cli.console import plain
from scanner.cli.console_cases import _local, case_renderables
from scanner.cli.console_report import evidence_sentence
from scanner.cli.console_scan import VERDICT_STYLE
from scanner.report.trail import detail_text


def trail_renderables(trail: dict[str, Any], lang: str) -> Iterator[Any]:
    sub = trail["subscriber"]
    yield Text.assemble(
        (f"{sub['account_id']}", "bold"),
        plain(f"  {sub['msisdn']}  ID {sub['id_number']}  segment {sub['segment']}  joined {sub['joined_on']}"),
        plain(f"  region {sub['region'] or '-'}  ID valid until {sub['id_expires_on'] or 'long-term'}"),
        ("  (full numbers revealed)", "red") if trail["revealed"] else "",
    )
    photos = Table(title="Photos on file", title_justify="left", show_edge=False)
    for column in ("kind", "file", "sha256", "scanned"):
        photos.add_column(column, overflow="fold")
    for p in trail["photos"]:
        photos.add_row(p["kind"], plain(p["file"]), (p["sha256"] or "-")[:16], _local(p["scanned_at"]) or "-")
    yield photos
    files = {p["kind"]: p["file"] for p in trail["photos"]}
    findings = Table(title="Findings, every run", title_justify="left", show_lines=True)
    for column in ("run", "policy", "verdict", "reasons: measured against the threshold"):
        findings.add_column(column, overflow="fold")
    for f in trail["findings"]:
        policy = f["policy"]
        findings.add_row(
            f"{f['run']} {f['mode']}\nas of {f['as_of']}",
            plain(f"{policy['name']} {policy['version']}\nsha256 {policy['sha256'][:12]}"),
            Text(f["verdict"], style=VERDICT_STYLE.get(f["verdict"], "")),
            Text("\n").join(evidence_sentence(e, files, lang) for e in f["evidence"]) if f["evidence"] else "-",
        )
    yield findings if trail["findings"] else "Findings: none (never scanned)"
    if trail["holds"]:
        holds = Table(title="Holds that covered a case", title_justify="left", show_edge=False)
        for column in ("hold", "scope", "placed by", "reason", "from", "until", "lifted"):
            holds.add_column(column, overflow="fold")
        for h in trail["holds"]:
            lifted = f"{_local(h['lifted_at'])} by {h['lifted_by']}" if h["lifted_at"] else "-"
            holds.add_row(
                str(h["id"]),
                plain(h["scope"]),
                plain(h["placed_by"]),
                plain(h["reason"]),
                _local(h["starts_at"]),
                _local(h["until"]),
                plain(lifted),
            )
        yield holds
    for a in trail["approvals"]:
        yield plain(
            f"case {a['case']}: suspension approved by {a['approved_by'] or '-'} at {_local(a['approved_at']) or '-'}"
            + (f"; exported to the BSS at {_local(a['exported_at'])}" if a["exported_at"] else "")
        )
    yield from case_renderables(
        {
            "account_id": sub["account_id"],
            "msisdn": sub["msisdn"],
            "segment": sub["segment"],
            "cases": trail["cases"],
            "remediations": trail["remediations"],
        }
    )
    if trail["audit"]:
        log = Table(title="Audit log rows about this subscriber", title_justify="left", show_edge=False)
        for column in ("seq", "at", "by", "action", "subject", "detail"):
            log.add_column(column, overflow="fold")
        for row in trail["audit"]:
            log.add_row(
                str(row["seq"]),
                _local(row["at"]),
                plain(row["actor"]),
                row["action"],
                plain(row["subject"]),
                plain(detail_text(row["detail"])),
            )
        yield log
