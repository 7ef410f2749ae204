"""What ``cases advance`` does to one case: a pure decision from the case, its
current stage's notices, the holds and the clock.

The ladder is delivery-gated. A stage has one *slot* per channel it uses (the
first stage gains an assisted call for the elderly and enterprise accounts);
a slot is done when one of its notices was delivered. A notice that comes back
undelivered is sent again on its channel (``resend_undelivered`` times, a
``resend_after`` apart), then by the fallback channel; a dead notice goes to
the fallback at once. A slot whose channels are all used up stays open: the
case waits in its stage for an officer and is never escalated. The next stage
starts only when every slot of the stage before was delivered and its delay,
counted from that delivery (or from the end of a later hold), has passed.

A hold freezes the case: its pending notices are cancelled and it cannot
become eligible. When the hold ends, the cancelled notices are sent again
(one each, inside the send window: no burst of the stages missed) and the
delays and the grace period count from the end of the hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from notices.cases import TERMINAL, CaseEvent, CaseState, CaseStatus, TransitionRecord, apply
from notices.channels import Channel
from notices.holds import Hold, described
from notices.queue import NoticeDraft, NoticeStatus, Recipient, draft_notice
from notices.settings import Enforcement

ACTOR = "cases advance"
RECAPTURE_TEMPLATE = "recapture_notice"
_PENDING = frozenset({NoticeStatus.QUEUED, NoticeStatus.CLAIMED, NoticeStatus.SUBMITTED})
_HOLDABLE = frozenset(
    {CaseState.OPEN, CaseState.NOTIFYING, CaseState.AWAITING_GRACE, CaseState.ELIGIBLE, CaseState.APPROVED}
)


@dataclass(frozen=True)
class NoticeView:
    """A notice of the stage under way, as far as the planner needs it."""

    id: int
    slot: Channel
    attempt: int
    channel: Channel
    status: NoticeStatus
    final_at: dt.datetime | None = None
    receipt: str | None = None  # gateway message id and stat, for the history


@dataclass(frozen=True)
class CaseView:
    status: CaseStatus
    opened_at: dt.datetime
    stage_delivered_at: dt.datetime | None = None  # the last finished stage's delivery
    hold_ended_at: dt.datetime | None = None
    notices: tuple[NoticeView, ...] = ()  # the stage under way
    non_sms_delivered: bool = False  # any notice of the case on another channel than SMS delivered
    age: int | None = None
    segment: str = "consumer"
    recapture: bool = False  # a reviewer asked for new photos: the first stage says so


@dataclass(frozen=True)
class Send:
    """A notice to queue."""

    stage: int
    slot: Channel
    attempt: int
    channel: Channel
    template: str
    not_before: dt.datetime
    deadline: dt.date  # the earliest day the case could become eligible, in the policy's zone

    def draft(self, case_id: int, recipient: Recipient, reasons: list[str], rules: Enforcement) -> NoticeDraft:
        """This notice as a draft for the queue (``notices.queue.draft_notice``)."""
        return draft_notice(
            case_id,
            recipient,
            rules,
            stage=self.stage,
            slot=self.slot.value,
            attempt=self.attempt,
            channel=self.channel.value,
            template=self.template,
            reasons=reasons,
            deadline=self.deadline,
            not_before=self.not_before,
        )


@dataclass
class Plan:
    status: CaseStatus
    records: list[TransitionRecord] = field(default_factory=list)
    send: list[Send] = field(default_factory=list)
    cancel_pending: bool = False
    stage_started_at: dt.datetime | None = None
    stage_delivered_at: dt.datetime | None = None
    hold_ended_at: dt.datetime | None = None
    grace_ends_at: dt.datetime | None = None
    stuck: list[str] = field(default_factory=list)  # slots with no channel left to try
    cancel_notices: list[int] = field(default_factory=list)  # resends made needless by a late delivery

    @property
    def changed(self) -> bool:
        return bool(self.records or self.send or self.cancel_pending or self.cancel_notices)


def plan(
    view: CaseView,
    rules: Enforcement,
    now: dt.datetime,
    *,
    held_until: dt.datetime | None = None,
    hold_ended_at: dt.datetime | None = None,
    held_by: Sequence[Hold] = (),
) -> Plan:
    """The transitions, notices and cancellations that bring the case up to ``now``.
    ``held_until``: when the holds covering the case now end (None: not held).
    ``hold_ended_at``: when the last hold covering it that has ended by now ended; a hold that began
    and ended between two advances is applied all the same (delays and grace count from its end).
    ``held_by``: the holds meant by either (named in the history: number, officer, reason)."""
    out = Plan(view.status, stage_delivered_at=view.stage_delivered_at, hold_ended_at=view.hold_ended_at)
    state = view.status.state
    if state in TERMINAL or state is CaseState.SUSPENDED:
        return out

    named = f" ({described(held_by)})" if held_by else ""
    hold_id = held_by[0].id if held_by else None

    def step(event: CaseEvent, why: str, notice: NoticeView | None = None) -> None:
        out.status, record = apply(
            out.status,
            event,
            at=now,
            actor=ACTOR,
            why=why,
            receipt_id=None if notice is None else notice.receipt,
            hold_id=hold_id if event in (CaseEvent.HOLD, CaseEvent.RELEASE) else None,
        )
        out.records.append(record)

    if held_until is not None:
        if state in _HOLDABLE:
            step(CaseEvent.HOLD, f"a hold covers the case until {_local(held_until, rules)}{named}")
            out.cancel_pending = True
        return out
    if state is CaseState.ON_HOLD:
        ended = min(hold_ended_at or now, now)
        step(CaseEvent.RELEASE, f"the hold ended at {_local(ended, rules)}{named}; delays count from then")
        out.hold_ended_at = ended
    elif (
        hold_ended_at is not None
        and state in _HOLDABLE
        and hold_ended_at > view.opened_at
        and (view.hold_ended_at is None or hold_ended_at > view.hold_ended_at)
    ):
        # A hold began and ended between two advances: it counts all the same.
        step(CaseEvent.HOLD, f"a hold covered the case until {_local(hold_ended_at, rules)}{named}")
        step(CaseEvent.RELEASE, f"the hold ended at {_local(hold_ended_at, rules)}; delays count from then")
        out.hold_ended_at = hold_ended_at

    def after_hold(at: dt.datetime) -> dt.datetime:
        return max(at, out.hold_ended_at) if out.hold_ended_at is not None else at

    ladder = rules.ladder
    while True:
        state, stage_no = out.status.state, out.status.stage
        if state is CaseState.OPEN:
            due = ladder.stage_due(1, after_hold(view.opened_at))
            if now < due:
                return out
            step(CaseEvent.START_LADDER, "the case was opened; the first stage starts")
            _start_stage(out, view, rules, 1, now)
            return out
        if state is CaseState.NOTIFYING:
            done_at = _stage_progress(out, view, rules, stage_no, now)
            if done_at is None:
                return out
            last = max((n for n in view.notices if n.status is NoticeStatus.DELIVERED), key=lambda n: n.id)
            out.stage_delivered_at = done_at
            if stage_no < len(ladder.stages):
                due = ladder.stage_due(stage_no + 1, after_hold(done_at))
                if now < due:
                    return out
                step(
                    CaseEvent.NEXT_STAGE,
                    f"stage {stage_no} delivered {_local(done_at, rules)} and its "
                    f"{ladder.stages[stage_no].delay_days}-day delay passed",
                    last,
                )
                _start_stage(out, view, rules, stage_no + 1, now)
                return out
            out.grace_ends_at = ladder.grace_ends(after_hold(done_at))
            step(CaseEvent.LADDER_DELIVERED, f"every stage delivered, the last {_local(done_at, rules)}", last)
            continue
        if state is CaseState.AWAITING_GRACE:
            delivered = out.stage_delivered_at or view.opened_at
            out.grace_ends_at = ladder.grace_ends(after_hold(delivered))
            if now < out.grace_ends_at:
                return out
            if not view.non_sms_delivered:
                out.stuck.append("no notice on a channel other than SMS was delivered")
                return out
            step(
                CaseEvent.GRACE_PASSED,
                f"the {ladder.grace_days}-day grace period ended {_local(out.grace_ends_at, rules)}",
            )
            continue
        return out  # eligible, approved: an officer acts


def _start_stage(out: Plan, view: CaseView, rules: Enforcement, stage_no: int, now: dt.datetime) -> None:
    out.stage_started_at = now
    template = _template(rules, stage_no, view)
    for channel in rules.ladder.channels_for(stage_no, view.age, view.segment):
        out.send.append(_send(rules, stage_no, channel, 1, channel, template, now))


def _template(rules: Enforcement, stage_no: int, view: CaseView) -> str:
    """The stage's template; a reviewer's request for new photos is the first stage's subject."""
    if stage_no == 1 and view.recapture:
        return RECAPTURE_TEMPLATE
    return rules.ladder.stages[stage_no - 1].template


