"""``realname cases advance``: bring every case up to now (run it from cron).

1. The queue is swept: notices with no final receipt 72 hours after submission
   count as undelivered; leases that expired on the last attempt are dead.
2. The newest finished enforcing run whose findings were not yet applied opens a
   case for each failing subscriber without one and resolves the open case of
   each passing subscriber. Preview runs never touch cases.
3. Every open case is planned (``notices.planner``) and the plan written:
   transitions into the hash-chained history, notices into the queue (dedup keys
   make a second enqueue a no-op), cancellations.

Running it twice at the same moment changes nothing the second time. Cases are
read and written in pages, each page one transaction (``BEGIN IMMEDIATE`` on
SQLite, rows locked ``FOR UPDATE`` on PostgreSQL), so two overlapping runs do
not plan the same case from the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, Row

from checks.idcard import age_years, measure_id_number
from notices.cases import CaseEvent, CaseState, opened, opening_record
from notices.channels import Channel
from notices.holds import Hold, covering, holding
from notices.planner import CaseView, NoticeView, Plan, plan
from notices.queue import NoticeStatus, Recipient
from notices.review import RECAPTURE_REASON
from notices.settings import Enforcement
from scanner.audit.log import Entry, append, record
from scanner.enforce.cases import (
    OPEN_STATES,
    append_histories,
    apply_event,
    cancel_notices,
    cancel_pending,
    save_statuses,
    status_of,
)
from scanner.enforce.holds import load_holds
from scanner.enforce.queue import SqlNoticeQueue, enqueue
from scanner.tables import CASE, CASE_SYNC, FINDING, NOTICE, SCAN_RUN, SUBSCRIBER

PAGE = 500
_ADVANCING = tuple(s for s in OPEN_STATES if s != CaseState.SUSPENDED.value)


@dataclass
class AdvanceSummary:
    run_applied: int | None = None
    opened: int = 0
    resolved: int = 0
    events: Counter[str] = field(default_factory=Counter)
    queued: int = 0
    cancelled: int = 0
    stuck: int = 0
    swept: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_applied": self.run_applied,
            "opened": self.opened,
            "resolved": self.resolved,
            "events": dict(self.events),
            "notices_queued": self.queued,
            "notices_cancelled": self.cancelled,
            "stuck": self.stuck,
            "swept": self.swept,
        }


ACTOR = "cases advance"


def advance(engine: Engine, rules: Enforcement, now: dt.datetime) -> AdvanceSummary:
    summary = AdvanceSummary(swept=SqlNoticeQueue(engine, rules).sweep(now))
    apply_findings(engine, now, summary)
    last = 0
    while True:
        with engine.begin() as conn:
            last_seen = _advance_page(conn, rules, now, last, summary)
        if last_seen is None:
            return summary
        last = last_seen


# --- findings -> cases ----------------------------------------------------------------------


def apply_findings(engine: Engine, now: dt.datetime, summary: AdvanceSummary) -> None:
    """Apply the newest finished enforcing run, once."""
    with engine.connect() as conn:
        run = conn.execute(
            select(SCAN_RUN.c.id, SCAN_RUN.c.started_at)
            .where(SCAN_RUN.c.mode == "enforce", SCAN_RUN.c.status == "finished")
            .order_by(SCAN_RUN.c.id.desc())
            .limit(1)
        ).first()
        if run is None or conn.execute(select(CASE_SYNC.c.run_id).where(CASE_SYNC.c.run_id == run.id)).first():
            return
    started = _aware(run.started_at)
    with engine.begin() as conn:
        # Subscribers whose case was closed after the run started: its findings are older than that.
        closed_since = set(
            conn.execute(select(CASE.c.subscriber_id).where(CASE.c.closed_at >= started)).scalars().all()
        )
    last = 0
    opened_n = resolved_n = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(
                    FINDING.c.id,
                    FINDING.c.subscriber_id,
                    FINDING.c.verdict,
                    FINDING.c.reasons,
                    FINDING.c.evidence,
                    CASE.c.id.label("case_id"),
                    CASE.c.reasons.label("case_reasons"),
                )
                .select_from(FINDING.outerjoin(CASE, CASE.c.active_subscriber_id == FINDING.c.subscriber_id))
                .where(FINDING.c.run_id == run.id, FINDING.c.subscriber_id > last)
                .order_by(FINDING.c.subscriber_id)
                .limit(2000)
            ).all()
            if not rows:
                conn.execute(
                    insert(CASE_SYNC).values(run_id=run.id, applied_at=now, opened=opened_n, resolved=resolved_n)
                )
                record(
                    conn, now, ACTOR, "cases.sync", f"run {run.id}", run=run.id, opened=opened_n, resolved=resolved_n
                )
                break
            last = rows[-1].subscriber_id
            to_open = []
            entries: list[Entry] = []
            for row in rows:
                if row.verdict == "fail" and row.case_id is None and row.subscriber_id not in closed_since:
                    to_open.append((row.id, row.subscriber_id, failing_reasons(row)))
                elif row.verdict == "pass" and row.case_id is not None:
                    case = conn.execute(select(CASE).where(CASE.c.id == row.case_id)).one()
                    apply_event(
                        conn,
                        case,
                        CaseEvent.RESOLVE,
                        now=now,
                        actor=f"rescan run {run.id}",
                        why="the subscriber's photos and ID now pass",
                        finding_id=row.id,
                    )
                    summary.cancelled += cancel_pending(conn, row.case_id, now, "the case was resolved", ACTOR)
                    resolved_n += 1
                elif row.verdict == "fail" and row.case_id is not None:
                    reasons = failing_reasons(row)
                    conn.execute(update(CASE).where(CASE.c.id == row.case_id).values(reasons=reasons))
                    if list(row.case_reasons or []) != reasons:
                        changed = {"case": row.case_id, "finding": row.id, "reasons": reasons}
                        entries.append(
                            Entry(now, ACTOR, "case.reasons", f"case {row.case_id}", row.subscriber_id, changed)
                        )
            append(conn, entries)
            _open_cases(conn, to_open, run.id, now)
            opened_n += len(to_open)
    summary.run_applied, summary.opened, summary.resolved = run.id, opened_n, resolved_n


def failing_reasons(finding: Any) -> list[str]:
    """The reasons that made the finding fail (review and ignored reasons are not the subscriber's to fix)."""
    codes = [e["code"] for e in finding.evidence if e.get("severity") == "fail"]
    return list(dict.fromkeys(codes)) or list(finding.reasons)


def _open_cases(conn: Connection, findings: list[tuple[int, int, list[str]]], run_id: int, now: dt.datetime) -> None:
    """Open a case for each (finding id, subscriber id, reasons), with the first line of its history."""
    if not findings:
        return
    state = opened().state.value
    rows = [
        {
            "subscriber_id": sub_id,
            "active_subscriber_id": sub_id,
            "state": state,
            "stage": 0,
            "reasons": reasons,
            "opened_at": now,
            "opened_by_finding_id": finding_id,
            "updated_at": now,
        }
        for finding_id, sub_id, reasons in findings
    ]
    ids = conn.execute(insert(CASE).returning(CASE.c.id, sort_by_parameter_order=True), rows).scalars().all()
    actor = f"rescan run {run_id}"
    append_histories(
        conn,
        {
            case_id: [
                opening_record(
                    at=now,
                    actor=actor,
                    why=f"failing finding of enforcing run {run_id}: {', '.join(reasons) or 'fail'}",
                    finding_id=finding_id,
                )
            ]
            for case_id, (finding_id, _sub, reasons) in zip(ids, findings, strict=True)
        },
    )


# --- planning each open case ----------------------------------------------------------------


def _advance_page(
    conn: Connection, rules: Enforcement, now: dt.datetime, after: int, summary: AdvanceSummary
) -> int | None:
    query = select(CASE).where(CASE.c.state.in_(_ADVANCING), CASE.c.id > after).order_by(CASE.c.id).limit(PAGE)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    cases = conn.execute(query).all()
    if not cases:
        return None
    holds = load_holds(conn)
    subs = {
        r.id: r for r in conn.execute(select(SUBSCRIBER).where(SUBSCRIBER.c.id.in_([c.subscriber_id for c in cases])))
    }
    notices = _notices_of(conn, cases)
    today = now.astimezone(ZoneInfo(rules.zone)).date()
    changes: list[tuple[Row[Any], Plan, dict[str, Any]]] = []
    for case in cases:
        sub = subs[case.subscriber_id]
        view = _view(case, sub, notices.get(case.id, []), today)
        held_until = holding(holds, now, sub.account_id, sub.region_code, sub.segment)
        ended, ended_holds = _last_hold_end(holds, now, sub)
        held_by = covering(holds, now, sub.account_id, sub.region_code, sub.segment) if held_until else ended_holds
        result = plan(view, rules, now, held_until=held_until, hold_ended_at=ended, held_by=held_by)
        summary.stuck += bool(result.stuck)
        fields = {
            name: getattr(result, name)
            for name in ("stage_started_at", "stage_delivered_at", "hold_ended_at", "grace_ends_at")
            if getattr(result, name) is not None and getattr(result, name) != getattr(case, name)
        }
        if result.changed or fields:
            changes.append((case, result, fields))
    _write_page(conn, changes, subs, rules, now, summary)
    return int(cases[-1].id)


def _notices_of(conn: Connection, cases: Sequence[Row[Any]]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    c = NOTICE.c
    rows = conn.execute(
        select(
            c.id,
            c.case_id,
            c.stage,
            c.slot,
            c.attempt,
            c.channel,
            c.status,
            c.final_at,
            c.gateway_message_id,
            c.receipt_stat,
        ).where(c.case_id.in_([case.id for case in cases]), c.stage > 0)
    )
    for row in rows:
        out.setdefault(row.case_id, []).append(row)
    return out


def _view(case: Row[Any], sub: Row[Any], notices: list[Row[Any]], today: dt.date) -> CaseView:
    birth = measure_id_number(sub.id_number).birth_date
    current = tuple(
        NoticeView(
            n.id,
            Channel(n.slot),
            n.attempt,
            Channel(n.channel),
            NoticeStatus(n.status),
            n.final_at,
            f"notice {n.id}: {n.gateway_message_id} {n.receipt_stat}" if n.gateway_message_id else f"notice {n.id}",
        )
        for n in notices
        if n.stage == case.stage
    )
    return CaseView(
        status=status_of(case),
        opened_at=case.opened_at,
        stage_delivered_at=case.stage_delivered_at,
        hold_ended_at=case.hold_ended_at,
        notices=current,
        non_sms_delivered=any(n.status == "delivered" and n.channel != Channel.SMS.value for n in notices),
        age=age_years(birth, today) if birth else None,
        segment=sub.segment,
        recapture=RECAPTURE_REASON in (case.reasons or []),
    )


def _last_hold_end(holds: Sequence[Hold], now: dt.datetime, sub: Row[Any]) -> tuple[dt.datetime | None, list[Hold]]:
    """When the last hold covering the subscriber that has ended by now ended, and the holds ending then."""
    ended = [
        h
        for h in holds
        if h.starts_at < h.ends_at <= now and h.scope.covers(sub.account_id, sub.region_code, sub.segment)
    ]
    last = max((h.ends_at for h in ended), default=None)
    return last, [h for h in ended if h.ends_at == last]


def _write_page(
    conn: Connection,
    changes: list[tuple[Row[Any], Plan, dict[str, Any]]],
    subs: dict[int, Row[Any]],
    rules: Enforcement,
    now: dt.datetime,
    summary: AdvanceSummary,
) -> None:
    """A page's plans in a few statements: cancellations, notices, statuses, history lines."""
    if not changes:
        return
    held = [case.id for case, result, _ in changes if result.cancel_pending]
    if held:
        summary.cancelled += cancel_pending(conn, held, now, "a hold covers the case", ACTOR)
    needless = [notice_id for _, result, _ in changes for notice_id in result.cancel_notices]
    if needless:
        summary.cancelled += cancel_notices(conn, needless, now, "its slot was delivered meanwhile", ACTOR)
    drafts = [
        send.draft(case.id, _recipient(subs[case.subscriber_id]), list(case.reasons), rules)
        for case, result, _ in changes
        for send in result.send
    ]
    summary.queued += enqueue(conn, drafts, now, ACTOR)
    save_statuses(conn, [(case, result.status, fields) for case, result, fields in changes], now)
    append_histories(conn, {case.id: result.records for case, result, _ in changes})
    for _, result, _ in changes:
        summary.events.update(r.event.value for r in result.records)


def _recipient(sub: Row[Any]) -> Recipient:
    return Recipient(sub.id, sub.account_id, sub.msisdn)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
