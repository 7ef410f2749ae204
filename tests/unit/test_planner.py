"""The planner for one case, with no database: what ``cases advance`` decides from a case, its
notices, the holds and the clock."""

from __future__ import annotations

import datetime as dt

import pytest

from notices.cases import CaseEvent, CaseState, CaseStatus
from notices.channels import Channel
from notices.ladder import DEFAULT_LADDER
from notices.memqueue import MemoryNoticeQueue, StoredNotice
from notices.planner import CaseView, NoticeView, deadline, plan
from notices.queue import NoticeStatus, Recipient
from notices.settings import EnforcementError, parse_enforcement

RULES = parse_enforcement(None, {"link": "https://example.cn/v"})  # the default ladder and notice rules
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
SMS, CALL, LETTER = Channel.SMS, Channel.CALL, Channel.LETTER
S = NoticeStatus


def notifying(stage: int, *notices: NoticeView, **kw: object) -> CaseView:
    return CaseView(CaseStatus(CaseState.NOTIFYING, stage), opened_at=T0, notices=notices, **kw)  # type: ignore[arg-type]


def n(id: int, status: NoticeStatus, channel: Channel = SMS, slot: Channel | None = None, attempt: int = 1,
      final_at: dt.datetime | None = T0) -> NoticeView:  # fmt: skip
    return NoticeView(id, slot or channel, attempt, channel, status, final_at)


def test_an_open_case_starts_the_first_stage_at_once_inside_the_window() -> None:
    p = plan(CaseView(CaseStatus(CaseState.OPEN), opened_at=T0), RULES, T0)
    assert [r.event for r in p.records] == [CaseEvent.START_LADDER]
    assert [(s.stage, s.channel, s.template, s.not_before) for s in p.send] == [(1, SMS, "first_notice", T0)]
    assert p.send[0].deadline == dt.date(2026, 12, 22)  # 7 + 7 days of delays, 7 of grace


def test_an_elderly_or_enterprise_subscriber_also_gets_a_call_at_the_first_stage() -> None:
    for view in (
        CaseView(CaseStatus(CaseState.OPEN), opened_at=T0, age=70),
        CaseView(CaseStatus(CaseState.OPEN), opened_at=T0, segment="enterprise"),
    ):
        assert [s.channel for s in plan(view, RULES, T0).send] == [SMS, CALL]
    young = CaseView(CaseStatus(CaseState.OPEN), opened_at=T0, age=69)
    assert [s.channel for s in plan(young, RULES, T0).send] == [SMS]


def test_a_notice_due_at_night_waits_for_the_morning() -> None:
    night = dt.datetime(2026, 12, 1, 14, 30, tzinfo=dt.UTC)  # 22:30 in Shanghai
    p = plan(CaseView(CaseStatus(CaseState.OPEN), opened_at=night), RULES, night)
    assert p.send[0].not_before == dt.datetime(2026, 12, 2, 0, 0, tzinfo=dt.UTC)


def test_the_next_stage_waits_for_delivery_and_then_its_delay() -> None:
    assert plan(notifying(1, n(1, S.SUBMITTED)), RULES, T0 + dt.timedelta(days=30)).records == []
    delivered = notifying(1, n(1, S.DELIVERED, final_at=T0 + dt.timedelta(days=2)))
    early = plan(delivered, RULES, T0 + dt.timedelta(days=8))
    assert early.records == [] and early.stage_delivered_at == T0 + dt.timedelta(days=2)
    on_time = plan(delivered, RULES, T0 + dt.timedelta(days=9))
    assert [r.event for r in on_time.records] == [CaseEvent.NEXT_STAGE]
    assert on_time.status.stage == 2 and [s.template for s in on_time.send] == ["reminder"]


def test_undelivered_is_resent_a_day_later_then_handed_to_the_fallback_channel() -> None:
    first = plan(notifying(1, n(1, S.UNDELIVERED)), RULES, T0)
    assert [(s.channel, s.attempt, s.not_before) for s in first.send] == [(SMS, 2, T0 + dt.timedelta(days=1))]
    third = plan(
        notifying(1, n(1, S.UNDELIVERED), n(2, S.UNDELIVERED, attempt=2), n(3, S.UNDELIVERED, attempt=3)), RULES, T0
    )
    assert [(s.slot, s.channel, s.attempt) for s in third.send] == [(SMS, CALL, 4)]
    dead = plan(notifying(1, n(1, S.DEAD)), RULES, T0)
    assert [(s.slot, s.channel) for s in dead.send] == [(SMS, CALL)]
    assert dead.records == []  # never escalated


