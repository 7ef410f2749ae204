"""Review items: made from the review findings of the newest enforcing run, or by an officer's referral.

An item stands for one subscriber's photos and the reasons a person must look at them. Its ``basis`` is
the sha256 of the photos' own sha256s and the review reasons, so a rescan that still says review on the
same photos keeps the same item, open or decided: a person's decision is not asked for twice. A rescan
that says review on other photos or for other reasons moves the subscriber's open item to the new basis
(or opens a new item once the old one was decided). An open item made from a finding is withdrawn when
the newest run no longer says review for that subscriber.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine, Row

from notices.review import OPEN_ITEM_STATES, ItemState
from scanner.audit.log import Entry, append, record
from scanner.review.errors import NotFound, ReviewError
from scanner.tables import FINDING, PHOTO, REVIEW_ITEM, SCAN_RUN, SUBSCRIBER

ACTOR = "review sync"
PAGE = 2000
_OPEN = [s.value for s in OPEN_ITEM_STATES]


@dataclass
class SyncSummary:
    run_id: int | None = None
    created: int = 0
    moved: int = 0  # open items moved to new photos or reasons
    kept: int = 0
    withdrawn: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "created": self.created,
            "moved": self.moved,
            "kept": self.kept,
            "withdrawn": self.withdrawn,
        }


def review_reasons(evidence: list[dict[str, Any]], reasons: list[str]) -> list[str]:
    """The reasons a person must decide: those of review severity (all of them when none says)."""
    codes = [e["code"] for e in evidence if e.get("severity") == "review"]
    return sorted(set(codes or reasons))


def basis_of(photos: dict[str, str | None], reasons: list[str]) -> str:
    text = "|".join(f"{kind}={sha or '-'}" for kind, sha in sorted(photos.items())) + "#" + ",".join(sorted(reasons))
    return hashlib.sha256(text.encode()).hexdigest()


def newest_enforcing_run(conn: Connection) -> int | None:
    found = conn.execute(
        select(SCAN_RUN.c.id)
        .where(SCAN_RUN.c.mode == "enforce", SCAN_RUN.c.status == "finished")
        .order_by(SCAN_RUN.c.id.desc())
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


def _photos(conn: Connection, subscriber_ids: list[int]) -> dict[int, dict[str, str | None]]:
    out: dict[int, dict[str, str | None]] = {}
    for row in conn.execute(
        select(PHOTO.c.subscriber_id, PHOTO.c.kind, PHOTO.c.sha256).where(PHOTO.c.subscriber_id.in_(subscriber_ids))
    ):
        out.setdefault(row.subscriber_id, {})[row.kind] = row.sha256
    return out


def sync_items(engine: Engine, now: dt.datetime) -> SyncSummary:
    """Bring the items up to the newest finished enforcing run (preview runs never make items). Safe to
    run any number of times: what is already there is kept."""
    summary = SyncSummary()
    with engine.connect() as conn:
        run_id = newest_enforcing_run(conn)
    if run_id is None:
        return summary
    summary.run_id = run_id
    last = 0
    while True:
        with engine.begin() as conn:
            findings = conn.execute(
                select(FINDING.c.id, FINDING.c.subscriber_id, FINDING.c.reasons, FINDING.c.evidence)
                .where(FINDING.c.run_id == run_id, FINDING.c.verdict == "review", FINDING.c.subscriber_id > last)
                .order_by(FINDING.c.subscriber_id)
                .limit(PAGE)
            ).all()
            if not findings:
                break
            last = findings[-1].subscriber_id
            _sync_page(conn, findings, run_id, now, summary)
    with engine.begin() as conn:
        _withdraw(conn, run_id, now, summary)
    return summary


def _sync_page(conn: Connection, findings: Sequence[Any], run_id: int, now: dt.datetime, summary: SyncSummary) -> None:
    ids = [f.subscriber_id for f in findings]
    photos = _photos(conn, ids)
    known: dict[tuple[int, str], Row[Any]] = {}
    open_by_sub: dict[int, Row[Any]] = {}
    for item in conn.execute(select(REVIEW_ITEM).where(REVIEW_ITEM.c.subscriber_id.in_(ids))):
        known[(item.subscriber_id, item.basis)] = item
        if item.active_subscriber_id is not None:
            open_by_sub[item.subscriber_id] = item
    new_rows, entries = [], []
    for f in findings:
        reasons = review_reasons(list(f.evidence or []), list(f.reasons or []))
        basis = basis_of(photos.get(f.subscriber_id, {}), reasons)
        same = known.get((f.subscriber_id, basis))
        if same is not None:
            summary.kept += 1
            if same.active_subscriber_id is not None and same.finding_id != f.id:
                conn.execute(
                    update(REVIEW_ITEM)
                    .where(REVIEW_ITEM.c.id == same.id)
                    .values(finding_id=f.id, run_id=run_id, updated_at=now)
                )
            continue
        current = open_by_sub.get(f.subscriber_id)
        if current is not None and current.source == "finding":
            conn.execute(
                update(REVIEW_ITEM)
                .where(REVIEW_ITEM.c.id == current.id)
                .values(basis=basis, reasons=reasons, finding_id=f.id, run_id=run_id, updated_at=now)
            )
            summary.moved += 1
            detail = {"item": current.id, "finding": f.id, "run": run_id, "reasons": reasons}
            entries.append(Entry(now, ACTOR, "review.move", f"review item {current.id}", f.subscriber_id, detail))
            continue
        if current is not None:  # an officer's referral is open: it will be decided on the newest photos
            summary.kept += 1
            continue
        new_rows.append(
            {
                "subscriber_id": f.subscriber_id,
                "active_subscriber_id": f.subscriber_id,
                "basis": basis,
                "source": "finding",
                "finding_id": f.id,
                "run_id": run_id,
                "reasons": reasons,
                "note": "",
                "state": ItemState.PENDING.value,
                "created_at": now,
                "updated_at": now,
            }
        )
    if new_rows:
        created = conn.execute(
            insert(REVIEW_ITEM).returning(REVIEW_ITEM.c.id, sort_by_parameter_order=True), new_rows
        ).scalars()
        for item_id, row in zip(created, new_rows, strict=True):
            detail = {"item": item_id, "finding": row["finding_id"], "run": run_id, "reasons": row["reasons"]}
            entries.append(Entry(now, ACTOR, "review.create", f"review item {item_id}", row["subscriber_id"], detail))
        summary.created += len(new_rows)
    append(conn, entries)


def _withdraw(conn: Connection, run_id: int, now: dt.datetime, summary: SyncSummary) -> None:
    """Withdraw open items made from a finding whose subscriber the newest run no longer sends to review."""
    still = select(FINDING.c.subscriber_id).where(
        FINDING.c.run_id == run_id,
        FINDING.c.verdict == "review",
        FINDING.c.subscriber_id == REVIEW_ITEM.c.subscriber_id,
    )
    judged = select(FINDING.c.subscriber_id).where(
        FINDING.c.run_id == run_id, FINDING.c.subscriber_id == REVIEW_ITEM.c.subscriber_id
    )
    gone = conn.execute(
        update(REVIEW_ITEM)
        .where(
            REVIEW_ITEM.c.state.in_(_OPEN),
            REVIEW_ITEM.c.source == "finding",
            REVIEW_ITEM.c.run_id != run_id,
            judged.exists(),
            ~still.exists(),
        )
        .values(
            state=ItemState.WITHDRAWN.value,
            active_subscriber_id=None,
            assignee_id=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(REVIEW_ITEM.c.id, REVIEW_ITEM.c.subscriber_id)
    ).all()
    append(
        conn,
        [
            Entry(
                now,
                ACTOR,
                "review.withdraw",
                f"review item {r.id}",
                r.subscriber_id,
                {"item": r.id, "run": run_id, "why": "the newest enforcing run no longer says review"},
            )
            for r in sorted(gone, key=lambda r: r.id)
        ],
    )
    summary.withdrawn += len(gone)


def find_subscriber(conn: Connection, key: str) -> Row[Any]:
    """A subscriber by account id or mobile number; the error masks the number."""
    from notices.privacy import mask_number

    row = conn.execute(
        select(SUBSCRIBER).where(or_(SUBSCRIBER.c.account_id == key, SUBSCRIBER.c.msisdn == key)).limit(1)
    ).first()
    if row is None:
        raise NotFound(f"subscriber {mask_number(key)}: no such account or number")
    return row


def refer(engine: Engine, subscriber: str, note: str, officer: str, now: dt.datetime) -> int:
    """An officer sends a subscriber to review with a note; returns the item id."""
    note = note.strip()
    if not note:
        raise ReviewError("a referral needs a note saying what to look at")
    with engine.begin() as conn:
        sub = find_subscriber(conn, subscriber)
        existing = conn.execute(select(REVIEW_ITEM.c.id).where(REVIEW_ITEM.c.active_subscriber_id == sub.id)).scalar()
        if existing is not None:
            raise ReviewError(f"subscriber {sub.account_id}: review item {existing} is still open")
        finding = conn.execute(
            select(FINDING.c.id, FINDING.c.run_id, FINDING.c.reasons)
            .join(SCAN_RUN, and_(SCAN_RUN.c.id == FINDING.c.run_id, SCAN_RUN.c.mode == "enforce"))
            .where(FINDING.c.subscriber_id == sub.id)
            .order_by(FINDING.c.run_id.desc())
            .limit(1)
        ).first()
        photos = _photos(conn, [sub.id]).get(sub.id, {})
        basis = basis_of({**photos, "referral": now.isoformat()}, [])
        item_id = int(
            conn.execute(
                insert(REVIEW_ITEM)
                .values(
                    subscriber_id=sub.id,
                    active_subscriber_id=sub.id,
                    basis=basis,
                    source="referral",
                    finding_id=finding.id if finding else None,
                    run_id=finding.run_id if finding else None,
                    reasons=list(finding.reasons) if finding else [],
                    note=note[:2000],
                    referred_by=officer,
                    state=ItemState.PENDING.value,
                    created_at=now,
                    updated_at=now,
                )
                .returning(REVIEW_ITEM.c.id)
            ).scalar_one()
        )
        record(
            conn, now, officer, "review.refer", f"review item {item_id}", subscriber_id=sub.id, item=item_id, note=note
        )
    return item_id


def withdraw_open(conn: Connection, subscriber_id: int, now: dt.datetime, actor: str, why: str) -> int | None:
    """Withdraw the subscriber's open item (its photos were replaced by a passing re-verification, say);
    the item's id, or None when there was none."""
    row = conn.execute(
        update(REVIEW_ITEM)
        .where(REVIEW_ITEM.c.active_subscriber_id == subscriber_id)
        .values(
            state=ItemState.WITHDRAWN.value,
            active_subscriber_id=None,
            assignee_id=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(REVIEW_ITEM.c.id)
    ).first()
    if row is None:
        return None
    subject = f"review item {row.id}"
    record(conn, now, actor, "review.withdraw", subject, subscriber_id=subscriber_id, item=row.id, why=why)
    return int(row.id)
