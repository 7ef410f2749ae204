"""A run's rows written as CSV or JSON as they are read: nothing but one page is held in memory.

CSV opens in Excel as written: UTF-8 with a byte order mark (or GB18030), one row per subscriber,
and a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` so that a spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO, Any

from scanner.report.rows import REPORT_SCHEMA

CSV_COLUMNS = (
    "run_id",
    "account_id",
    "name",
    "msisdn",
    "id_number",
    "segment",
    "joined_on",
    "region",
    "verdict",
    "reasons",
    "evidence",
    "face_measure",
    "face_score",
    "policy_name",
    "policy_version",
    "policy_sha256",
    "case_state",
    "notice_stage",
    "notice_channel",
    "notice_status",
    "receipt_stat",
    "receipt_message_id",
    "receipt_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula, made plain text; numbers unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def evidence_detail(item: dict[str, Any]) -> str:
    """``[live: a.jpg] sharpness=45.2 < 100.0``: the photo and what was measured against what (or the
    detail when nothing was measured)."""
    kind = item.get("photo_kind") or ""
    if item.get("photo_file"):
        kind = f"{kind}: {item['photo_file']}"
    parts = [f"[{kind}]"] if kind else []
    if item.get("measure") and item.get("value") is not None:
        measured = f"{item['measure']}={item['value']}"
        if item.get("threshold") is not None:
            measured += f" {item.get('comparison') or 'vs'} {item['threshold']}"
        parts.append(measured)
    elif item.get("detail"):
        parts.append(str(item["detail"]))
    return " ".join(parts)


def evidence_text(item: dict[str, Any]) -> str:
    """``BLURRY [live: a.jpg] sharpness=45.2 < 100.0``."""
    detail = evidence_detail(item)
    return f"{item['code']} {detail}" if detail else str(item["code"])


def csv_cells(row: dict[str, Any]) -> list[Any]:
    notice = row["last_notice"] or {}
    receipt = notice.get("receipt") or {}
    case = row["case"] or {}
    cells = [
        row["run_id"],
        row["account_id"],
        row["name"],
        row["msisdn"],
        row["id_number"],
        row["segment"],
        row["joined_on"],
        row["region"],
        row["verdict"],
        ";".join(row["reasons"]),
        " | ".join(evidence_text(e) for e in row["evidence"]),
        row["face_measure"],
        row["face_score"],
        row["policy"]["name"],
        row["policy"]["version"],
        row["policy"]["sha256"],
        case.get("state"),
        notice.get("stage"),
        notice.get("channel"),
        notice.get("status"),
        receipt.get("stat"),
        receipt.get("gateway_message_id"),
        receipt.get("final_at"),
    ]
    return [neutralise(cell) for cell in cells]


def stream_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """The header and one line per row; returns the rows written. ``out`` is opened with ``newline=''``."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in rows:
        writer.writerow(csv_cells(row))
        n += 1
    return n


def stream_json(head: dict[str, Any], rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """``head`` (schema, run, totals) and then ``"subscribers": [...]``, each row written as it comes."""
    body = json.dumps({"schema": REPORT_SCHEMA, **head}, ensure_ascii=False, indent=2)
    out.write(body[: body.rstrip().rfind("}")].rstrip() + ',\n  "subscribers": [')
    n = 0
    for row in rows:
        out.write(("\n    " if n == 0 else ",\n    ") + json.dumps(row, ensure_ascii=False))
        n += 1
    out.write("\n  ]\n}\n" if n else "]\n}\n")
    return n