def test_a_letter_that_never_arrives_leaves_the_case_waiting() -> None:
    letters = [n(i, S.UNDELIVERED, LETTER, SMS, attempt=i) for i in range(1, 4)]
    p = plan(notifying(2, *letters), RULES, T0 + dt.timedelta(days=60))
    assert p.send == [] and p.records == [] and p.stuck and p.status.state is CaseState.NOTIFYING


def test_a_slot_delivered_by_its_fallback_counts_for_the_stage() -> None:
    notices = (n(1, S.DEAD), n(2, S.DELIVERED, CALL, SMS, attempt=2))
    p = plan(notifying(1, *notices), RULES, T0 + dt.timedelta(days=7))
    assert [r.event for r in p.records] == [CaseEvent.NEXT_STAGE]


def test_eligibility_needs_every_stage_grace_and_a_non_sms_delivery() -> None:
    last = T0 + dt.timedelta(days=14)
    stage3 = notifying(3, n(5, S.DELIVERED, final_at=last), n(6, S.DELIVERED, CALL, final_at=last),
                       non_sms_delivered=True)  # fmt: skip
    p = plan(stage3, RULES, last + dt.timedelta(days=6))
    assert p.status.state is CaseState.AWAITING_GRACE and p.grace_ends_at == last + dt.timedelta(days=7)
    p = plan(stage3, RULES, last + dt.timedelta(days=7))
    assert [r.event for r in p.records] == [CaseEvent.LADDER_DELIVERED, CaseEvent.GRACE_PASSED]
    missing_call = notifying(3, n(5, S.DELIVERED, final_at=last), n(6, S.SUBMITTED, CALL))
    assert plan(missing_call, RULES, last + dt.timedelta(days=30)).status.state is CaseState.NOTIFYING
    no_other_channel = CaseView(CaseStatus(CaseState.AWAITING_GRACE, 3), opened_at=T0, stage_delivered_at=last)
    p = plan(no_other_channel, RULES, last + dt.timedelta(days=30))
    assert p.status.state is CaseState.AWAITING_GRACE and p.stuck


def test_a_hold_freezes_and_its_end_restarts_the_delays() -> None:
    view = notifying(1, n(1, S.QUEUED))
    held = plan(view, RULES, T0, held_until=T0 + dt.timedelta(days=10))
    assert held.status.state is CaseState.ON_HOLD and held.cancel_pending and held.send == []
    on_hold = CaseView(
        CaseStatus(CaseState.ON_HOLD, 1, CaseState.NOTIFYING), opened_at=T0, notices=(n(1, S.CANCELLED),)
    )
    still = plan(on_hold, RULES, T0 + dt.timedelta(days=5), held_until=T0 + dt.timedelta(days=10))
    assert still.records == [] and still.send == []
    end = T0 + dt.timedelta(days=10)
    released = plan(on_hold, RULES, end + dt.timedelta(hours=1), hold_ended_at=end)
    assert [r.event for r in released.records] == [CaseEvent.RELEASE]
    assert released.hold_ended_at == end and [(s.attempt, s.channel) for s in released.send] == [(2, SMS)]
    delivered_before = CaseView(
        CaseStatus(CaseState.NOTIFYING, 1),
        opened_at=T0,
        notices=(n(1, S.DELIVERED, final_at=T0),),
        hold_ended_at=end,
    )
    assert plan(delivered_before, RULES, end + dt.timedelta(days=6.9)).records == []  # 7 days from the hold's end
    assert plan(delivered_before, RULES, end + dt.timedelta(days=7)).status.stage == 2


def test_resolved_and_suspended_cases_get_nothing() -> None:
    for state in (CaseState.RESOLVED, CaseState.EXEMPTED, CaseState.SUSPENDED):
        view = CaseView(CaseStatus(state, 2), opened_at=T0, notices=(n(1, S.UNDELIVERED),))
        p = plan(view, RULES, T0 + dt.timedelta(days=100), held_until=T0 + dt.timedelta(days=200))
        assert not p.changed


def test_deadline_is_the_earliest_eligibility_day_in_the_policy_zone() -> None:
    late = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.UTC)  # 04:00 on 2 December in Shanghai
    assert deadline(RULES, 1, late) == dt.date(2026, 12, 23)
    assert deadline(RULES, 3, late) == dt.date(2026, 12, 9)