def _stage_progress(
    out: Plan,
    view: CaseView,
    rules: Enforcement,
    stage_no: int,
    now: dt.datetime,
) -> dt.datetime | None:
    """When every slot of the stage was delivered, or None while one is still on its way
    (queueing what each undelivered, dead or cancelled slot needs next)."""
    template = _template(rules, stage_no, view)
    delivered_at: list[dt.datetime] = []
    slots = rules.ladder.channels_for(stage_no, view.age, view.segment)
    for slot in slots:
        tried = sorted((n for n in view.notices if n.slot is slot), key=lambda n: n.attempt)
        done = [n.final_at or now for n in tried if n.status is NoticeStatus.DELIVERED]
        if done:
            delivered_at.append(min(done))
            out.cancel_notices.extend(n.id for n in tried if n.status in (NoticeStatus.QUEUED, NoticeStatus.CLAIMED))
            continue
        if not tried:
            out.send.append(_send(rules, stage_no, slot, 1, slot, template, now))
            continue
        latest = tried[-1]
        if latest.status in _PENDING:
            continue
        if latest.status is NoticeStatus.CANCELLED:  # cancelled by a hold that has ended
            out.send.append(_send(rules, stage_no, slot, latest.attempt + 1, latest.channel, template, now))
            continue
        channel: Channel | None = latest.channel
        at = now
        undelivered = sum(n.channel is latest.channel and n.status is NoticeStatus.UNDELIVERED for n in tried)
        if latest.status is NoticeStatus.UNDELIVERED and undelivered <= rules.resend_undelivered:
            at = max(now, (latest.final_at or now) + rules.resend_after)
        else:
            channel = rules.fallback_for(latest.channel)
        if channel is None:
            out.stuck.append(f"stage {stage_no} {slot.value}: {latest.channel.value} gave up and has no fallback")
            continue
        out.send.append(_send(rules, stage_no, slot, latest.attempt + 1, channel, template, at))
    return max(delivered_at) if len(delivered_at) == len(slots) else None


def _send(
    rules: Enforcement, stage_no: int, slot: Channel, attempt: int, channel: Channel, template: str, at: dt.datetime
) -> Send:
    not_before = rules.window.next_send_time(at)
    return Send(stage_no, slot, attempt, channel, template, not_before, deadline(rules, stage_no, not_before))


def deadline(rules: Enforcement, stage_no: int, sent_at: dt.datetime) -> dt.date:
    """The earliest day the case could become eligible if this stage's notice is delivered
    when sent and each later stage on its day: the date a notice names."""
    later = sum(stage.delay_days for stage in rules.ladder.stages[stage_no:])
    end = sent_at + dt.timedelta(days=later + rules.ladder.grace_days)
    return end.astimezone(ZoneInfo(rules.zone)).date()


def _local(at: dt.datetime, rules: Enforcement) -> str:
    return at.astimezone(ZoneInfo(rules.zone)).strftime("%Y-%m-%d %H:%M")
