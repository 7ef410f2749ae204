"""The HTML report: one self-contained page (inline CSS and SVG charts, no script, no external file)
rendered from the package's Jinja2 templates with autoescaping. Every count comes from
``aggregates`` (the database groups); only the first ``limit`` failing and review subscribers are
read row by row, so the page stays a few MB on any base."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import IO, Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.engine import Engine
from sqlmodel import Session

from notices.reasons import describe_evidence, reason_text
from scanner.report import aggregates, charts
from scanner.report.rows import iter_rows
from scanner.report.runs import find_run, policy_thresholds, previous_run, run_summary, severities
from scanner.scan.diff import build_diff

LIST_LIMIT = 200
FUNNEL_LABELS = {
    "flagged": "flagged 判定不合格",
    "notified": "notified 已发通知",
    "delivered": "delivered 已送达",
    "reverified": "re-verified 已重新核验",
    "eligible": "eligible 可停机",
    "approved": "approved 已批准停机",
    "suspended": "suspended 已停机",
}


DEFAULT_ZONE = "Asia/Shanghai"


def local_time(moment: dt.datetime, zone: str) -> str:
    """``2026-12-04 11:16:10 Asia/Shanghai (03:16:10 UTC)``: times shown to people are in the policy's
    zone, with UTC beside them."""
    try:
        here = moment.astimezone(ZoneInfo(zone))
    except (ValueError, KeyError):  # an unknown zone name: UTC alone
        return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
    return f"{here:%Y-%m-%d %H:%M:%S} {zone} ({moment.astimezone(dt.UTC):%H:%M:%S} UTC)"


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("scanner.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _listed(
    engine: Engine, run_id: int, verdict: str, limit: int, total: int, reveal: bool, severity: dict[str, str]
) -> dict[str, Any]:
    rows = list(itertools.islice(iter_rows(engine, run_id, {verdict}, reveal=reveal), limit))
    for row in rows:
        judged = {e["code"]: e.get("severity") for e in row["evidence"]}
        # Each reason with the severity it was judged with (a review-only reason beside a failing one
        # shows as such), its sentence and its evidence: the photo, the value and the threshold.
        row["explained"] = [
            {
                "code": code,
                "severity": judged.get(code) or severity.get(code, "fail"),
                "text": reason_text(code),
                "evidence": [
                    ": ".join(p for p in describe_evidence(e, "zh") if p) for e in row["evidence"] if e["code"] == code
                ],
            }
            for code in row["reasons"]
        ]
    return {"rows": rows, "total": total, "more": max(0, total - len(rows))}


def report_context(
    engine: Engine, run_id: int | None, *, limit: int = LIST_LIMIT, reveal: bool = False, prepared_by: str = ""
) -> dict[str, Any]:
    """Everything the template shows, for run ``run_id`` (the latest when None)."""
    with Session(engine) as session:
        run = find_run(session, run_id)
    assert run.id is not None
    with engine.connect() as conn:
        verdicts = aggregates.by_verdict(conn, run.id)
        reasons = aggregates.by_reason(conn, run.id)
        years = aggregates.by_join_year(conn, run.id)
        provinces = aggregates.by_province(conn, run.id)
        funnel = aggregates.funnel(conn, run.id)
        delivery = aggregates.delivery(conn, run.id)
        before = previous_run(conn, run)
    policy_file, thresholds = policy_thresholds(run)
    zone = dict(thresholds).get("policy.timezone", DEFAULT_ZONE)
    severity = severities(thresholds)
    subscribers = sum(verdicts.values())
    ctx: dict[str, Any] = {
        "run": run_summary(run),
        "totals": run.totals,
        "subscribers": subscribers,
        "verdicts": {v: verdicts.get(v, 0) for v in aggregates.VERDICTS},
        "generated_at": local_time(dt.datetime.now(dt.UTC), zone),
        "started_at": local_time(run.started_at, zone),
        "finished_at": local_time(run.finished_at, zone) if run.finished_at else None,
        "revealed": reveal,
        "prepared_by": prepared_by,
        "policy_file": policy_file,
        "thresholds": [(k, v) for k, v in thresholds if not k.startswith("severity.")],
        "reasons": [
            {
                "code": code,
                "text": reason_text(code),
                "severity": severity.get(code, "fail"),
                "fail": counts.get("fail", 0),
                "review": counts.get("review", 0),
                "total": sum(counts.values()),
            }
            for code, counts in reasons.items()
        ],
        "years": [(y, s, s.fail_rate) for y, s in years.items()],
        "provinces": [(p, s, s.fail_rate) for p, s in provinces.items()],
        "funnel": [(FUNNEL_LABELS[k], funnel[k]) for k in aggregates.FUNNEL_STEPS],
        "delivery": [(stage, channel, d) for (stage, channel), d in delivery.items()],
        "enforcing": run.mode == "enforce",
        "failing": _listed(engine, run.id, "fail", limit, verdicts.get("fail", 0), reveal, severity),
        "review": _listed(engine, run.id, "review", limit, verdicts.get("review", 0), reveal, severity),
        "limit": limit,
    }
    ctx["diff"] = build_diff(engine, before, run.id, list_limit=0) if before is not None else None
    ctx["charts"] = _charts(ctx)
    return ctx


def _charts(ctx: dict[str, Any]) -> dict[str, Markup]:
    out: dict[str, str] = {}
    if ctx["reasons"]:
        labels = [f"{r['code']}  {r['text'].short}" for r in ctx["reasons"]]
        out["reasons"] = charts.stacked_bars(
            labels,
            {"fail": [r["fail"] for r in ctx["reasons"]], "review": [r["review"] for r in ctx["reasons"]]},
            xlabel="subscribers",
            title="Findings by reason (subscribers, by verdict)",
            ident="chart-reasons",
        )
    if ctx["years"]:
        out["years"] = charts.rate_bars(
            [str(y) for y, _, _ in ctx["years"]],
            [rate for _, _, rate in ctx["years"]],
            [s.total for _, s, _ in ctx["years"]],
            xlabel="year joined",
            ylabel="failing (%)",
            title="Share failing by the year the subscriber joined",
            ident="chart-years",
        )
    if ctx["provinces"]:
        shown = ctx["provinces"][:20]
        out["provinces"] = charts.stacked_bars(
            [p for p, _, _ in shown],
            {
                "fail": [s.verdicts.get("fail", 0) for _, s, _ in shown],
                "review": [s.verdicts.get("review", 0) for _, s, _ in shown],
                "pass": [s.verdicts.get("pass", 0) for _, s, _ in shown],
            },
            xlabel="subscribers",
            title="Subscribers by province of the ID number, by verdict",
            ident="chart-provinces",
        )
    if ctx["enforcing"]:
        out["funnel"] = charts.funnel_bars(
            [label for label, _ in ctx["funnel"]],
            [n for _, n in ctx["funnel"]],
            title="The notice ladder for this run's failing subscribers",
            ident="chart-funnel",
        )
    if ctx["delivery"]:
        out["delivery"] = charts.delivery_bars(
            [f"stage {stage} · {channel}" for stage, channel, _ in ctx["delivery"]],
            [d.delivered for *_, d in ctx["delivery"]],
            [d.undelivered for *_, d in ctx["delivery"]],
            [d.pending for *_, d in ctx["delivery"]],
            title="Notices by ladder stage and channel: delivered, undelivered, pending",
            ident="chart-delivery",
        )
    return {name: Markup(svg) for name, svg in out.items()}  # matplotlib's SVG: it escapes its own text


def write_html(
    engine: Engine,
    run_id: int | None,
    out: IO[str],
    *,
    limit: int = LIST_LIMIT,
    reveal: bool = False,
    prepared_by: str = "",
) -> None:
    ctx = report_context(engine, run_id, limit=limit, reveal=reveal, prepared_by=prepared_by)
    for chunk in environment().get_template("report.html.j2").generate(**ctx):
        out.write(chunk)