@pytest.mark.parametrize(
    "ladder,notices,message",
    [
        (
            {"stages": [{"delay_days": 0, "channels": ["sms"], "template": "x"}], "grace_days": 7},
            None,
            "other than sms",
        ),
        (None, {"fallback": {"sms": "call", "call": "sms"}}, "comes back to sms"),
        (None, {"send_window": ["21:00", "08:00"]}, "open before it closes"),
        (None, {"send_window": ["8 am", "21:00"]}, "not a time of day"),
        (None, {"lease_secs": 10}, "notices.lease_secs: unknown key"),
        ({"stages": [], "grace_days": 7}, None, "ladder.stages"),
        (None, None, "notices.link: Field required"),  # no placeholder link: the operator's own is required
    ],
)
def test_bad_enforcement_tables_name_the_key(ladder: object, notices: object, message: str) -> None:
    with_link = None if notices is None else {"link": "https://example.cn/v", **notices}  # type: ignore[dict-item]
    with pytest.raises(EnforcementError, match=message):
        parse_enforcement(ladder, with_link)  # type: ignore[arg-type]


def test_the_shipped_policy_spells_out_the_default_ladder() -> None:
    from scanner.policyfile import load_policy

    loaded = load_policy().enforcement
    assert loaded.ladder == DEFAULT_LADDER
    assert loaded.window == RULES.window and loaded.retry == RULES.retry
    assert loaded.signature == "【运营商】"


def test_a_policy_file_with_a_bad_ladder_names_the_file_and_key(tmp_path: object) -> None:
    from pathlib import Path

    from checks.policy import PolicyError
    from scanner.policyfile import DEFAULT_POLICY, load_policy

    bad = Path(str(tmp_path)) / "bad.toml"
    bad.write_text(DEFAULT_POLICY.read_text(encoding="utf-8").replace("grace_days = 7", "grace_days = -1"), "utf-8")
    with pytest.raises(PolicyError, match=r"bad.toml: ladder.grace_days: .*greater than or equal to 0"):
        load_policy(bad)


def _seen(x: StoredNotice) -> NoticeView:
    d = x.draft
    return NoticeView(x.id, Channel(d.slot), d.attempt, Channel(d.channel), NoticeStatus(x.status), x.final_at)


def test_a_case_climbs_the_ladder_to_eligibility_through_a_consumer_of_the_queue() -> None:
    """The planner and the queue contract together, as ``cases advance`` and an SMS system use them,
    on the in-memory queue: every notice is claimed, acknowledged and delivered the hour it is due."""
    queue = MemoryNoticeQueue(RULES)
    who = Recipient(1, "A1", "13900000001")
    view = CaseView(CaseStatus(CaseState.OPEN), opened_at=T0)
    events: list[tuple[int, CaseEvent]] = []
    at = T0
    while view.status.state is not CaseState.ELIGIBLE and at < T0 + dt.timedelta(days=60):
        p = plan(view, RULES, at)
        events += [((at - T0).days, r.event) for r in p.records]
        queue.enqueue([s.draft(1, who, ["BLURRY"], RULES) for s in p.send], at)
        for channel in ("sms", "call"):  # the SMS system and the call centre deliver what is due
            for notice in queue.claim(10, "consumer", channel=channel, now=at):
                queue.ack(notice.id, notice.claim_token, f"g-{notice.id}", at)
                queue.receipt(f"g-{notice.id}", "DELIVRD", None, at, at)
        stage = p.status.stage
        current = [x for x in queue.of_case(1) if x.draft.stage == stage]
        view = CaseView(
            p.status,
            opened_at=T0,
            stage_delivered_at=p.stage_delivered_at or view.stage_delivered_at,
            notices=tuple(_seen(x) for x in current),
            non_sms_delivered=any(x.status == "delivered" and x.draft.channel != "sms" for x in queue.of_case(1)),
        )
        at += dt.timedelta(hours=1)
    assert [e for _, e in events] == [
        CaseEvent.START_LADDER,
        CaseEvent.NEXT_STAGE,
        CaseEvent.NEXT_STAGE,
        CaseEvent.LADDER_DELIVERED,
        CaseEvent.GRACE_PASSED,
    ]
    assert [day for day, _ in events] == [0, 7, 14, 14, 21]  # the default ladder's delays and 7 days of grace
    sent = queue.snapshot()
    assert [(n["stage"], n["channel"], n["template"]) for n in sent] == [
        (1, "sms", "first_notice"), (2, "sms", "reminder"), (3, "call", "final_notice"), (3, "sms", "final_notice")
    ]  # fmt: skip
    assert {n["status"] for n in sent} == {"delivered"}
