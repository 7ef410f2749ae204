"""The audit trail on SQLite and PostgreSQL: one hash-chained log that every state change appends to;
``audit verify`` passes on an intact log and names the first row altered, deleted, inserted or
reordered, a run whose findings changed, a case whose history changed; the triggers refuse UPDATE and
DELETE, and what a superuser does round them is still caught."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from diff_runs import Person, add_people, add_run
from PIL import Image
from sqlalchemy import Connection, Text, cast, func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from tamper import alter_row, delete_row, insert_row_after, rehash_from, swap_rows, without_guards

from checks.idcard import check_character
from scanner import db
from scanner.audit.query import LogFilter, read_log
from scanner.audit.verify import Verification, verify
from scanner.enforce.advance import advance
from scanner.enforce.holds import add_hold, lift_hold
from scanner.enforce.queue import SqlNoticeQueue
from scanner.enforce.suspensions import approve, confirm, export_approved
from scanner.importer import import_file
from scanner.policyfile import load_policy
from scanner.scan.rescan import rescan
from scanner.tables import AUDIT_EVENT, CASE, CASE_TRANSITION, FINDING, NOTICE

TODAY = dt.date(2026, 11, 22)
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
FULL_NUMBERS = ("13012349990", "13912345678", "18600001111")


def _id(body17: str) -> str:
    return body17 + check_character(body17)


def _base(folder: Path) -> Path:
    photos = folder / "photos"
    photos.mkdir()
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)).save(photos / "noise.png")
    Image.fromarray(np.full((126, 102, 3), 128, np.uint8)).save(photos / "grey.jpg")
    rows = [
        "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo",
        f"A1,13012349990,张三,{_id('11010519491231002')},长期,2003-06-18,consumer,,,",
        f"A2,13912345678,李四,{_id('42010219800101123')},2030-01-01,2015-03-02,consumer,photos/noise.png,photos/grey.jpg,",
        f"A3,18600001111,王五,{_id('44030519900215456')},2020-01-01,2018-07-09,enterprise,photos/grey.jpg,,",
    ]
    csv = folder / "base.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return csv


@dataclass
class Flow:
    engine: Engine
    queue: SqlNoticeQueue
    run_id: int
    now: dt.datetime = T0

    def advance(self, days: float = 0) -> None:
        self.now += dt.timedelta(days=days)
        advance(self.engine, load_policy().enforcement, self.now)

    def deliver_all(self) -> int:
        sent = 0
        for channel in ("sms", "call", "letter"):
            for notice in self.queue.claim(100, "test-gw", channel=channel, now=self.now):
                self.queue.ack(notice.id, notice.claim_token, f"gw-{notice.id}", now=self.now)
                self.queue.receipt(f"gw-{notice.id}", "DELIVRD", None, self.now, now=self.now)
                sent += 1
        return sent


def _realistic_flow(url: str, tmp_path: Path) -> Flow:
    """Import, rescan, cases opened, notices claimed, acknowledged and delivered, a hold added and
    lifted, the ladder run to eligibility, a case approved, exported and confirmed suspended."""
    engine = db.open_engine(url)
    assert import_file(engine, _base(tmp_path), today=TODAY).committed
    run = rescan(engine, load_policy(), as_of=TODAY, workers=1)
    assert run.status == "finished" and run.id is not None
    writer = db.write_engine_for(url)
    rules = load_policy().enforcement
    flow = Flow(writer, SqlNoticeQueue(writer, rules), run.id)
    flow.advance()
    hold = add_hold(writer, "account:A3", "complaint under review", T0 + dt.timedelta(days=2), "Wang Li", flow.now)
    assert flow.deliver_all() > 0
    lift_hold(writer, hold, "Wang Li", "complaint answered", flow.now + dt.timedelta(hours=1))
    for _ in range(12):
        flow.advance(8)
        flow.deliver_all()
    with writer.connect() as conn:
        eligible = conn.execute(select(CASE.c.id).where(CASE.c.state == "eligible").order_by(CASE.c.id)).scalars().all()
    assert eligible, "no case reached eligibility"
    approve(writer, eligible[0], "Wang Li", flow.now)
    export_approved(writer, tmp_path / "bss.csv", "Wang Li", flow.now, full_numbers=True)
    confirm(writer, [eligible[0]], "BSS-1", flow.now)
    return flow


def _verify(engine: Engine, anchor: tuple[int, str] | None = None) -> Verification:
    with engine.connect() as conn:
        return verify(conn, anchor, page=7)  # small pages: the page boundaries are crossed too


def test_verify_passes_after_a_realistic_flow_and_catches_an_altered_finding(any_url: str, tmp_path: Path) -> None:
    flow = _realistic_flow(any_url, tmp_path)
    result = _verify(flow.engine)
    assert result.intact, result.to_dict()
    assert result.runs_checked == 1 and result.cases_checked == 3
    with flow.engine.connect() as conn:
        actions = dict(conn.execute(select(AUDIT_EVENT.c.action, func.count()).group_by(AUDIT_EVENT.c.action)).all())
        claimed = conn.execute(select(func.sum(NOTICE.c.attempts))).scalar_one()
        head = conn.execute(select(func.max(AUDIT_EVENT.c.seq))).scalar_one()
        transitions = conn.execute(select(func.count()).select_from(CASE_TRANSITION)).scalar_one()
        details = conn.execute(select(cast(AUDIT_EVENT.c.detail, Text), AUDIT_EVENT.c.subject)).all()
        a2 = read_log(conn, LogFilter(subscriber="13912345678", action="notice.claim", limit=1000))
    assert result.rows == head and result.head_seq == head
    for action in ("import", "policy.load", "run.start", "run.finish", "cases.sync", "case.start_ladder"):
        assert actions.get(action) == 1 or (action.startswith("case.") and actions.get(action)), action
    assert actions["notice.claim"] == claimed  # one row per notice claimed
    assert actions["notice.queue"] == actions["notice.ack"] == actions["notice.receipt"]
    assert {"hold.add", "hold.lift", "case.approve", "case.confirm_suspended", "suspensions.export"} <= set(actions)
    assert sum(n for a, n in actions.items() if a.startswith("case.")) == transitions  # one per history line
    assert a2 and all(row["subscriber"] == "A2 139****5678" for row in a2)
    for detail, subject in details:
        assert not any(number in detail or number in subject for number in FULL_NUMBERS)

    with flow.engine.begin() as conn:  # a finding changed after the run: a fail made a pass
        sid = conn.execute(select(FINDING.c.subscriber_id).where(FINDING.c.run_id == flow.run_id).limit(1)).scalar()
        conn.execute(update(FINDING).where(FINDING.c.subscriber_id == sid).values(verdict="pass"))
    result = _verify(flow.engine)
    assert not result.intact and result.log_break is None
    [problem] = result.run_problems
    assert problem.run_id == flow.run_id and problem.shards == [0]

    # A case's history edited too; the runs and cases recomputed in a second process (as `audit verify`
    # does on a large log) say exactly what the one-process walk says.
    with flow.engine.begin() as conn:
        without_guards(conn)
        case_id = conn.execute(select(func.max(CASE.c.id))).scalar_one()
        conn.execute(update(CASE_TRANSITION).where(CASE_TRANSITION.c.case_id == case_id).values(why="edited"))
    alone = _verify(flow.engine).to_dict()
    with flow.engine.connect() as conn:
        beside = verify(conn, url=any_url, parallel_from=0).to_dict()
    assert alone["cases_broken"] == [case_id] and alone["runs_altered"]
    assert {k: v for k, v in beside.items() if k != "seconds"} == {k: v for k, v in alone.items() if k != "seconds"}


def _small_log(url: str) -> tuple[Engine, int]:
    """Cases opened, notices queued, claimed and acknowledged: a log of a few dozen rows."""
    db.open_engine(url)
    engine = db.write_engine_for(url)
    rules = load_policy().enforcement
    add_people(engine, [Person(i) for i in range(1, 5)])
    add_run(engine, 1, {i: ("fail", ["BLURRY"]) for i in range(1, 5)})
    advance(engine, rules, T0)
    queue = SqlNoticeQueue(engine, rules)
    for notice in queue.claim(3, "gw", now=T0):
        queue.ack(notice.id, notice.claim_token, f"gw-{notice.id}", now=T0)
    with engine.connect() as conn:
        head = int(conn.execute(select(func.max(AUDIT_EVENT.c.seq))).scalar_one())
    assert head >= 12
    return engine, head


Tamper = Callable[[Connection, int], None]


@pytest.mark.parametrize(
    ("tamper", "at", "kind", "reported"),
    [
        (alter_row, 5, "altered", 5),
        (alter_row, -1, "altered", -1),  # the head itself
        (delete_row, 5, "deleted", 5),
        (delete_row, 1, "deleted", 1),
        (insert_row_after, 5, "inserted", 6),
        (insert_row_after, 0, "inserted", 1),
        (swap_rows, 5, "reordered", 5),
        (swap_rows, 1, "reordered", 1),
    ],
)
def test_verify_names_the_first_row_tampered_with_and_how(
    any_url: str, tamper: Tamper, at: int, kind: str, reported: int
) -> None:
    engine, head = _small_log(any_url)
    assert _verify(engine).intact
    seq = head if at == -1 else at
    with engine.begin() as conn:
        without_guards(conn)
        tamper(conn, seq)
    result = _verify(engine)
    assert result.log_break is not None and not result.intact
    assert (result.log_break.seq, result.log_break.kind) == (head if reported == -1 else reported, kind)
    assert result.head_seq == (head if reported == -1 else reported) - 1


def test_a_rewritten_chain_passes_on_its_own_and_the_anchor_catches_it(any_url: str) -> None:
    engine, head = _small_log(any_url)
    before = _verify(engine)
    anchor = (before.head_seq, before.head_digest)
    assert _verify(engine, anchor).intact
    with engine.begin() as conn:
        without_guards(conn)
        rehash_from(conn, 4)
    assert _verify(engine).intact  # consistent again: only an anchor kept elsewhere shows it
    result = _verify(engine, anchor)
    assert not result.intact and result.anchor_problem and f"row {head}" in result.anchor_problem
    assert _verify(engine, (3, _verify(engine).head_digest)).anchor_problem  # a wrong digest for row 3


def test_an_edited_case_history_is_named(any_url: str) -> None:
    engine, _ = _small_log(any_url)
    with engine.connect() as conn:
        case_id = conn.execute(select(func.min(CASE.c.id))).scalar_one()
    with engine.begin() as conn:
        without_guards(conn)
        conn.execute(
            update(CASE_TRANSITION).where(CASE_TRANSITION.c.case_id == case_id).values(why="edited afterwards")
        )
    result = _verify(engine)
    assert result.log_break is None and result.broken_cases == [case_id] and not result.intact


@pytest.mark.parametrize("table", ["audit_event", "case_transition"])
def test_update_and_delete_are_refused_and_a_superuser_bypass_is_caught(any_url: str, table: str) -> None:
    engine, _ = _small_log(any_url)
    for statement in (f"UPDATE {table} SET actor = 'x' WHERE seq = 2", f"DELETE FROM {table} WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
    assert _verify(engine).intact
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # the other way a superuser has round them
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
        else:
            without_guards(conn)
        conn.execute(text(f"DELETE FROM {table} WHERE seq = 2"))
    result = _verify(engine)
    assert not result.intact
    if table == "audit_event":
        assert result.log_break is not None and (result.log_break.seq, result.log_break.kind) == (2, "deleted")
    else:
        assert result.broken_cases


def test_appends_from_two_connections_keep_one_chain(any_url: str) -> None:
    """Appends serialize: a second writer waits for the first to commit, then chains after it."""
    import threading

    from scanner.audit.log import record

    engine, head = _small_log(any_url)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(15):
                with engine.begin() as conn:
                    record(conn, T0, name, "test.append", f"item {i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = _verify(engine)
    assert result.intact and result.head_seq == head + 45


def test_a_second_run_records_changed_reasons_resolutions_and_cancellations(any_url: str) -> None:
    engine, head = _small_log(any_url)
    findings = {1: ("fail", ["EYES_OCCLUDED"]), 2: ("fail", ["BLURRY"]), 3: ("pass", []), 4: ("fail", ["BLURRY"])}
    add_run(engine, 2, findings)
    advance(engine, load_policy().enforcement, T0 + dt.timedelta(hours=1))
    with engine.connect() as conn:
        rows = conn.execute(
            select(AUDIT_EVENT.c.action, AUDIT_EVENT.c.subscriber_id).where(AUDIT_EVENT.c.seq > head)
        ).all()
        cancelled = conn.execute(select(NOTICE.c.subscriber_id).where(NOTICE.c.status == "cancelled")).scalars().all()
    assert ("case.reasons", 1) in rows and not any(a == "case.reasons" and s != 1 for a, s in rows)
    assert ("case.resolve", 3) in rows
    assert sorted(s for a, s in rows if a == "notice.cancel") == sorted(cancelled)
    assert ("cases.sync", None) in rows
    assert _verify(engine).intact


def test_the_migration_chains_the_rows_written_before_it(any_url: str) -> None:
    db.upgrade(any_url, "0005")
    engine = db.engine_for(any_url)
    at = "2026-12-01 02:00:00.000000" if engine.dialect.name == "sqlite" else "2026-12-01 02:00:00+00"
    as_json = "CAST(:d AS json)" if engine.dialect.name == "postgresql" else ":d"
    with engine.begin() as conn:
        for i, detail in enumerate(['{"scope": "all", "reason": "lockdown"}', '{"b": 1, "a": [2, 3]}', "{}"]):
            conn.execute(
                text(
                    "INSERT INTO audit_event (at, actor, action, subject, detail) "
                    f"VALUES (:at, 'Wang Li', 'hold.add', :s, {as_json})"
                ),
                {"at": at, "s": f"hold {i}", "d": detail},
            )
    db.upgrade(any_url)
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.subject).order_by(AUDIT_EVENT.c.seq)).all()
    assert [tuple(r) for r in rows] == [(1, "hold 0"), (2, "hold 1"), (3, "hold 2")]
    result = _verify(engine)
    assert result.intact and result.rows == 3
    with engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
        conn.execute(text("DELETE FROM audit_event WHERE seq = 1"))
    db.downgrade(any_url, "0005")
    with engine.begin() as conn:  # the triggers went with the migration
        conn.execute(text("DELETE FROM audit_event"))
