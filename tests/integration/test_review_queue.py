"""The review queue on SQLite and PostgreSQL: items from review findings (once), assignment to the
least-loaded eligible reviewer with leases, decisions and what they do to cases and notices, second
opinions, and the audit rows every step leaves."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

import pytest
from diff_runs import NOW, Person, add_people, add_run
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from notices.review import Decision, ReviewRules
from scanner.audit.verify import verify
from scanner.db import open_engine, write_engine_for
from scanner.enforce.advance import advance
from scanner.policyfile import load_policy
from scanner.review.assign import assign_pending, next_item, release
from scanner.review.decide import decide
from scanner.review.detail import item_detail, list_items, may_view
from scanner.review.errors import NotFound, NotYours, ReviewError
from scanner.review.items import refer, sync_items, withdraw_open
from scanner.review.reviewers import add_reviewer, password_matches, reviewer_by_login, update_reviewer
from scanner.review.stats import confusion, disagreements, queue_summary
from scanner.tables import AUDIT_EVENT, CASE, NOTICE, PHOTO, REVIEW_DECISION, REVIEW_ITEM, REVIEWER

T0 = NOW + dt.timedelta(days=1)
RULES = ReviewRules()
UNCERTAIN = ["FACE_MATCH_UNCERTAIN"]


@dataclass
class Base:
    engine: Engine
    now: dt.datetime = T0
    ids: dict[str, int] = field(default_factory=dict)

    def reviewer(self, login: str, role: str = "reviewer", **scope: list[str]) -> int:
        self.ids[login] = add_reviewer(
            self.engine, login=login, name=login.title(), role=role, actor="t", now=self.now, **scope
        )
        return self.ids[login]

    def items(self) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(REVIEW_ITEM).order_by(REVIEW_ITEM.c.id))]

    def item_of(self, sid: int) -> dict[str, object]:
        return next(i for i in reversed(self.items()) if i["subscriber_id"] == sid)

    def later(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def _photos(engine: Engine, sid: int, live_sha: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(PHOTO).where(PHOTO.c.subscriber_id == sid, PHOTO.c.kind == "live").values(sha256=live_sha))
        if not conn.execute(select(PHOTO.c.id).where(PHOTO.c.subscriber_id == sid)).first():
            conn.execute(
                insert(PHOTO),
                [
                    {"subscriber_id": sid, "kind": "id_portrait", "uri": f"/p/{sid}-id.jpg", "sha256": "a" * 64},
                    {"subscriber_id": sid, "kind": "live", "uri": f"/p/{sid}-live.jpg", "sha256": live_sha},
                ],
            )


@pytest.fixture
def base(any_url: str) -> Base:
    open_engine(any_url)
    engine = write_engine_for(any_url)
    people = [Person(1), Person(2), Person(3, region="110105"), Person(4), Person(5, region="310101")]
    add_people(engine, people)
    for p in people:
        _photos(engine, p.id, "b" * 64)
    return Base(engine)


def test_review_findings_become_items_once_and_follow_later_runs(base: Base) -> None:
    add_run(
        base.engine, 1, {1: ("review", UNCERTAIN), 2: ("review", UNCERTAIN), 3: ("fail", ["BLURRY"]), 4: ("pass", [])}
    )
    add_run(base.engine, 2, {4: ("review", UNCERTAIN)}, mode="preview")  # previews never make items
    first = sync_items(base.engine, base.now)
    assert (first.run_id, first.created) == (1, 2)
    assert sync_items(base.engine, base.now).created == 0  # idempotent
    assert [i["subscriber_id"] for i in base.items()] == [1, 2]
    assert base.items()[0]["reasons"] == UNCERTAIN and base.items()[0]["state"] == "pending"

    # Run 3: subscriber 1 still review on the same photos (same item), 2 now has a new live photo (the
    # open item moves to it), 4 newly review; run 4: 1 passes (its item is withdrawn).
    _photos(base.engine, 2, "c" * 64)
    add_run(base.engine, 3, {1: ("review", UNCERTAIN), 2: ("review", UNCERTAIN), 4: ("review", UNCERTAIN)})
    third = sync_items(base.engine, base.later(hours=1))
    assert (third.created, third.moved, third.kept) == (1, 1, 1)
    assert len(base.items()) == 3 and base.item_of(1)["run_id"] == 3
    add_run(base.engine, 4, {1: ("pass", []), 2: ("review", UNCERTAIN), 4: ("review", UNCERTAIN)})
    fourth = sync_items(base.engine, base.later(hours=1))
    assert fourth.withdrawn == 1 and base.item_of(1)["state"] == "withdrawn"
    assert base.item_of(1)["active_subscriber_id"] is None

    # A decided item is not asked for again while the photos and reasons stay the same.
    base.reviewer("wang")
    item = next_item(base.engine, RULES, base.ids["wang"], base.now)
    assert item == base.item_of(2)["id"]
    decide(
        base.engine,
        RULES,
        item_id=item,
        reviewer_id=base.ids["wang"],
        decision=Decision.PASS,
        reason=None,
        now=base.now,
    )
    add_run(base.engine, 5, {2: ("review", UNCERTAIN), 4: ("review", UNCERTAIN)})
    assert sync_items(base.engine, base.later(hours=1)).created == 0
    assert base.item_of(2)["state"] == "decided"


def test_assignment_goes_to_the_least_loaded_eligible_reviewer_oldest_first(base: Base) -> None:
    add_run(base.engine, 1, {sid: ("review", UNCERTAIN) for sid in (1, 2, 3, 4, 5)})
    sync_items(base.engine, base.now)
    base.reviewer("beijing", regions=["11"])  # only subscriber 3 (110105)
    base.reviewer("wang")
    base.reviewer("zhao")
    base.reviewer("boss", role="officer")  # officers are not dealt work
    base.reviewer("idle")
    update_reviewer(base.engine, "idle", active=False, actor="t", now=base.now)
    given = assign_pending(base.engine, ReviewRules(max_per_reviewer=2), base.now)
    assert given == {"beijing": 1, "wang": 2, "zhao": 2}
    holders = {i["subscriber_id"]: i["assignee_id"] for i in base.items()}
    assert holders[3] == base.ids["beijing"]
    assert {holders[1], holders[2]} == {base.ids["wang"], base.ids["zhao"]}  # least-loaded alternates
    with base.engine.connect() as conn:
        summary = queue_summary(conn, RULES, base.now)
    assert (summary.assigned, summary.pending) == (5, 0)

    # A lease that expires returns the item to the queue; the next assignment may go to anyone.
    base.later(minutes=RULES.lease_minutes + 1)
    with base.engine.connect() as conn:
        assert queue_summary(conn, RULES, base.now).pending == 5
        assert list_items(conn, RULES, base.now, assignee_id=base.ids["wang"]) == []
    item = next_item(base.engine, RULES, base.ids["beijing"], base.now)
    assert item == base.item_of(3)["id"]  # the only one in its scope
    assert next_item(base.engine, RULES, base.ids["beijing"], base.now) == item  # held: the same, lease renewed
    assert release(base.engine, item, base.ids["beijing"], base.now)
    assert next_item(base.engine, RULES, base.ids["wang"], base.now) == base.item_of(1)["id"]  # oldest first


def test_decisions_open_keep_and_resolve_cases_and_the_notices_say_why(base: Base) -> None:
    add_run(base.engine, 1, {1: ("review", UNCERTAIN), 2: ("review", UNCERTAIN), 3: ("review", UNCERTAIN)})
    sync_items(base.engine, base.now)
    wang, zhao = base.reviewer("wang"), base.reviewer("zhao")
    rules = load_policy().enforcement
    assign_pending(base.engine, RULES, base.now)
    by_sub = {i["subscriber_id"]: (i["id"], i["assignee_id"]) for i in base.items()}

    def decide_as(sid: int, decision: Decision, reason: str | None = None) -> object:
        item, holder = by_sub[sid]
        return decide(
            base.engine, RULES, item_id=item, reviewer_id=holder, decision=decision, reason=reason, now=base.now
        )

    failed = decide_as(1, Decision.FAIL, "FACE_MISMATCH")
    recaptured = decide_as(2, Decision.RECAPTURE)
    passed = decide_as(3, Decision.PASS)
    assert (failed.case_event, recaptured.case_event, passed.case_event) == ("open", "open", None)
    advance(base.engine, rules, base.later(hours=1))
    with base.engine.connect() as conn:
        notices = {n.subscriber_id: n for n in conn.execute(select(NOTICE))}
        cases = {c.subscriber_id: c for c in conn.execute(select(CASE))}
    assert set(notices) == {1, 2}
    assert notices[1].template == "first_notice" and "现场照片与身份证照片不一致" in notices[1].text
    assert notices[2].template == "recapture_notice" and "重新拍摄" in notices[2].text
    assert cases[1].reasons == ["FACE_MISMATCH"] and cases[1].opened_by_review_id == by_sub[1][0]

    # Wrong hands and wrong inputs change nothing.
    with pytest.raises(ReviewError, match="already decided"):
        decide_as(1, Decision.PASS)
    with pytest.raises(NotFound, match="review item 999"):
        decide(base.engine, RULES, item_id=999, reviewer_id=wang, decision=Decision.PASS, reason=None, now=base.now)
    officer = base.reviewer("boss", role="officer")
    referred = refer(base.engine, "ACC00002", "the subscriber sent new photos by mail", "officer:boss", base.now)
    with pytest.raises(ReviewError, match="still open"):
        refer(base.engine, "ACC00002", "again", "officer:boss", base.now)
    held = next_item(base.engine, RULES, zhao, base.now)
    assert held == referred
    with pytest.raises(NotYours, match="assigned to another reviewer"):
        decide(
            base.engine, RULES, item_id=referred, reviewer_id=wang, decision=Decision.PASS, reason=None, now=base.now
        )
    with pytest.raises(ReviewError, match="known reason code"):
        decide(
            base.engine, RULES, item_id=referred, reviewer_id=zhao, decision=Decision.FAIL, reason="NOPE", now=base.now
        )
    with pytest.raises(NotYours, match="expired"):
        decide(
            base.engine,
            RULES,
            item_id=referred,
            reviewer_id=zhao,
            decision=Decision.PASS,
            reason=None,
            now=base.now + dt.timedelta(hours=1),
        )
    with base.engine.connect() as conn:
        assert may_view(conn, referred, reviewer_by_login(conn, "zhao"), base.now)
        assert not may_view(conn, referred, reviewer_by_login(conn, "wang"), base.now)
        assert may_view(conn, referred, reviewer_by_login(conn, "boss"), base.now)
        assert item_detail(conn, referred, RULES, base.now).note == "the subscriber sent new photos by mail"

    # A pass on the referral resolves the case the recapture opened, and cancels its pending notices.
    resolved = decide(
        base.engine, RULES, item_id=referred, reviewer_id=officer, decision=Decision.PASS, reason=None, now=base.now
    )
    assert resolved.case_event == "resolve"
    with base.engine.connect() as conn:
        assert conn.execute(select(CASE.c.state).where(CASE.c.subscriber_id == 2)).scalar() == "resolved"
        assert conn.execute(select(NOTICE.c.status).where(NOTICE.c.subscriber_id == 2)).scalar() == "cancelled"
        actions = [a for (a,) in conn.execute(select(AUDIT_EVENT.c.action).order_by(AUDIT_EVENT.c.seq))]
        decisions = conn.execute(select(func.count()).select_from(REVIEW_DECISION)).scalar()
        result = verify(conn)
        table = {r.reason: r for r in confusion(conn)}
    assert actions.count("review.decide") == decisions == 4
    assert {"review.create", "review.assign", "review.refer", "case.open", "case.resolve"} <= set(actions)
    assert result.log_break is None and not result.broken_cases
    row = table["FACE_MATCH_UNCERTAIN"]
    assert (row.n, row.passed, row.failed, row.recapture) == (4, 2, 1, 1)


def test_a_fail_needs_a_second_reviewer_when_the_policy_says_so(base: Base) -> None:
    strict = ReviewRules(second_opinion_for_fail=True)
    add_run(base.engine, 1, {1: ("review", UNCERTAIN), 2: ("review", UNCERTAIN)})
    sync_items(base.engine, base.now)
    wang, zhao = base.reviewer("wang"), base.reviewer("zhao")
    boss = base.reviewer("boss", role="officer")
    one = next_item(base.engine, strict, wang, base.now)
    two = next_item(base.engine, strict, zhao, base.now)
    assert one is not None and two is not None
    for item, who in ((one, wang), (two, zhao)):
        first = decide(
            base.engine,
            strict,
            item_id=item,
            reviewer_id=who,
            decision=Decision.FAIL,
            reason="FACE_MISMATCH",
            now=base.now,
        )
        assert (first.state, first.final, first.case_id) == ("second", False, None)
    # Each goes to the other reviewer: nobody seconds their own fail.
    assert next_item(base.engine, strict, wang, base.now) == two
    assert next_item(base.engine, strict, zhao, base.now) == one
    agreed = decide(
        base.engine, strict, item_id=two, reviewer_id=wang, decision=Decision.FAIL, reason="EYES_OCCLUDED", now=base.now
    )
    assert (agreed.state, agreed.case_event) == ("decided", "open")
    with base.engine.connect() as conn:
        # The first reviewer's reason stands: the second confirmed a fail.
        assert conn.execute(select(CASE.c.reasons).where(CASE.c.id == agreed.case_id)).scalar() == ["FACE_MISMATCH"]
    disputed = decide(
        base.engine, strict, item_id=one, reviewer_id=zhao, decision=Decision.PASS, reason=None, now=base.now
    )
    assert (disputed.state, disputed.final) == ("disputed", False)
    with pytest.raises(NotYours, match="an officer decides"):
        decide(base.engine, strict, item_id=one, reviewer_id=wang, decision=Decision.PASS, reason=None, now=base.now)
    assert next_item(base.engine, strict, boss, base.now) == one  # officers take disputed items first
    final = decide(
        base.engine, strict, item_id=one, reviewer_id=boss, decision=Decision.PASS, reason=None, now=base.now
    )
    assert (final.state, final.final) == ("decided", True)
    with base.engine.connect() as conn:
        assert disagreements(conn) == {"second_opinions": 2, "disputed_now": 0, "confirmed_fail": 1}


def test_reviewers_passwords_are_argon2_hashes_and_withdrawal_closes_an_item(base: Base) -> None:
    add_reviewer(base.engine, login="li", name="Li", password="correct horse battery", actor="t", now=base.now)
    with base.engine.connect() as conn:
        stored = conn.execute(select(REVIEWER.c.password_hash).where(REVIEWER.c.login == "li")).scalar()
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert password_matches(stored, "correct horse battery") and not password_matches(stored, "wrong")
    with pytest.raises(ReviewError, match="at least 10"):
        update_reviewer(base.engine, "li", password="short", actor="t", now=base.now)
    with pytest.raises(ReviewError, match="already registered"):
        add_reviewer(base.engine, login="li", name="Li", actor="t", now=base.now)
    add_run(base.engine, 1, {1: ("review", UNCERTAIN)})
    sync_items(base.engine, base.now)
    with base.engine.begin() as conn:
        assert withdraw_open(conn, 1, base.now, "remediate", "new photos passed") is not None
        assert withdraw_open(conn, 1, base.now, "remediate", "again") is None
    assert base.item_of(1)["state"] == "withdrawn"


def test_five_reviewers_deciding_at_once_decide_every_item_exactly_once(base: Base) -> None:
    people = [Person(sid) for sid in range(100, 300)]
    add_people(base.engine, people)
    add_run(base.engine, 1, {p.id: ("review", UNCERTAIN) for p in people})
    sync_items(base.engine, base.now)
    ids = [base.reviewer(f"r{n}") for n in range(5)]
    decided: dict[int, list[int]] = {i: [] for i in ids}
    errors: list[BaseException] = []

    def work(reviewer_id: int) -> None:
        try:
            while (item := next_item(base.engine, RULES, reviewer_id, base.now)) is not None:
                decide(
                    base.engine,
                    RULES,
                    item_id=item,
                    reviewer_id=reviewer_id,
                    decision=Decision.PASS,
                    reason=None,
                    now=base.now,
                )
                decided[reviewer_id].append(item)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    every = [item for items in decided.values() for item in items]
    assert len(every) == len(set(every)) == 200
    with base.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(REVIEW_DECISION)).scalar() == 200
