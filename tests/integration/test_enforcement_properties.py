"""Properties of ``cases advance`` and the notice queue, on a real SQLite database.

A hypothesis state machine drives the database code (``scanner.enforce.advance``, ``scanner.enforce.queue``,
``scanner.enforce.holds``) through random sequences of claims, acks, nacks, delivery receipts (every SMPP stat,
repeated, late or never), holds over every kind of scope (lifted early or not), re-verifications, rescans
and clock steps from minutes to days (landing at night too). ``advance`` runs after every step, twice, and
after every step these hold (read back from ``enforcement_case``, ``case_transition`` and ``notice``):

1. A case becomes eligible only when every slot of every stage (the assisted call of the first stage for
   the elderly and enterprise accounts included) has a delivered notice, one delivered notice is on a
   channel other than SMS, the grace period has run since the last stage's delivery and since the end of
   every hold that covered the case, and no hold covers it; likewise a stage starts only when the stage
   before it was delivered and its delay has run from that delivery and from the end of every such hold.
2. Nothing is handed out outside the send window (nor to a held subscriber), and every queued notice's
   not-before time lies inside the window.
3. A resolved case gets no further reminder: none of its notices is claimable or claimed afterwards, and
   none is created after its resolution.
4. Every case's history verifies and follows the transitions table, its times never go backwards, and it
   ends in the case's state.
5. A second ``advance`` at the same moment changes nothing (nor does ``advance`` after a preview run).
6. A subscriber has at most one open case.

The oracle is written from the documented rules, not from the planner's code: slots, delays, grace,
window, hold scopes and the release rule are recomputed here. The clock may jump over a whole hold
(cron down, a short hold): the hold must count all the same, and no notice may be claimed under a hold
before ``advance`` has seen it; the last tests below pin both.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from diff_runs import Person, add_people, add_run
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from sqlalchemy import Row, select, update

from checks.idcard import check_character, measure_id_number
from notices.cases import TRANSITIONS, CaseEvent, CaseState
from notices.queue import StaleClaim
from scanner import db
from scanner.enforce.advance import advance
from scanner.enforce.cases import verify_history
from scanner.enforce.holds import add_hold, lift_hold
from scanner.enforce.queue import SqlNoticeQueue
from scanner.policyfile import load_policy
from scanner.tables import AUDIT_EVENT, CASE, CASE_TRANSITION, HOLD, NOTICE, SCAN_RUN, SUBSCRIBER

pytestmark = pytest.mark.slow


RULES = load_policy().enforcement

# The oracle: the default policy as the brief states it (checked against the policy file below).
ZONE = ZoneInfo("Asia/Shanghai")
OPENS, CLOSES = dt.time(8, 0), dt.time(21, 0)
STAGES: tuple[tuple[int, tuple[str, ...]], ...] = ((0, ("sms",)), (7, ("sms",)), (7, ("call", "sms")))
GRACE = dt.timedelta(days=7)
ASSISTED = "call"  # added to the first stage for subscribers aged 70+ and enterprise accounts
STATS = ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN", "ACCEPTD", "ENROUTE")
REGIONS = ("420102", "420111", "110105")  # two districts of Wuhan (covered by region:420100), one of Beijing
PAST_GRACE_STATES = {CaseState.ELIGIBLE.value, CaseState.APPROVED.value, CaseState.SUSPENDED.value}
CLOSED_STATES = {CaseState.RESOLVED.value, CaseState.EXEMPTED.value}
T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


def test_the_oracle_describes_the_default_policy() -> None:
    ladder = RULES.ladder
    assert tuple((s.delay_days, tuple(c.value for c in s.channels)) for s in ladder.stages) == STAGES
    assert dt.timedelta(days=ladder.grace_days) == GRACE
    assert (ladder.assisted_min_age, ladder.assisted_segments, ladder.assisted_channel.value) == (
        70,
        ("enterprise",),
        ASSISTED,
    )
    assert (RULES.window.opens, RULES.window.closes, RULES.window.zone) == (OPENS, CLOSES, "Asia/Shanghai")
    elder = measure_id_number(Elder(7).id_number)
    assert elder.check_digit_ok and elder.birth_date == dt.date(1950, 6, 12)


def in_window(at: dt.datetime) -> bool:
    return OPENS <= at.astimezone(ZONE).time() < CLOSES


@dataclass(frozen=True)
class Elder(Person):  # type: ignore[misc, unused-ignore]  # Person is Any when tests/support is not on the path
    """A subscriber born in 1950: 70 or older, so the first stage adds an assisted call."""

    @property
    def id_number(self) -> str:
        body = f"{self.region}19500612{self.id % 1000:03d}"
        return body + check_character(body)


@dataclass(frozen=True)
class Sub:
    id: int
    region: str
    elderly: bool
    enterprise: bool

    @property
    def account_id(self) -> str:
        return f"ACC{self.id:05d}"

    def slots(self, stage_no: int) -> tuple[str, ...]:
        channels = STAGES[stage_no - 1][1]
        if stage_no == 1 and (self.elderly or self.enterprise) and ASSISTED not in channels:
            return (*channels, ASSISTED)
        return channels


@dataclass
class HoldModel:
    id: int
    scope: str
    starts_at: dt.datetime
    until: dt.datetime
    lifted_at: dt.datetime | None = None

    @property
    def ends_at(self) -> dt.datetime:
        return self.until if self.lifted_at is None else min(self.until, self.lifted_at)

    def covers(self, sub: Sub) -> bool:
        kind, _, value = self.scope.partition(":")
        return {
            "all": True,
            "account": value == sub.account_id,
            "segment": value == "enterprise" and sub.enterprise,
            "region": sub.region.startswith("4201"),  # region:420100 is all of Wuhan
        }[kind]

    def active(self, at: dt.datetime) -> bool:
        return self.starts_at <= at < self.ends_at


OUTCOMES = st.sampled_from(
    (
        *(["DELIVRD"] * 14),
        *STATS[1:],
        "no receipt",  # acknowledged, but no receipt comes: the 72-hour rule applies
        "nack",
        "nack permanent",
        "crash",  # the consumer dies holding the lease: neither ack nor nack (it may report late)
    )
)
VERDICTS = ("fail", "fail", "fail", "pass", "review", "missing")
CLOCK_STEPS = st.one_of(
    st.integers(1, 240).map(lambda m: dt.timedelta(minutes=m)),
    st.integers(1, 36).map(lambda h: dt.timedelta(hours=h)),
    st.integers(1, 8).map(lambda d: dt.timedelta(days=d)),
    st.integers(6 * 24 * 60, 9 * 24 * 60).map(lambda m: dt.timedelta(minutes=m)),  # about a stage's delay
    st.sampled_from(("07:59", "08:00", "20:59", "21:00", "02:30", "12:00")),  # the next such local time
)
SCOPES = st.one_of(
    st.sampled_from(("all", "region:420100", "segment:enterprise")),
    st.integers(1, 5).map(lambda i: f"account:ACC{i:05d}"),
)


class EnforcementMachine(RuleBasedStateMachine):
    """One fresh database per example; ``advance`` after every step, then the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="realname-props-"))
        url = f"sqlite:///{self.tmp / 'realname.db'}"
        self.reader = db.open_engine(url)  # migrates the new file
        self.engine = db.write_engine_for(url)
        self.queue = SqlNoticeQueue(self.engine, RULES)
        self.subs: dict[int, Sub] = {}
        self.holds: list[HoldModel] = []
        self.clock = self.advanced_at = T0
        self.run_id = 0
        self.messages = 0
        self.acked: list[tuple[str, dt.datetime]] = []  # gateway message id, submitted at
        self.outstanding: list[tuple[int, str]] = []  # claims neither acked nor nacked: notice id, token
        self.seen_transitions: set[int] = set()

    def teardown(self) -> None:
        self.engine.dispose()
        self.reader.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- set-up --------------------------------------------------------------------------------

    @initialize(
        kinds=st.lists(st.tuples(st.booleans(), st.booleans(), st.sampled_from(REGIONS)), min_size=3, max_size=5),
        start_minutes=st.integers(0, 24 * 60 - 1),
    )
    def open_cases(self, kinds: list[tuple[bool, bool, str]], start_minutes: int) -> None:
        people = []
        for sid, (elderly, enterprise, region) in enumerate(kinds, start=1):
            people.append(Elder(sid, region) if elderly else Person(sid, region))
            self.subs[sid] = Sub(sid, region, elderly, enterprise)
        add_people(self.engine, people)
        enterprise_ids = [s.id for s in self.subs.values() if s.enterprise]
        with self.engine.begin() as conn:
            conn.execute(update(SUBSCRIBER).where(SUBSCRIBER.c.id.in_(enterprise_ids)).values(segment="enterprise"))
        self.clock = T0 + dt.timedelta(minutes=start_minutes)
        self._scan({sid: ("fail", ["FACE_MISMATCH"]) for sid in self.subs})
        self._advance()

    # --- the world's steps -----------------------------------------------------------------------

    @rule(step=CLOCK_STEPS)
    def clock_step(self, step: dt.timedelta | str) -> None:
        """Minutes to days later, or to the next given local time (the edges of the window, night, noon)."""
        if isinstance(step, dt.timedelta):
            target = self.clock + step
        else:
            here = self.clock.astimezone(ZONE)
            local = dt.datetime.combine(here.date(), dt.time.fromisoformat(step), tzinfo=ZONE)
            target = (local if local > here else local + dt.timedelta(days=1)).astimezone(dt.UTC)
        self._move_to(target)
        self._advance()

    @rule(channel=st.sampled_from(("sms", "call", "letter", "every channel")), data=st.data())
    def consume(self, channel: str, data: st.DataObject) -> None:
        """The SMS system, the agents or the letter service claim what is due and report on each."""
        self._consume(("sms", "call", "letter") if channel == "every channel" else (channel,), data)
        self._advance()

    @rule(days=st.integers(1, 12), minutes=st.integers(8 * 60, 21 * 60 - 1), data=st.data())
    def working_days(self, days: int, minutes: int, data: st.DataObject) -> None:
        """Days go by as usual: once a day, at a time inside the window, cron advances the cases and
        every channel's consumer claims what is due and reports on it."""
        for _ in range(days):
            here = self.clock.astimezone(ZONE)
            day = dt.datetime.combine(here.date() + dt.timedelta(days=1), dt.time(0), tzinfo=ZONE)
            self._move_to((day + dt.timedelta(minutes=minutes)).astimezone(dt.UTC))
            self._advance()
            self._consume(("sms", "call", "letter"), data)
        self._advance()

    @precondition(lambda self: bool(self.acked))
    @rule(data=st.data(), stat=st.sampled_from(STATS), minutes_later=st.integers(0, 180), done=st.integers(0, 4))
    def receipt(self, data: st.DataObject, stat: str, minutes_later: int, done: int) -> None:
        """A receipt for any acknowledged message: late, repeated, after the 72-hour rule, or not final."""
        gateway_id, submitted_at = data.draw(st.sampled_from(self.acked), label="message")
        self._move_to(self.clock + dt.timedelta(minutes=minutes_later))
        # The gateway's done time lies between the last advance (or the submission) and now.
        earliest = max(self.advanced_at, submitted_at)
        done_at = earliest + (self.clock - earliest) * done / 4
        self.queue.receipt(gateway_id, stat, done_at=done_at, now=self.clock)
        self._advance()

    @precondition(lambda self: bool(self.outstanding))
    @rule(data=st.data(), report=st.sampled_from(("ack", "nack", "nack permanent")))
    def late_report(self, data: st.DataObject, report: str) -> None:
        """A consumer reports a claim long after its lease: the notice may have been claimed again,
        cancelled by a hold or a resolution, or declared dead."""
        notice_id, token = data.draw(st.sampled_from(self.outstanding), label="claim")
        self.outstanding.remove((notice_id, token))
        try:
            if report == "ack":
                self._ack(notice_id, token)
            else:
                self.queue.nack(notice_id, token, "late failure", report == "nack permanent", now=self.clock)
        except StaleClaim:
            with self.reader.connect() as conn:
                row = conn.execute(select(NOTICE).where(NOTICE.c.id == notice_id)).one()
            assert row.claim_token != token or row.status != "claimed", f"notice {notice_id}: a live claim refused"
        self._advance()

    @rule(scope=SCOPES, hours=st.integers(1, 12 * 24), starts_in=st.sampled_from((0, 0, 3, 30)))
    def hold(self, scope: str, hours: int, starts_in: int) -> None:
        starts = self.clock + dt.timedelta(hours=starts_in)
        until = starts + dt.timedelta(hours=hours)
        hold_id = add_hold(self.engine, scope, "property test", until, "officer:Test", now=self.clock, starts_at=starts)
        self.holds.append(HoldModel(hold_id, scope, starts, until))
        self._advance()

    @precondition(lambda self: any(h.ends_at > self.clock for h in self.holds))
    @rule(data=st.data())
    def lift(self, data: st.DataObject) -> None:
        hold = data.draw(st.sampled_from([h for h in self.holds if h.ends_at > self.clock]), label="hold")
        lift_hold(self.engine, hold.id, "officer:Test", "lifted early", now=self.clock)
        hold.lifted_at = self.clock
        self._advance()

    @rule(kind=st.sampled_from(("rescan", "re-verification", "preview")), data=st.data())
    def scan(self, kind: str, data: st.DataObject) -> None:
        """An enforcing rescan (each subscriber passes, fails again, needs review or is missing), a
        re-verification (an enforcing run in which one subscriber passes) or a preview run (which never
        touches cases: ``advance`` afterwards at the same moment changes nothing)."""
        findings: dict[int, tuple[str, list[str]]] = {}
        if kind == "re-verification":
            findings[data.draw(st.sampled_from(sorted(self.subs)), label="subscriber")] = ("pass", [])
        else:
            for sid in sorted(self.subs):
                verdict = data.draw(st.sampled_from(VERDICTS), label=f"subscriber {sid}")
                if verdict != "missing":
                    findings[sid] = (verdict, [] if verdict == "pass" else ["BLURRY"])
        if kind == "preview":
            before = self._snapshot()
            self.run_id += 1
            add_run(self.engine, self.run_id, findings, mode="preview")
            advance(self.engine, RULES, self.clock)
            assert self._snapshot() == before, "a preview run changed the cases or the queue"
            return
        self._scan(findings)
        self._advance()

    # --- helpers ---------------------------------------------------------------------------------

    def _scan(self, findings: dict[int, tuple[str, list[str]]]) -> None:
        self.run_id += 1
        add_run(self.engine, self.run_id, findings)
        with self.engine.begin() as conn:  # the run started half an hour ago and just finished
            conn.execute(
                update(SCAN_RUN)
                .where(SCAN_RUN.c.id == self.run_id)
                .values(started_at=self.clock - dt.timedelta(minutes=30), finished_at=self.clock)
            )

    def _consume(self, channels: tuple[str, ...], data: st.DataObject) -> None:
        for channel in channels:
            claimed = self.queue.claim(10, f"{channel} consumer", channel=channel, now=self.clock)
            self._check_claimed([c.id for c in claimed])
            for notice in claimed:
                outcome = data.draw(OUTCOMES, label=f"notice {notice.id}")
                if outcome == "crash":
                    self.outstanding.append((notice.id, notice.claim_token))
                elif outcome.startswith("nack"):
                    permanent = outcome == "nack permanent"
                    self.queue.nack(notice.id, notice.claim_token, "gateway busy", permanent, now=self.clock)
                else:
                    gateway_id = self._ack(notice.id, notice.claim_token)
                    if outcome in STATS:
                        self.queue.receipt(gateway_id, outcome, done_at=self.clock, now=self.clock)

    def _ack(self, notice_id: int, token: str) -> str:
        self.messages += 1
        gateway_id = f"gw-{self.messages}"
        self.queue.ack(notice_id, token, gateway_id, now=self.clock)
        self.acked.append((gateway_id, self.clock))
        return gateway_id

    def _snapshot(self) -> list[list[tuple[Any, ...]]]:
        with self.reader.connect() as conn:
            return [
                [tuple(row) for row in conn.execute(select(table).order_by(table.c.id))]
                for table in (CASE, CASE_TRANSITION, NOTICE, HOLD, AUDIT_EVENT)
            ]

    def _move_to(self, target: dt.datetime) -> None:
        self.clock = target

    def _advance(self) -> None:
        self.advanced_at = self.clock
        advance(self.engine, RULES, self.clock)
        before = self._snapshot()
        advance(self.engine, RULES, self.clock)
        after = self._snapshot()
        # 5. A second run at the same moment changes nothing.
        for name, b, a in zip(("cases", "transitions", "notices", "holds", "audit"), before, after, strict=True):
            assert len(a) == len(b), f"the second advance at {self.clock} changed the number of {name}"
            assert a == b, f"the second advance at {self.clock} changed the {name}"
        self._check()

    def _held(self, sub: Sub, at: dt.datetime) -> bool:
        return any(h.covers(sub) and h.active(at) for h in self.holds)

    def _hold_ends(self, sub: Sub, opened_at: dt.datetime, at: dt.datetime) -> list[dt.datetime]:
        """The ends, by ``at``, of the holds that covered the case at some time since it was opened."""
        return [
            h.ends_at
            for h in self.holds
            if h.covers(sub) and h.starts_at < h.ends_at <= at and h.ends_at > opened_at and h.starts_at < at
        ]

    # --- invariants ------------------------------------------------------------------------------

    def _check_claimed(self, notice_ids: list[int]) -> None:
        """2 and 3 at the moment of a claim: inside the window, never for a closed case or a held subscriber."""
        if not notice_ids:
            return
        assert in_window(self.clock), f"notices {notice_ids} handed out at {self.clock.astimezone(ZONE)}, local"
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(NOTICE.c.id, NOTICE.c.subscriber_id, CASE.c.state)
                .select_from(NOTICE.join(CASE, CASE.c.id == NOTICE.c.case_id))
                .where(NOTICE.c.id.in_(notice_ids))
            ).all()
        for row in rows:
            assert row.state not in CLOSED_STATES, f"notice {row.id} of a {row.state} case was handed out"
            assert not self._held(self.subs[row.subscriber_id], self.clock), f"notice {row.id}: subscriber held"

    def _check(self) -> None:
        with self.reader.connect() as conn:
            cases = conn.execute(select(CASE).order_by(CASE.c.id)).all()
            lines: dict[int, list[Row[Any]]] = defaultdict(list)
            for line in conn.execute(
                select(CASE_TRANSITION).order_by(CASE_TRANSITION.c.case_id, CASE_TRANSITION.c.seq)
            ):
                lines[line.case_id].append(line)
            notices: dict[int, list[Row[Any]]] = defaultdict(list)
            all_notices = conn.execute(select(NOTICE).order_by(NOTICE.c.id)).all()
            for notice in all_notices:
                notices[notice.case_id].append(notice)
            verified = {case.id: verify_history(conn, case.id) for case in cases}

        # 2. Every queued notice waits for a time inside the window.
        for notice in all_notices:
            if notice.status == "queued":
                local = notice.not_before.astimezone(ZONE)
                assert in_window(notice.not_before), f"notice {notice.id} queued for {local}, outside the window"
                assert notice.not_before >= notice.created_at, f"notice {notice.id} due before it was created"

        # 6. At most one open case per subscriber.
        open_cases: dict[int, list[int]] = defaultdict(list)
        for case in cases:
            if case.state not in CLOSED_STATES:
                open_cases[case.subscriber_id].append(case.id)
                assert case.active_subscriber_id == case.subscriber_id, f"case {case.id}: open but not active"
            else:
                assert case.active_subscriber_id is None, f"case {case.id}: closed but still active"
        for sid, ids in open_cases.items():
            assert len(ids) <= 1, f"subscriber {sid} has open cases {ids}"

        for case in cases:
            sub = self.subs[case.subscriber_id]
            history = lines[case.id]
            # 4. The history verifies, follows the table and never goes back in time.
            assert verified[case.id] == (True, len(history)), f"case {case.id}: history does not verify"
            self._check_history(case, history)
            for line in history:
                if line.id in self.seen_transitions:
                    continue
                self.seen_transitions.add(line.id)
                assert line.at == self.clock, f"case {case.id}: line {line.seq} stamped {line.at}, not now"
                self._check_new_line(case, sub, line, notices[case.id])
            if case.state in PAST_GRACE_STATES:
                event("a case became eligible")
                # 1. ... and no hold covers it now.
                assert not self._held(sub, self.clock), f"case {case.id} is {case.state} under a hold"
            if case.state == CaseState.RESOLVED.value:
                event("a case was resolved")
                # 3. Nothing more for a resolved case.
                for notice in (n for n in notices[case.id] if n.stage > 0):
                    assert notice.created_at <= case.closed_at, f"notice {notice.id} created after resolution"
                    assert notice.status not in ("queued", "claimed"), f"notice {notice.id} of a resolved case"
            if case.state == CaseState.ON_HOLD.value:
                event("a case was held")
            if case.state == CaseState.NOTIFYING.value and case.stage == len(STAGES):
                event("a case reached the last stage")
            if case.state == CaseState.AWAITING_GRACE.value:
                event("a case awaited grace")

    def _check_history(self, case: Row[Any], history: list[Row[Any]]) -> None:
        first = history[0]
        assert (first.seq, first.event, first.from_state, first.to_state, first.stage) == (1, "open", "open", "open", 0)
        held_from: CaseState | None = None
        for before, line in itertools.pairwise(history):
            where = f"case {case.id} line {line.seq} ({line.event} {line.from_state} -> {line.to_state})"
            assert line.from_state == before.to_state, f"{where}: does not follow from {before.to_state}"
            assert line.at >= before.at, f"{where}: at {line.at} before the line before it ({before.at})"
            event_, from_state, to_state = CaseEvent(line.event), CaseState(line.from_state), CaseState(line.to_state)
            if event_ is CaseEvent.RELEASE:
                assert from_state is CaseState.ON_HOLD and held_from is not None, f"{where}: release without hold"
                # An eligible or approved case goes back to its grace period; any other to where it was.
                back = CaseState.AWAITING_GRACE if held_from in (CaseState.ELIGIBLE, CaseState.APPROVED) else held_from
                assert to_state is back, f"{where}: released to the wrong state"
            else:
                assert TRANSITIONS.get((from_state, event_)) is to_state, f"{where}: not in the transitions table"
            if event_ is CaseEvent.HOLD:
                held_from = from_state
            step = 1 if event_ in (CaseEvent.START_LADDER, CaseEvent.NEXT_STAGE) else 0
            assert line.stage == before.stage + step, f"{where}: stage {line.stage} after {before.stage}"
        last = history[-1]
        assert (last.to_state, last.stage) == (case.state, case.stage), f"case {case.id}: history ends elsewhere"

    def _check_new_line(self, case: Row[Any], sub: Sub, line: Row[Any], notices: list[Row[Any]]) -> None:
        """1 at the moment of each step up the ladder, from the notices as they are now (``at`` is now)."""
        at = line.at
        event_ = CaseEvent(line.event)
        if event_ not in (CaseEvent.START_LADDER, CaseEvent.NEXT_STAGE, CaseEvent.GRACE_PASSED):
            return
        where = f"case {case.id} ({'elderly ' if sub.elderly else ''}{'enterprise ' if sub.enterprise else ''}"
        where += f"subscriber {sub.id}) {event_.value} at {at}"
        assert not self._held(sub, at), f"{where}: a hold covers the subscriber"
        hold_ends = self._hold_ends(sub, case.opened_at, at)
        if event_ is CaseEvent.START_LADDER:
            assert at >= max([case.opened_at, *hold_ends]) + dt.timedelta(days=STAGES[0][0]), where
            return
        delivered = [n for n in notices if n.status == "delivered" and n.stage > 0 and n.final_at <= at]
        stage_done: dict[int, dt.datetime] = {}
        gated = line.stage - 1 if event_ is CaseEvent.NEXT_STAGE else len(STAGES)
        for stage_no in range(1, gated + 1):
            firsts = []
            for slot in sub.slots(stage_no):
                times = [n.final_at for n in delivered if n.stage == stage_no and n.slot == slot]
                assert times, f"{where}: stage {stage_no} slot {slot} has no delivered notice"
                firsts.append(min(times))
            stage_done[stage_no] = max(firsts)
        since = max([stage_done[gated], *hold_ends])
        if event_ is CaseEvent.NEXT_STAGE:
            delay = dt.timedelta(days=STAGES[line.stage - 1][0])
            assert at >= since + delay, f"{where}: stage {gated} done {stage_done[gated]}, holds ended {hold_ends}"
            return
        event("grace passed")
        assert any(n.channel != "sms" for n in delivered), f"{where}: nothing delivered but SMS"
        assert at >= since + GRACE, f"{where}: last stage delivered {stage_done[gated]}, holds ended {hold_ends}"


EnforcementMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestEnforcementProperties = EnforcementMachine.TestCase


# --- Reproductions of what the properties above exclude: holds that ``advance`` never sees in force. ---

DAY = dt.timedelta(days=1)
TEN_AM = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


class _OneCase:
    """One failing subscriber whose every notice is delivered as soon as it is claimed."""

    def __init__(self, folder: Path) -> None:
        url = f"sqlite:///{folder / 'realname.db'}"
        db.open_engine(url)
        self.engine = db.write_engine_for(url)
        self.queue = SqlNoticeQueue(self.engine, RULES)
        self.messages = 0
        add_people(self.engine, [Person(1)])
        add_run(self.engine, 1, {1: ("fail", ["BLURRY"])})

    def deliver(self, now: dt.datetime) -> None:
        advance(self.engine, RULES, now)
        for channel in ("sms", "call"):
            for notice in self.queue.claim(10, "consumer", channel=channel, now=now):
                self.messages += 1
                self.queue.ack(notice.id, notice.claim_token, f"gw-{self.messages}", now=now)
                self.queue.receipt(f"gw-{self.messages}", "DELIVRD", now=now)
        advance(self.engine, RULES, now)

    def state(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(select(CASE.c.state)).scalar_one())


def _ladder_delivered_then_a_hold(folder: Path, advance_during_hold: bool) -> _OneCase:
    """Every stage delivered on its day (grace ends day 21 at 10:00); on day 15 an officer schedules a hold
    for day 19, 10:00-16:00."""
    case = _OneCase(folder)
    for day in (0, 7, 14):
        case.deliver(TEN_AM + day * DAY)
    hold_starts = TEN_AM + 19 * DAY
    add_hold(
        case.engine,
        "all",
        "outage",
        hold_starts + dt.timedelta(hours=6),
        "officer:Test",
        TEN_AM + 15 * DAY,
        hold_starts,
    )
    advance(case.engine, RULES, TEN_AM + 15 * DAY)
    if advance_during_hold:
        advance(case.engine, RULES, hold_starts + dt.timedelta(hours=1))
    return case


