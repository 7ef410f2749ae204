"""Text views of cases for the terminal (``realname cases show``, ``realname remediate``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text

from scanner.cli.console import plain

ZONE = ZoneInfo("Asia/Shanghai")
_STATE_STYLE = {"resolved": "green", "exempted": "green", "eligible": "red", "approved": "red", "suspended": "red"}


def _local(iso: str | None) -> str:
    if not iso:
        return ""
    return dt.datetime.fromisoformat(iso).astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def case_renderables(data: dict[str, Any]) -> Iterator[Any]:
    yield plain(
        f"{data['account_id']}  {data['msisdn']}  segment {data['segment']}: {len(data['cases'])} case(s)",
        style="bold",
    )
    for case in data["cases"]:
        state = case["state"]
        yield Text.assemble(
            f"\nCase {case['id']}  ",
            (state, _STATE_STYLE.get(state, "yellow")),
            f"  stage {case['stage']}  reasons {', '.join(case['reasons']) or '-'}  opened {_local(case['opened_at'])}",
            f"  grace ends {_local(case['grace_ends_at'])}" if case["grace_ends_at"] else "",
            plain(f"  approved by {case['approved_by']}") if case["approved_by"] else "",
            "  history intact" if case["history_intact"] else "  HISTORY ALTERED",
        )
        history = Table(title="History (Asia/Shanghai)", title_justify="left", show_edge=False)
        for column in ("#", "at", "event", "from -> to", "stage", "by", "why"):
            history.add_column(column, overflow="fold")
        for line in case["history"]:
            history.add_row(
                str(line["seq"]),
                _local(line["at"]),
                line["event"],
                f"{line['from']} -> {line['to']}",
                str(line["stage"]),
                plain(line["actor"]),
                plain(line["why"] + (f" [{line['receipt']}]" if line["receipt"] else "")),
            )
        yield history
        notices = Table(title="Notices", title_justify="left", show_edge=False)
        for column in ("id", "stage", "channel", "attempt", "template", "status", "not before", "receipt", "parts"):
            notices.add_column(column, overflow="fold")
        for n in case["notices"]:
            notices.add_row(
                str(n["id"]),
                str(n["stage"]),
                n["channel"] if n["channel"] == n["slot"] else f"{n['channel']} (for {n['slot']})",
                str(n["attempt"]),
                n["template"],
                n["status"],
                _local(n["not_before"]),
                plain(n["receipt"] or (n["error"] or "")),
                str(n["segments"]),
            )
        yield notices
    if data["remediations"]:
        yield plain(
            "\nRe-verifications: "
            + "; ".join(
                f"{r['id']} {_local(r['at'])} {r['verdict']} {' '.join(r['reasons'])}".strip()
                for r in data["remediations"]
            )
        )


def remediation_lines(result: Any) -> Iterator[str]:
    """What a re-verification did, in plain lines (``realname remediate``)."""
    yield f"re-verification {result.remediation_id} of {result.account_id}: {result.verdict}"
    for item in result.evidence:
        measured = (
            f"{item['measure']} {item['value']} {item['comparison']} {item['threshold']}"
            if item.get("comparison")
            else ""
        )
        said = "; ".join(part for part in (measured, item.get("detail") or "") if part)
        yield f"  {item['code']} ({item['photo_kind']}): {said}"
    if result.case_resolved:
        yield (
            f"case {result.case_id} resolved; {result.notices_cancelled} pending notices cancelled; "
            f"confirmation SMS {'queued' if result.confirmation_queued else 'already queued'}"
        )
    elif result.verdict == "pass":
        yield "no open case: the new photos are on file"
    else:
        yield "the photos do not pass: nothing changed; the notices go on"
