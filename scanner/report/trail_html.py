"""One subscriber's evidence trail as a self-contained HTML page (the report's style, no script)."""

from __future__ import annotations

import datetime as dt
from typing import IO, Any

from notices.reasons import describe_evidence, reason_text
from scanner.report.html import DEFAULT_ZONE, environment, local_time
from scanner.report.trail import detail_text


def _local(iso: str | None, zone: str) -> str:
    return local_time(dt.datetime.fromisoformat(iso), zone) if iso else ""


def _evidence(item: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    where, measured = describe_evidence(item, "both", files)
    return {**item, "text": reason_text(item["code"]), "where": where, "measured": measured}


def write_trail_html(trail: dict[str, Any], out: IO[str], prepared_by: str = "", zone: str = DEFAULT_ZONE) -> None:
    files = {p["kind"]: p["file"] for p in trail["photos"]}
    cases = [
        {
            **case,
            "history": [{**line, "at_local": _local(line["at"], zone)} for line in case["history"]],
            "notices": [{**n, "not_before_local": _local(n["not_before"], zone)} for n in case["notices"]],
        }
        for case in trail["cases"]
    ]
    page = (
        environment()
        .get_template("trail.html.j2")
        .render(
            schema=trail["schema"],
            revealed=trail["revealed"],
            sub=trail["subscriber"],
            photos=[{**p, "scanned_at": _local(p["scanned_at"], zone)} for p in trail["photos"]],
            findings=[{**f, "evidence": [_evidence(e, files) for e in f["evidence"]]} for f in trail["findings"]],
            cases=cases,
            holds=[
                {**h, **{k: _local(h[k], zone) for k in ("starts_at", "until", "lifted_at")}} for h in trail["holds"]
            ],
            approvals=[
                {**a, **{k: _local(a[k], zone) for k in ("approved_at", "exported_at")}} for a in trail["approvals"]
            ],
            remediations=[{**r, "at": _local(r["at"], zone)} for r in trail["remediations"]],
            audit=[
                {
                    **row,
                    "at_local": _local(row["at"], zone),
                    "detail_text": detail_text(row["detail"]),
                }
                for row in trail["audit"]
            ],
            generated_at=local_time(dt.datetime.now(dt.UTC), zone),
            prepared_by=prepared_by,
            zone=zone,
        )
    )
    out.write(page)
