"""Cases on SQLite and PostgreSQL: findings open and resolve them, the ladder is delivery-gated,
holds freeze it, an officer approves, the BSS confirms; ``cases advance`` is idempotent."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from diff_runs import Person, add_people, add_run
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from tamper import without_guards

from checks.idcard import check_character
from notices.settings import Enforcement
from scanner.db import open_engine, write_engine_for
from scanner.enforce.advance import advance
from scanner.enforce.cases import CaseError, verify_history
from scanner.enforce.holds import add_hold, lift_hold
from scanner.enforce.queue import SqlNoticeQueue
from scanner.enforce.suspensions import approve, confirm, export_approved
from scanner.policyfile import load_policy
from scanner.tables import CASE, CASE_TRANSITION, NOTICE, SUBSCRIBER

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@dataclass
class World:
    engine: Engine
    rules: Enforcement
    queue: SqlNoticeQueue
    now: dt.datetime = T0

    def advance(self, days: float = 0) -> dict[str, object]:
        self.now += dt.timedelta(days=days)
        return advance(self.engine, self.rules, self.now).to_dict()

    def send(self, stat: str = "DELIVRD", channel: str = "sms") -> list[int]:
        """Claim, acknowledge and report every due notice of a channel; the ids sent."""
        sent = []
        for notice in self.queue.claim(100, "test-gw", channel=channel, now=self.now):
            self.queue.ack(notice.id, notice.claim_token, f"gw-{notice.id}", now=self.now)
            self.queue.receipt(f"gw-{notice.id}", stat, None, self.now, now=self.now)
            sent.append(notice.id)
        return sent

    def deliver_all(self) -> None:
        for channel in ("sms", "call", "letter"):
            self.send("DELIVRD", channel)

    def case(self, sid: int = 1) -> dict[str, object]:
        with self.engine.connect() as conn:
            row = conn.execute(select(CASE).where(CASE.c.subscriber_id == sid).order_by(CASE.c.id.desc())).first()
        assert row is not None
        return dict(row._mapping)

    def notices(self, sid: int = 1) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(NOTICE).where(NOTICE.c.subscriber_id == sid).order_by(NOTICE.c.id)).all()
        return [dict(r._mapping) for r in rows]


@pytest.fixture
def world(any_url: str) -> World:
    open_engine(any_url)
    engine = write_engine_for(any_url)
    rules = load_policy().enforcement
    return World(engine, rules, SqlNoticeQueue(engine, rules))


def _fail_run(world: World, run_id: int, people: dict[int, str]) -> None:
    add_run(
        world.engine,
        run_id,
        {sid: (verdict, ["BLURRY"] if verdict == "fail" else []) for sid, verdict in people.items()},
    )


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(text(f"select count(*) from {t}")).scalar_one()
            for t in ("enforcement_case", "case_transition", "notice")
        )


def test_ladder_is_delivery_gated_to_eligibility_then_an_officer_and_the_bss(world: World, tmp_path: Path) -> None:
    add_people(world.engine, [Person(1), Person(2)])
    _fail_run(world, 1, {1: "fail", 2: "pass"})
    summary = world.advance()
    assert summary["opened"] == 1 and summary["events"] == {"start_ladder": 1}
    before = _counts(world.engine)
    assert world.advance()["events"] == {} and _counts(world.engine) == before  # idempotent
    assert world.send() and world.case()["stage"] == 1
    world.advance(6.9)
    assert world.case()["stage"] == 1  # the 7-day delay counts from the delivery
    world.advance(0.2)
    assert world.case()["stage"] == 2
    world.send()
    world.advance(7.1)
    assert world.case()["stage"] == 3
    assert {n["channel"] for n in world.notices() if n["stage"] == 3} == {"sms", "call"}
    world.send()  # the SMS of stage 3, but the call task is not done yet
    world.advance(30)
    assert world.case()["state"] == "notifying", "eligible without the call task delivered"
    with pytest.raises(CaseError, match="only an eligible case"):
        approve(world.engine, world.case()["id"], "Wang Li", world.now)  # type: ignore[arg-type]
    world.send(channel="call")
    world.advance()
    assert world.case()["state"] == "awaiting_grace"
    world.advance(6.9)
    assert world.case()["state"] == "awaiting_grace"
    world.advance(0.2)
    case = world.case()
    assert case["state"] == "eligible"
    with pytest.raises(CaseError, match="officer"):
        approve(world.engine, case["id"], " ", world.now)  # type: ignore[arg-type]
    approve(world.engine, case["id"], "Wang Li", world.now)  # type: ignore[arg-type]
    out = tmp_path / "bss.csv"
    preview = export_approved(world.engine, out, "Wang Li", world.now)  # masked: for people, consumes nothing
    assert [r["account_id"] for r in preview.rows] == ["ACC00001"] and not preview.consumed
    assert _read(out)[0]["msisdn"] == "139****0001" and "*" in _read(out)[0]["id_number"]
    with pytest.raises(CaseError, match=r"bss\.csv exists: choose another file, or --force"):
        export_approved(world.engine, out, "Wang Li", world.now, full_numbers=True)
    assert len(_read(out)) == 1  # not overwritten
    full = export_approved(world.engine, out, "Wang Li", world.now, full_numbers=True, force=True)
    assert full.consumed and full.batch == 1 and _read(out)[0]["msisdn"] == "13910000001"
    assert export_approved(world.engine, tmp_path / "again.csv", "Wang Li", world.now, True).rows == []  # once
    lost = tmp_path / "lost.csv"  # the BSS lost the file: the batch is written again
    again = export_approved(world.engine, lost, "Wang Li", world.now, True, batch=1)
    assert _read(lost) == _read(out) and not again.consumed
    with pytest.raises(CaseError, match="no suspension export batch 9"):
        export_approved(world.engine, tmp_path / "x.csv", "Wang Li", world.now, True, batch=9)
    assert confirm(world.engine, [case["id"]], "BSS-2026-0042", world.now) == [case["id"]]  # type: ignore[list-item]
    assert world.case()["state"] == "suspended"
    with world.engine.connect() as conn:
        assert verify_history(conn, case["id"]) == (True, 8)  # type: ignore[arg-type]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_undelivered_is_resent_then_falls_back_and_never_escalates(world: World) -> None:
    add_people(world.engine, [Person(1)])
    _fail_run(world, 1, {1: "fail"})
    world.advance()
    world.send("UNDELIV")
    world.advance()
    resend = [n for n in world.notices() if n["status"] == "queued"]
    assert len(resend) == 1 and resend[0]["attempt"] == 2 and resend[0]["channel"] == "sms"
    assert resend[0]["not_before"] >= world.now + dt.timedelta(hours=23)  # a day later, inside the window
    world.advance(1)
    world.send("EXPIRED")
    world.advance(1)
    world.send("UNDELIV")
    world.advance(1)  # third undelivered SMS: the stage's SMS slot goes to an agent's call
    queued = [n for n in world.notices() if n["status"] == "queued"]
    assert [(n["channel"], n["slot"], n["attempt"]) for n in queued] == [("call", "sms", 4)]
    assert world.case()["stage"] == 1
    world.send("UNDELIV", channel="call")
    world.advance(1)
    world.send("UNDELIV", channel="call")
    world.advance(1)
    world.send("UNDELIV", channel="call")
    world.advance(1)
    letter = [n for n in world.notices() if n["status"] == "queued"]
    assert [(n["channel"], n["attempt"]) for n in letter] == [("letter", 7)]
    for _ in range(3):
        world.send("UNDELIV", channel="letter")
        world.advance(1)
    summary = world.advance(30)
    assert world.case()["state"] == "notifying" and world.case()["stage"] == 1
    assert summary["stuck"] == 1  # no channel left: an officer must look; never escalated


def test_dead_notice_falls_back_at_once_and_receipt_timeout_counts_as_undelivered(world: World) -> None:
    add_people(world.engine, [Person(1)])
    _fail_run(world, 1, {1: "fail"})
    world.advance()
    [claimed] = world.queue.claim(5, "gw", now=world.now)
    assert world.queue.nack(claimed.id, claimed.claim_token, "number barred", permanent=True, now=world.now) == "dead"
    world.advance()
    assert [n["channel"] for n in world.notices() if n["status"] == "queued"] == ["call"]
    [call] = world.queue.claim(5, "agents", channel="call", now=world.now)
    world.queue.ack(call.id, call.claim_token, "ticket-1", now=world.now)
    world.advance(3.01)  # no outcome within 72 hours
    notice = next(n for n in world.notices() if n["id"] == call.id)
    assert notice["status"] == "undelivered" and "72 hours" in str(notice["error"])
    # A late DELIVRD still counts: the subscriber was reached.
    assert world.queue.receipt("ticket-1", "DELIVRD", None, world.now, now=world.now) == "delivered"
    world.advance()
    assert world.case()["stage"] == 1 and world.case()["stage_delivered_at"] is not None


def test_hold_cancels_pending_freezes_and_restarts_delays_from_its_end(world: World) -> None:
    wuhan = Person(1, region="420102")
    beijing = Person(2, region="110105")
    add_people(world.engine, [wuhan, beijing])
    _fail_run(world, 1, {1: "fail", 2: "fail"})
    world.advance()
    world.send()
    world.advance(7.1)
    assert world.case(1)["stage"] == 2
    hold_id = add_hold(world.engine, "region:420100", "lockdown", world.now + dt.timedelta(days=20), "Li", world.now)
    summary = world.advance()
    assert world.case(1)["state"] == "on_hold" and world.case(2)["state"] == "notifying"
    assert summary["notices_cancelled"] == 1
    assert world.send() == [n["id"] for n in world.notices(2) if n["stage"] == 2]  # only Beijing goes out
    world.advance(5)
    lift_hold(world.engine, hold_id, "Li", "lockdown over", world.now)
    world.advance(0.01)
    case = world.case(1)
    assert case["state"] == "notifying" and case["stage"] == 2
    again = [n for n in world.notices(1) if n["status"] == "queued"]
    assert len(again) == 1 and again[0]["stage"] == 2 and again[0]["attempt"] == 2  # one notice, no burst
    world.send()
    world.advance(6.9)
    assert world.case(1)["stage"] == 2
    # The history names the hold: its number, who placed it and why, on both the hold and the release.
    with world.engine.connect() as conn:
        lines = conn.execute(
            select(CASE_TRANSITION).where(CASE_TRANSITION.c.case_id == world.case(1)["id"]).order_by("seq")
        ).all()
    held = [line for line in lines if line.event in ("hold", "release")]
    assert [line.event for line in held] == ["hold", "release"]
    assert all(line.hold_id == hold_id and f"hold {hold_id} by Li: lockdown" in line.why for line in held)
    with world.engine.connect() as conn:
        assert verify_history(conn, world.case(1)["id"])[0]  # type: ignore[arg-type]
    with pytest.raises(CaseError, match="already ended"):
        lift_hold(world.engine, hold_id, "Li", "again", world.now)


def test_eligible_case_put_on_hold_returns_to_grace_and_loses_nothing(world: World) -> None:
    add_people(world.engine, [Person(1)])
    _fail_run(world, 1, {1: "fail"})
    for _ in range(3):
        world.advance()
        world.deliver_all()
        world.advance(7.1)
    world.advance(7.1)
    assert world.case()["state"] == "eligible"
    add_hold(
        world.engine, "account:ACC00001", "complaint under review", world.now + dt.timedelta(days=3), "Li", world.now
    )
    world.advance()
    assert world.case()["state"] == "on_hold"
    with pytest.raises(CaseError):
        approve(world.engine, world.case()["id"], "Wang Li", world.now)  # type: ignore[arg-type]
    world.advance(3.1)
    assert world.case()["state"] == "awaiting_grace"  # grace counts again from the end of the hold
    world.advance(6.8)
    assert world.case()["state"] == "awaiting_grace"
    world.advance(0.3)
    assert world.case()["state"] == "eligible"


def test_passing_rescan_resolves_and_cancels_preview_runs_touch_nothing(world: World) -> None:
    add_people(world.engine, [Person(1), Person(2)])
    add_run(world.engine, 1, {1: ("fail", ["BLURRY"]), 2: ("fail", ["NO_FACE"])}, mode="preview")
    assert world.advance()["opened"] == 0
    _fail_run(world, 2, {1: "fail", 2: "fail"})
    world.advance()
    _fail_run(world, 3, {1: "pass", 2: "fail"})
    summary = world.advance(0.5)
    assert summary["resolved"] == 1 and summary["notices_cancelled"] == 1
    assert world.case(1)["state"] == "resolved" and world.case(1)["active_subscriber_id"] is None
    assert all(n["status"] == "cancelled" for n in world.notices(1))
    world.advance(29.5)  # 10:00 in Shanghai
    claimed = world.queue.claim(100, "gw", now=world.now)
    assert claimed and not {c.id for c in claimed} & {n["id"] for n in world.notices(1)}  # no reminder for 1
    _fail_run(world, 4, {1: "fail"})
    with world.engine.begin() as conn:
        conn.execute(text("update scan_run set started_at = :t where id = 4"), {"t": world.now.replace(tzinfo=None)})
    world.advance()
    assert world.case(1)["state"] == "notifying" and world.case(1)["id"] != 1  # a new failure opens a new case


def test_assisted_call_for_the_elderly_and_enterprise_accounts(world: World) -> None:
    body = "11010519500101001"
    elderly = Person(1)
    add_people(world.engine, [elderly, Person(2), Person(3)])
    with world.engine.begin() as conn:
        sub = SUBSCRIBER
        conn.execute(update(sub).where(sub.c.id == 1).values(id_number=body + check_character(body)))
        conn.execute(update(sub).where(sub.c.id == 3).values(segment="enterprise"))
    _fail_run(world, 1, {1: "fail", 2: "fail", 3: "fail"})
    world.advance()
    assert {n["channel"] for n in world.notices(1)} == {"sms", "call"}
    assert {n["channel"] for n in world.notices(2)} == {"sms"}
    assert {n["channel"] for n in world.notices(3)} == {"sms", "call"}


def test_notices_never_carry_full_numbers_and_history_detects_edits(world: World) -> None:
    person = Person(1)
    add_people(world.engine, [person])
    _fail_run(world, 1, {1: "fail"})
    world.advance()
    [notice] = world.notices()
    assert person.msisdn not in str(notice["text"]) and person.msisdn not in str(notice["params"])
    assert person.id_number not in str(notice["text"])
    assert "139****0001" in str(notice["text"])
    case_id = world.case()["id"]
    transition = CASE_TRANSITION
    edit = update(transition).where(transition.c.seq == 1).values(why="edited afterwards")
    with pytest.raises(DBAPIError, match="append-only"), world.engine.begin() as conn:
        conn.execute(edit)
    with world.engine.begin() as conn:
        without_guards(conn)
        conn.execute(edit)
    with world.engine.connect() as conn:
        assert verify_history(conn, case_id) == (False, 1)  # type: ignore[arg-type]


def test_nothing_is_claimed_outside_the_send_window(world: World) -> None:
    add_people(world.engine, [Person(1)])
    _fail_run(world, 1, {1: "fail"})
    world.now = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # 22:00 in Shanghai
    world.advance()
    [notice] = world.notices()
    assert notice["not_before"] == dt.datetime(2026, 12, 2, 0, 0, tzinfo=dt.UTC)  # 08:00 the next morning
    assert world.queue.claim(10, "gw", now=world.now) == []
    late_night = dt.datetime(2026, 12, 2, 20, 30, tzinfo=dt.UTC)  # 04:30: overdue but outside the window
    assert world.queue.claim(10, "gw", now=late_night) == []
    assert len(world.queue.claim(10, "gw", now=dt.datetime(2026, 12, 2, 0, 0, tzinfo=dt.UTC))) == 1