def test_a_hold_seen_by_advance_restarts_the_grace_period_from_its_end(tmp_path: Path) -> None:
    case = _ladder_delivered_then_a_hold(tmp_path, advance_during_hold=True)
    advance(case.engine, RULES, TEN_AM + 21 * DAY)
    assert case.state() == "awaiting_grace"  # the grace period now ends on day 26 at 16:00
    advance(case.engine, RULES, TEN_AM + 26 * DAY + dt.timedelta(hours=6))
    assert case.state() == "eligible"


def test_a_hold_between_two_advances_still_restarts_the_grace_period(tmp_path: Path) -> None:
    case = _ladder_delivered_then_a_hold(tmp_path, advance_during_hold=False)
    advance(case.engine, RULES, TEN_AM + 21 * DAY)  # the hold ended 18 hours before: 6 days of grace remain
    assert case.state() == "awaiting_grace"


def test_no_notice_goes_out_under_a_hold_before_the_next_advance(tmp_path: Path) -> None:
    case = _OneCase(tmp_path)
    advance(case.engine, RULES, TEN_AM)  # the first notice is queued
    add_hold(case.engine, "all", "holiday", TEN_AM + 3 * DAY, "officer:Test", TEN_AM)
    assert case.queue.claim(10, "consumer", now=TEN_AM + dt.timedelta(minutes=1)) == []
