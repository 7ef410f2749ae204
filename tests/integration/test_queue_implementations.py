"""One contract, two queues: the same scenarios against the in-memory queue (``notices.memqueue``)
and the database queue (``scanner.enforce.queue``) on SQLite and PostgreSQL: every scenario asserts
the same answers of each, so the memory queue the unit tests use cannot drift from the real one."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session

from notices.holds import Hold, HoldScope
from notices.memqueue import MemoryNoticeQueue, Whereabouts
from notices.queue import (
    LEASE_EXPIRED_ERROR,
    RECEIPT_TIMEOUT,
    Ack,
    NoticeDraft,
    NoticeQueue,
    QueueError,
    Receipt,
    Recipient,
    StaleClaim,
    UnknownStat,
    draft_notice,
)
from scanner.db import open_engine, write_engine_for
from scanner.enforce.holds import add_hold
from scanner.enforce.queue import SqlNoticeQueue
from scanner.models import Case, Subscriber
from scanner.policyfile import load_policy

MORNING = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai: inside the send window
NIGHT = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # 22:00 in Shanghai: outside it
RULES = load_policy().enforcement
# Two made-up subscribers: a consumer in Wuhan (420102) and an enterprise account in Beijing (110105).
PEOPLE = (
    ("QC000001", "13000000001", "420102", "consumer"),
    ("QC000002", "13000000002", "110105", "enterprise"),
)


@dataclass
class Harness:
    queue: NoticeQueue
    recipients: list[tuple[int, Recipient]]  # (case id, recipient)
    enqueue: Callable[[list[NoticeDraft]], int]
    hold: Callable[[str, dt.datetime, dt.datetime], None]

    def drafts(self, n: int, *, channel: str = "sms", not_before: dt.datetime = MORNING) -> list[NoticeDraft]:
        """``n`` notices, alternating between the two subscribers (attempt k for the k-th)."""
        out = []
        for k in range(n):
            case_id, recipient = self.recipients[k % 2]
            out.append(
                draft_notice(
                    case_id,
                    recipient,
                    RULES,
                    stage=1,
                    slot=channel,
                    attempt=k + 1,
                    channel=channel,
                    template="first_notice",
                    reasons=["ID_EXPIRED"],
                    deadline=dt.date(2026, 12, 15),
                    not_before=not_before,
                )
            )
        return out


def _memory() -> Harness:
    recipients = [(10 + k, Recipient(100 + k, acc, msisdn)) for k, (acc, msisdn, _r, _s) in enumerate(PEOPLE)]
    where = {100 + k: Whereabouts(region, segment) for k, (_a, _m, region, segment) in enumerate(PEOPLE)}
    queue = MemoryNoticeQueue(RULES, whereabouts=where)

    def hold(scope: str, starts: dt.datetime, until: dt.datetime) -> None:
        queue.holds.append(Hold(HoldScope.parse(scope), "test hold", starts, until))

    return Harness(queue, recipients, lambda drafts: queue.enqueue(drafts, MORNING), hold)


def _database(url: str) -> Harness:
    engine = open_engine(url)
    recipients = []
    with Session(engine) as session:
        for account, msisdn, region, segment in PEOPLE:
            sub = Subscriber(
                account_id=account,
                msisdn=msisdn,
                name="测试",
                id_number=f"{region}19800101000X",
                region_code=region,
                segment=segment,
                joined_on=dt.date(2020, 1, 1),
                source="test",
            )
            session.add(sub)
            session.flush()
            assert sub.id is not None
            case = Case(
                subscriber_id=sub.id,
                active_subscriber_id=sub.id,
                state="notifying",
                stage=1,
                reasons=["ID_EXPIRED"],
                opened_at=MORNING,
            )
            session.add(case)
            session.flush()
            assert case.id is not None
            recipients.append((case.id, Recipient(sub.id, account, msisdn)))
        session.commit()
    queue = SqlNoticeQueue(write_engine_for(url), RULES)

    def hold(scope: str, starts: dt.datetime, until: dt.datetime) -> None:
        add_hold(engine, scope, "test hold", until, "officer", starts, starts_at=starts)

    return Harness(queue, recipients, lambda drafts: queue.enqueue(drafts, MORNING), hold)


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return _memory()
    return _database(str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")))


def _claim(h: Harness, n: int = 10, at: dt.datetime = MORNING, **kw: Any) -> list[Any]:
    return h.queue.claim(n, "c1", now=at, **kw)


def test_a_draft_is_enqueued_once_and_claimed_in_order_inside_the_send_window(harness: Harness) -> None:
    drafts = harness.drafts(3)
    assert harness.enqueue(drafts) == 3
    assert harness.enqueue(drafts) == 0  # the dedup key
    assert _claim(harness, at=NIGHT) == []  # however overdue, nothing at night
    assert _claim(harness, channel="call") == []
    first = _claim(harness, 2)
    assert [c.msisdn for c in first] == ["13000000001", "13000000002"]
    assert first[0].to_json()["text"] == drafts[0].text and "130****0001" in drafts[0].text
    assert {c.attempts for c in first} == {1}
    assert len(_claim(harness)) == 1 and _claim(harness) == []


def test_an_ack_submits_once_and_a_stale_token_is_refused(harness: Harness) -> None:
    harness.enqueue(harness.drafts(1))
    (notice,) = _claim(harness)
    with pytest.raises(QueueError, match="gateway's message id"):
        harness.queue.ack(notice.id, notice.claim_token, " ", MORNING)
    with pytest.raises(StaleClaim):
        harness.queue.ack(notice.id, "not-the-token", "gw-1", MORNING)
    assert harness.queue.ack(notice.id, notice.claim_token, "gw-1", MORNING) == "submitted"
    assert harness.queue.ack(notice.id, notice.claim_token, "gw-1", MORNING) == "submitted"  # a repeat
    with pytest.raises(StaleClaim, match="is submitted"):
        harness.queue.ack(notice.id, notice.claim_token, "gw-2", MORNING)
    with pytest.raises(QueueError, match="no such notice"):
        harness.queue.ack(999_999, "t", "gw", MORNING)


def test_an_expired_lease_hands_the_notice_out_again_with_a_new_token(harness: Harness) -> None:
    harness.enqueue(harness.drafts(1))
    (first,) = _claim(harness, lease_seconds=60)
    assert _claim(harness, at=MORNING + dt.timedelta(seconds=59)) == []
    (again,) = _claim(harness, at=MORNING + dt.timedelta(seconds=60))
    assert again.id == first.id and again.claim_token != first.claim_token and again.attempts == 2
    with pytest.raises(StaleClaim):
        harness.queue.ack(first.id, first.claim_token, "gw-old", MORNING)
    assert harness.queue.ack(again.id, again.claim_token, "gw-new", MORNING) == "submitted"


def test_a_nack_retries_after_a_doubling_delay_then_the_notice_is_dead(harness: Harness) -> None:
    harness.enqueue(harness.drafts(1))
    at, statuses, waits = MORNING, [], []
    for _ in range(RULES.retry.max_attempts):
        claimed = _claim(harness, at=at)
        while not claimed:  # wait for the retry time
            at += dt.timedelta(minutes=1)
            claimed = _claim(harness, at=at)
        (notice,) = claimed
        waits.append(at)
        statuses.append(harness.queue.nack(notice.id, notice.claim_token, "gateway busy", False, at))
    assert statuses == ["queued"] * (RULES.retry.max_attempts - 1) + ["dead"]
    gaps = [round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(waits)]
    assert gaps == [5, 10, 20, 40][: len(gaps)]
    harness.enqueue(harness.drafts(2)[1:])
    (other,) = _claim(harness, at=at)
    assert harness.queue.nack(other.id, other.claim_token, "number barred", True, at) == "dead"
    with pytest.raises(StaleClaim):
        harness.queue.nack(other.id, other.claim_token, "again", False, at)


def test_a_batch_answers_each_ack_and_receipt_as_the_single_calls_do(harness: Harness) -> None:
    harness.enqueue(harness.drafts(4))
    a, b, c, d = _claim(harness)
    acks = [
        Ack(a.id, a.claim_token, "gw-a"),
        Ack(b.id, "not-the-token", "gw-b"),
        Ack(c.id, c.claim_token, " "),
        Ack(999_999, "t", "gw"),
        Ack(a.id, a.claim_token, "gw-a"),  # a repeat in the same batch
        Ack(d.id, d.claim_token, "gw-d"),
    ]
    answers = harness.queue.ack_many(acks, MORNING)
    named = [x if isinstance(x, str) else type(x).__name__ for x in answers]
    assert named == ["submitted", "StaleClaim", "QueueError", "QueueError", "submitted", "submitted"]
    assert "no such notice" in str(answers[3])
    assert harness.queue.ack(b.id, b.claim_token, "gw-b", MORNING) == "submitted"  # untouched by the refusal
    later = MORNING + dt.timedelta(minutes=1)
    receipts = [
        Receipt("gw-a", "ACCEPTD"),
        Receipt("gw-a", "DELIVRD", done_at=later),
        Receipt("gw-a", "DELIVRD"),  # a gateway's repeat
        Receipt("gw-d", "NOPE"),
        Receipt("gw-x", "DELIVRD"),
        Receipt("gw-d", "UNDELIV", "err:001"),
        Receipt("gw-b", "DELIVRD", done_at=dt.datetime(2026, 12, 1, 10, 0)),  # no zone
    ]
    answers = harness.queue.receipt_many(receipts, later)
    named = [x if isinstance(x, str) else type(x).__name__ for x in answers]
    assert named == ["pending", "delivered", "unchanged", "UnknownStat", "unknown", "undelivered", "QueueError"]
    assert harness.queue.receipt("gw-b", "DELIVRD", None, later, later) == "delivered"
    assert harness.queue.receipt_many([], later) == [] and harness.queue.ack_many([], later) == []


def test_receipts_are_idempotent_and_a_late_delivery_still_counts(harness: Harness) -> None:
    harness.enqueue(harness.drafts(2))
    one, two = _claim(harness)
    harness.queue.ack(one.id, one.claim_token, "gw-1", MORNING)
    harness.queue.ack(two.id, two.claim_token, "gw-2", MORNING)
    later = MORNING + dt.timedelta(minutes=3)
    answers = [
        harness.queue.receipt("gw-1", "ENROUTE", None, None, later),
        harness.queue.receipt("gw-1", "ENROUTE", None, None, later),
        harness.queue.receipt("gw-1", "DELIVRD", None, None, later),
        harness.queue.receipt("gw-1", "DELIVRD", None, None, later),
        harness.queue.receipt("gw-1", "UNDELIV", None, None, later),
        harness.queue.receipt("gw-unknown", "DELIVRD", None, None, later),
    ]
    assert answers == ["pending", "unchanged", "delivered", "unchanged", "unchanged", "unknown"]
    with pytest.raises(UnknownStat):
        harness.queue.receipt("gw-1", "SENT", None, None, later)
    with pytest.raises(QueueError, match="time zone"):
        harness.queue.receipt("gw-1", "DELIVRD", None, dt.datetime(2026, 12, 1, 10), later)
    # gw-2 has no receipt for 72 hours: undelivered; a DELIVRD after that still counts.
    swept = harness.queue.sweep(MORNING + RECEIPT_TIMEOUT)
    assert swept == {"receipt_overdue": 1, "dead_after_leases": 0}
    assert harness.queue.receipt("gw-2", "DELIVRD", None, None, MORNING + RECEIPT_TIMEOUT) == "delivered"


def test_a_lease_that_expires_on_the_last_attempt_makes_the_notice_dead(harness: Harness) -> None:
    harness.enqueue(harness.drafts(1))
    at = MORNING
    for _ in range(RULES.retry.max_attempts):
        (notice,) = _claim(harness, at=at, lease_seconds=60)
        at += dt.timedelta(seconds=60)
    assert _claim(harness, at=at) == []  # no attempts left
    assert harness.queue.sweep(at) == {"receipt_overdue": 0, "dead_after_leases": 1}
    stats = harness.queue.stats(at)
    assert stats["by_channel"] == {"sms": {"dead": 1}}
    with pytest.raises(StaleClaim):
        harness.queue.ack(notice.id, notice.claim_token, "gw", at)
    assert LEASE_EXPIRED_ERROR


@pytest.mark.parametrize(
    ("scope", "left"),
    [("all", []), ("account:QC000001", ["13000000002"]), ("region:420000", ["13000000002"]),
     ("segment:enterprise", ["13000000001"])],
)  # fmt: skip
def test_a_hold_in_force_keeps_its_subscribers_notices_out_of_a_claim(
    harness: Harness, scope: str, left: list[str]
) -> None:
    harness.enqueue(harness.drafts(2))
    harness.hold(scope, MORNING - dt.timedelta(hours=1), MORNING + dt.timedelta(days=1))
    assert [c.msisdn for c in _claim(harness)] == left
    # The hold has ended: the held notices are due, and so are the others, whose leases have expired.
    assert len(_claim(harness, at=MORNING + dt.timedelta(days=1))) == 2


def test_stats_count_by_channel_and_status(harness: Harness) -> None:
    harness.enqueue(harness.drafts(3) + harness.drafts(1, channel="call", not_before=MORNING + dt.timedelta(hours=1)))
    (one, _two) = _claim(harness, 2, lease_seconds=60)
    harness.queue.ack(one.id, one.claim_token, "gw-1", MORNING)
    stats = harness.queue.stats(MORNING + dt.timedelta(minutes=2))
    segments = harness.drafts(1)[0].segments
    assert stats["by_channel"] == {"sms": {"queued": 1, "claimed": 1, "submitted": 1}, "call": {"queued": 1}}
    assert stats["due_now"] == {"sms": 1}
    assert stats["oldest_due_minutes"] == 2.0
    assert stats["expired_leases"] == 1
    assert stats["segments_sent"] == segments
    assert stats["in_send_window"] is True
