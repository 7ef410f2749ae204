"""The review queue in the terminal: reviewers, items, one item in full, the officer's summary and the
agreement of decisions with the automatic flags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from rich.table import Table
from rich.text import Text

from notices.reasons import describe_evidence, reason_text
from scanner.cli.console import plain
from scanner.review.detail import ItemDetail, ItemRow
from scanner.review.stats import ConfusionRow, QueueSummary


def _ago(then: dt.datetime, now: dt.datetime) -> str:
    hours = (now - then).total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def reviewers_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Reviewers", title_justify="left")
    for col in ("login", "name", "role", "scope", "held", "decided", "pass", "fail", "recapture"):
        table.add_column(col, justify="right" if col in ("held", "decided", "pass", "fail", "recapture") else "left")
    for r in rows:
        scope = ", ".join([*(f"region {p}" for p in r["regions"]), *(f"segment {s}" for s in r["segments"])]) or "all"
        table.add_row(
            plain(r["login"]),
            plain(r["name"]),
            r["role"] + ("" if r["active"] else " (inactive)"),
            plain(scope),
            str(r["held"]),
            str(r["decided"]),
            str(r["pass"]),
            str(r["fail"]),
            str(r["recapture"]),
        )
    return table


def items_table(items: list[ItemRow], now: dt.datetime) -> Table:
    table = Table(title=f"Review items ({len(items)})", title_justify="left")
    for col in ("item", "state", "account", "number", "reasons", "age", "held by", "decision"):
        table.add_column(col)
    for item in items:
        decision = item.decision or ""
        if item.decision_reason and item.decision != "pass":
            decision += f" {item.decision_reason}"
        if item.decided_by:
            decision += f" by {item.decided_by}"
        age = _ago(item.created_at, now) + (" OVERDUE" if item.overdue else "")
        table.add_row(
            str(item.id),
            item.state + (" (referral)" if item.source == "referral" else ""),
            plain(item.account_id),
            item.msisdn_masked,
            plain(", ".join(item.reasons) or "-"),
            Text(age, style="bold red" if item.overdue else ""),
            plain(item.assignee_login or "-"),
            plain(decision or "-"),
        )
    return table


def detail_renderables(d: ItemDetail) -> Iterator[Any]:
    sub = d.subscriber
    held = f"held by {d.assignee_login} until {d.lease_expires_at:%Y-%m-%d %H:%M} UTC" if d.held else "not held"
    yield plain(f"review item {d.id}: {d.state} ({d.source}), {held}" + (", OVERDUE" if d.overdue else ""))
    yield plain(
        f"subscriber {sub['account_id']} {sub['msisdn_masked']} ID {sub['id_number_masked']} "
        f"{sub['province']} {sub['segment']}, joined {sub['joined_on']}"
    )
    if d.note:
        yield plain(f"note: {d.note}")
    for code in d.reasons:
        text = reason_text(code)
        yield plain(f"- {code}: {text.zh} / {text.en}")
    photos = Table(title="Photos", title_justify="left")
    for col in ("kind", "file", "sha256", "size", "face box", "landmarks"):
        photos.add_column(col)
    for p in d.photos:
        m = p.measurement or {}
        box = m.get("face_box")
        photos.add_row(
            p.kind,
            plain(p.uri.rsplit("/", 1)[-1]),
            (p.sha256 or "not scanned")[:12],
            f"{m['width_px']}x{m['height_px']}" if "width_px" in m else "-",
            ", ".join(f"{v:.0f}" for v in box) if box else "no face",
            str(len(m.get("landmarks") or []) // 2) + " points" if m.get("landmarks") else "-",
        )
    yield photos
    if d.match:
        match = Table(title="Face match", title_justify="left")
        for col in ("photos", "score", "value", "match at", "mismatch at", "band"):
            match.add_column(col)
        for m in d.match:
            match.add_row(
                m["pair"],
                m["measure"],
                f"{m['value']:.4f}",
                str(m["match_threshold"]),
                str(m["mismatch_threshold"]),
                m["band"] or "-",
            )
        yield match
    if d.evidence:
        evidence = Table(title="Measurements against thresholds", title_justify="left")
        for col in ("reason", "severity", "where", "measured"):
            evidence.add_column(col)
        for e in d.evidence:
            where, measured = describe_evidence(e, "en")
            evidence.add_row(plain(e.get("code", "")), plain(e.get("severity", "")), plain(where), plain(measured))
        yield evidence


def queue_line(s: QueueSummary, seconds: dict[str, int]) -> str:
    return (
        f"review queue: {s.pending} waiting, {s.assigned} held, {s.second} awaiting a second opinion, "
        f"{s.disputed} disputed, {s.overdue} overdue; {s.decided} decided, {s.withdrawn} withdrawn; "
        f"second opinions {seconds['second_opinions']} (fail confirmed {seconds['confirmed_fail']}, "
        f"disputed now {seconds['disputed_now']})"
    )


def confusion_table(rows: list[ConfusionRow]) -> Table:
    table = Table(
        title="Decisions against the automatic flags (confirmed: a person agreed with the run)", title_justify="left"
    )
    for col in ("reason", "run said", "decided", "pass", "fail", "recapture", "confirmed", "measure", "threshold"):
        table.add_column(col)
    table.add_column("median: pass / fail")
    for r in rows:
        d = r.to_dict()
        confirmed = f"{d['confirmed']:.0%}" if d["confirmed"] is not None else "-"
        medians = f"{d['median_value_pass'] if d['median_value_pass'] is not None else '-'} / " + (
            f"{d['median_value_fail'] if d['median_value_fail'] is not None else '-'}"
        )
        table.add_row(
            plain(r.reason),
            r.severity,
            str(r.n),
            str(r.passed),
            str(r.failed),
            str(r.recapture),
            confirmed,
            plain(r.measure or "-"),
            str(r.threshold) if r.threshold is not None else "-",
            medians,
        )
    return table
