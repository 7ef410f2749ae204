"""Assignment: every waiting item goes to the least-loaded reviewer whose scope covers the subscriber,
oldest item first, with a lease (``[review] lease_minutes``). An item is held while its lease runs; when
the lease expires it is waiting again, as it stood, and the next assignment may give it to anyone.

Two ways in, one rule: ``assign_pending`` deals out the whole queue (``realname review assign``, from
cron), and ``next_item`` gives a reviewer who asks the item they hold, or the oldest waiting one they
may take (the web app's "next"). Each runs in one write transaction (``BEGIN IMMEDIATE`` on SQLite;
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and the assignment itself is a conditional update that only
succeeds on an item nobody holds, so two reviewers never hold the same item.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection, Engine, Row

from notices.review import ItemState, ReviewerView, ReviewRules, choose_reviewer
from scanner.audit.log import Entry, append
from scanner.review.errors import NotFound
from scanner.review.reviewers import view_of
from scanner.tables import REVIEW_ITEM, REVIEWER, SUBSCRIBER

ACTOR = "review assign"
SCAN = 200  # waiting items looked at per query
_WAITING = (ItemState.PENDING.value, ItemState.SECOND.value)
_HELD_STATES = (ItemState.PENDING.value, ItemState.SECOND.value, ItemState.DISPUTED.value)


def held_by(conn: Connection, now: dt.datetime) -> dict[int, int]:
    """Reviewer id -> items they hold now."""
    rows = conn.execute(
        select(REVIEW_ITEM.c.assignee_id, func.count())
        .where(
            REVIEW_ITEM.c.state.in_(_HELD_STATES),
            REVIEW_ITEM.c.assignee_id.is_not(None),
            REVIEW_ITEM.c.lease_expires_at > now,
        )
        .group_by(REVIEW_ITEM.c.assignee_id)
    )
    return {int(r[0]): int(r[1]) for r in rows}


def _waiting(
    conn: Connection, now: dt.datetime, states: tuple[str, ...], after: tuple[Any, int] | None
) -> list[Row[Any]]:
    """Up to ``SCAN`` items in ``states`` that nobody holds, oldest first, after ``after``. One query
    per state, each walking the queue index (state, created_at, id) in order: with ``state IN (...)``
    the database would sort every waiting item on each call."""
    rows: list[Row[Any]] = []
    for state in states:
        query = (
            select(
                REVIEW_ITEM.c.id,
                REVIEW_ITEM.c.subscriber_id,
                REVIEW_ITEM.c.state,
                REVIEW_ITEM.c.created_at,
                REVIEW_ITEM.c.assignee_id,
                REVIEW_ITEM.c.first_reviewer_id,
                SUBSCRIBER.c.region_code,
                SUBSCRIBER.c.id_number,
                SUBSCRIBER.c.segment,
            )
            .join(SUBSCRIBER, SUBSCRIBER.c.id == REVIEW_ITEM.c.subscriber_id)
            .where(
                REVIEW_ITEM.c.state == state,
                or_(REVIEW_ITEM.c.assignee_id.is_(None), REVIEW_ITEM.c.lease_expires_at <= now),
            )
            .order_by(REVIEW_ITEM.c.created_at, REVIEW_ITEM.c.id)
            .limit(SCAN)
        )
        if after is not None:
            created, item_id = after
            query = query.where(
                or_(
                    REVIEW_ITEM.c.created_at > created,
                    (REVIEW_ITEM.c.created_at == created) & (REVIEW_ITEM.c.id > item_id),
                )
            )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=REVIEW_ITEM, skip_locked=True)
        rows.extend(conn.execute(query))
    rows.sort(key=lambda r: (r.created_at, r.id))
    return rows[:SCAN]


def _region(row: Row[Any]) -> str | None:
    """The subscriber's region code: the registered one, else the ID number's first six digits."""
    return row.region_code or (row.id_number[:6] if row.id_number and row.id_number[:6].isdigit() else None)


def _take(
    conn: Connection, item: Row[Any], reviewer: ReviewerView, rules: ReviewRules, now: dt.datetime
) -> Entry | None:
    """Give ``item`` to ``reviewer`` if nobody holds it; the audit entry, or None if someone took it."""
    lease = now + rules.lease
    done = conn.execute(
        update(REVIEW_ITEM)
        .where(
            REVIEW_ITEM.c.id == item.id,
            REVIEW_ITEM.c.state == item.state,
            or_(REVIEW_ITEM.c.assignee_id.is_(None), REVIEW_ITEM.c.lease_expires_at <= now),
        )
        .values(assignee_id=reviewer.id, assigned_at=now, lease_expires_at=lease, updated_at=now)
    ).rowcount
    if not done:
        return None
    detail = {"item": item.id, "reviewer": reviewer.login, "lease_expires_at": lease.isoformat()}
    if item.assignee_id is not None and item.assignee_id != reviewer.id:
        detail["lease_expired_for"] = item.assignee_id
    return Entry(now, ACTOR, "review.assign", f"review item {item.id}", item.subscriber_id, detail)


def _reviewers(conn: Connection) -> list[ReviewerView]:
    return [view_of(r) for r in conn.execute(select(REVIEWER).where(REVIEWER.c.active.is_(True)))]


def assign_pending(engine: Engine, rules: ReviewRules, now: dt.datetime) -> dict[str, int]:
    """Deal every waiting item to the least-loaded eligible reviewer, oldest first, until each reviewer
    holds ``max_per_reviewer`` items; returns reviewer login -> items given now."""
    given: dict[str, int] = {}
    after: tuple[Any, int] | None = None
    while True:
        with engine.begin() as conn:
            reviewers = _reviewers(conn)
            load = held_by(conn, now)
            items = _waiting(conn, now, _WAITING, after)
            if not items or not reviewers:
                return given
            entries = []
            for item in items:
                chosen = choose_reviewer(
                    reviewers,
                    load,
                    region_code=_region(item),
                    segment=item.segment,
                    max_load=rules.max_per_reviewer,
                    exclude=item.first_reviewer_id,
                )
                if chosen is None:
                    continue
                entry = _take(conn, item, chosen, rules, now)
                if entry is not None:
                    entries.append(entry)
                    load[chosen.id] = load.get(chosen.id, 0) + 1
                    given[chosen.login] = given.get(chosen.login, 0) + 1
            append(conn, entries)
            after = (items[-1].created_at, items[-1].id)
            if all(load.get(r.id, 0) >= rules.max_per_reviewer for r in reviewers if r.role == "reviewer"):
                return given


def next_item(engine: Engine, rules: ReviewRules, reviewer_id: int, now: dt.datetime) -> int | None:
    """The item ``reviewer_id`` should look at now: the oldest one they hold (its lease renewed), else
    the oldest waiting one they may take (officers: disputed ones first), else None."""
    with engine.begin() as conn:
        row = conn.execute(select(REVIEWER).where(REVIEWER.c.id == reviewer_id)).first()
        if row is None or not row.active:
            raise NotFound(f"reviewer {reviewer_id}: not registered or not active")
        reviewer = view_of(row)
        held = conn.execute(
            select(REVIEW_ITEM.c.id)
            .where(
                REVIEW_ITEM.c.assignee_id == reviewer.id,
                REVIEW_ITEM.c.state.in_(_HELD_STATES),
                REVIEW_ITEM.c.lease_expires_at > now,
            )
            .order_by(REVIEW_ITEM.c.created_at, REVIEW_ITEM.c.id)
            .limit(1)
        ).scalar()
        if held is not None:
            conn.execute(
                update(REVIEW_ITEM)
                .where(REVIEW_ITEM.c.id == held)
                .values(lease_expires_at=now + rules.lease, updated_at=now)
            )
            return int(held)
        officer = reviewer.role == "officer"
        for states in ((ItemState.DISPUTED.value,), _WAITING) if officer else (_WAITING,):
            after: tuple[Any, int] | None = None
            while True:
                items = _waiting(conn, now, states, after)
                if not items:
                    break
                for item in items:
                    if item.first_reviewer_id == reviewer.id:
                        continue
                    if not officer and not reviewer.covers(_region(item), item.segment):
                        continue
                    entry = _take(conn, item, reviewer, rules, now)
                    if entry is not None:
                        append(conn, [entry])
                        return int(item.id)
                after = (items[-1].created_at, items[-1].id)
    return None


def release(engine: Engine, item_id: int, reviewer_id: int, now: dt.datetime) -> bool:
    """A reviewer gives an item back before deciding it; False if they did not hold it."""
    with engine.begin() as conn:
        row = conn.execute(
            update(REVIEW_ITEM)
            .where(
                REVIEW_ITEM.c.id == item_id,
                REVIEW_ITEM.c.assignee_id == reviewer_id,
                REVIEW_ITEM.c.lease_expires_at > now,
            )
            .values(assignee_id=None, lease_expires_at=None, updated_at=now)
            .returning(REVIEW_ITEM.c.subscriber_id)
        ).first()
        if row is None:
            return False
        detail = {"item": item_id, "reviewer": reviewer_id}
        append(
            conn, [Entry(now, f"reviewer {reviewer_id}", "review.release", f"review item {item_id}", row[0], detail)]
        )
    return True
