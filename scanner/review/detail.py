"""What a reviewer and an officer see: one item in full (photos with their measured face box and
landmarks, each measurement against its threshold, the face score and its band, the subscriber masked),
the lists of items, and who may see an item's photos."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Row

from checks.judge import MATCH_MEASURES, match_band, match_bands, same_face_other
from checks.policy import Policy, ReasonCode
from notices.privacy import mask_number
from notices.review import OPEN_ITEM_STATES, ReviewRules
from scanner.report.rows import province
from scanner.review.errors import NotFound
from scanner.tables import FINDING, MEASUREMENT, PHOTO, REVIEW_ITEM, REVIEWER, SUBSCRIBER

KINDS = ("id_portrait", "live", "handheld")


@dataclass(frozen=True)
class PhotoView:
    id: int
    kind: str
    uri: str
    sha256: str | None
    measurement: dict[str, Any] | None  # width_px, height_px, face_box, landmarks, ... (original pixels)
    owner: str | None = None  # another subscriber's photo shown beside these: its account, number masked


@dataclass(frozen=True)
class ItemDetail:
    id: int
    state: str
    source: str
    reasons: list[str]
    note: str
    created_at: dt.datetime
    overdue: bool
    assignee_id: int | None
    assignee_login: str | None
    lease_expires_at: dt.datetime | None
    held: bool
    first_reviewer_id: int | None
    first_reason: str | None
    decision: str | None
    decision_reason: str | None
    decided_by: str | None
    case_id: int | None
    subscriber_id: int
    subscriber: dict[str, Any]
    photos: list[PhotoView]
    evidence: list[dict[str, Any]]
    distances: dict[str, float]
    match: list[dict[str, Any]] = field(default_factory=list)


def _held(row: Any, now: dt.datetime) -> bool:
    return row.assignee_id is not None and row.lease_expires_at is not None and row.lease_expires_at > now


def _measurements(conn: Connection, shas: list[str]) -> dict[str, dict[str, Any]]:
    """The newest measurement of each photo sha256 (a newer extractor's, when there are several)."""
    if not shas:
        return {}
    newest = (
        select(func.max(MEASUREMENT.c.id))
        .where(MEASUREMENT.c.photo_sha256.in_(shas))
        .group_by(MEASUREMENT.c.photo_sha256)
        .scalar_subquery()
    )
    rows = conn.execute(select(MEASUREMENT.c.photo_sha256, MEASUREMENT.c["values"]).where(MEASUREMENT.c.id.in_(newest)))
    keep = ("sface_feature", "face_signature")  # long encodings a page has no use for
    return {r.photo_sha256: {k: v for k, v in dict(r[1]).items() if k not in keep} for r in rows}


def _other_faces(conn: Connection, evidence: list[dict[str, Any]]) -> list[PhotoView]:
    """The photos of the other subscribers a FACE_UNDER_OTHER_ID finding names, to be compared."""
    out = []
    for ev in evidence:
        named = (
            same_face_other(str(ev.get("detail") or "")) if ev.get("code") == ReasonCode.FACE_UNDER_OTHER_ID else None
        )
        if named is None:
            continue
        account, kind = named
        row = conn.execute(
            select(PHOTO, SUBSCRIBER.c.msisdn)
            .join(SUBSCRIBER, SUBSCRIBER.c.id == PHOTO.c.subscriber_id)
            .where(SUBSCRIBER.c.account_id == account, PHOTO.c.kind == kind)
        ).first()
        if row is not None:
            measured = _measurements(conn, [row.sha256] if row.sha256 else [])
            owner = f"{account} ({mask_number(row.msisdn)})"
            out.append(PhotoView(row.id, "other_id", row.uri, row.sha256, measured.get(row.sha256 or ""), owner))
    return out


def _match(distances: dict[str, float], policy: Policy | None) -> list[dict[str, Any]]:
    out = []
    for key, value in sorted(distances.items()):
        pair, _, measure = key.partition(":")
        model = next((m for m, (name, _) in MATCH_MEASURES.items() if name == measure), None)
        if model is None:
            continue
        bands = match_bands(policy.checks.match, model) if policy is not None else None
        out.append(
            {
                "pair": pair,
                "measure": measure,
                "model": model,
                "value": value,
                "larger_is_alike": MATCH_MEASURES[model][1],
                "match_threshold": bands[0] if bands else None,
                "mismatch_threshold": bands[1] if bands else None,
                "band": match_band(model, value, bands) if bands else None,
            }
        )
    return out


def item_detail(
    conn: Connection, item_id: int, rules: ReviewRules, now: dt.datetime, *, policy: Policy | None = None
) -> ItemDetail:
    """Item ``item_id`` as the review page shows it; ``policy`` gives the face match bands."""
    item = conn.execute(
        select(REVIEW_ITEM, REVIEWER.c.login.label("assignee_login"))
        .select_from(REVIEW_ITEM.outerjoin(REVIEWER, REVIEWER.c.id == REVIEW_ITEM.c.assignee_id))
        .where(REVIEW_ITEM.c.id == item_id)
    ).first()
    if item is None:
        raise NotFound(f"review item {item_id}: no such item")
    sub = conn.execute(select(SUBSCRIBER).where(SUBSCRIBER.c.id == item.subscriber_id)).one()
    photos = list(conn.execute(select(PHOTO).where(PHOTO.c.subscriber_id == sub.id).order_by(PHOTO.c.kind, PHOTO.c.id)))
    measured = _measurements(conn, [p.sha256 for p in photos if p.sha256])
    finding = None
    if item.finding_id is not None:
        finding = conn.execute(
            select(FINDING.c.evidence, FINDING.c.distances).where(FINDING.c.id == item.finding_id)
        ).first()
    distances = {k: float(v) for k, v in dict(finding.distances if finding else {}).items()}
    evidence = [dict(e) for e in (finding.evidence if finding else [])]
    order = {kind: n for n, kind in enumerate(KINDS)}
    return ItemDetail(
        id=item.id,
        state=item.state,
        source=item.source,
        reasons=list(item.reasons or []),
        note=item.note,
        created_at=item.created_at,
        overdue=item.state in [s.value for s in OPEN_ITEM_STATES] and now - item.created_at > rules.service_target,
        assignee_id=item.assignee_id,
        assignee_login=item.assignee_login,
        lease_expires_at=item.lease_expires_at,
        held=_held(item, now),
        first_reviewer_id=item.first_reviewer_id,
        first_reason=item.first_reason,
        decision=item.decision,
        decision_reason=item.decision_reason,
        decided_by=item.decided_by,
        case_id=item.case_id,
        subscriber_id=sub.id,
        subscriber={
            "account_id": sub.account_id,
            "msisdn_masked": mask_number(sub.msisdn),
            "id_number_masked": mask_number(sub.id_number),
            "name": sub.name,
            "province": province(sub.region_code, sub.id_number),
            "segment": sub.segment,
            "joined_on": sub.joined_on,
            "id_expires_on": sub.id_expires_on,
        },
        photos=sorted(
            (PhotoView(p.id, p.kind, p.uri, p.sha256, measured.get(p.sha256) if p.sha256 else None) for p in photos),
            key=lambda p: (order.get(p.kind, 9), p.id),
        )
        + _other_faces(conn, evidence),
        evidence=evidence,
        distances=distances,
        match=_match(distances, policy),
    )


def may_view(conn: Connection, item_id: int, reviewer: Row[Any], now: dt.datetime) -> bool:
    """An officer sees every item; a reviewer only the items they hold now."""
    item = conn.execute(
        select(REVIEW_ITEM.c.assignee_id, REVIEW_ITEM.c.lease_expires_at).where(REVIEW_ITEM.c.id == item_id)
    ).first()
    if item is None:
        raise NotFound(f"review item {item_id}: no such item")
    if not reviewer.active:
        return False
    if reviewer.role == "officer":
        return True
    return bool(item.assignee_id == reviewer.id and _held(item, now))


@dataclass(frozen=True)
class ItemRow:
    id: int
    state: str
    source: str
    reasons: list[str]
    created_at: dt.datetime
    account_id: str
    msisdn_masked: str
    assignee_login: str | None
    held: bool
    overdue: bool
    decision: str | None
    decision_reason: str | None
    decided_by: str | None


def list_items(
    conn: Connection,
    rules: ReviewRules,
    now: dt.datetime,
    *,
    states: list[str] | None = None,
    assignee_id: int | None = None,
    overdue_only: bool = False,
    limit: int = 200,
) -> list[ItemRow]:
    """Items oldest first: in ``states`` (open ones by default), held by ``assignee_id`` if given."""
    wanted = states or [s.value for s in OPEN_ITEM_STATES]
    query = (
        select(
            REVIEW_ITEM,
            SUBSCRIBER.c.account_id,
            SUBSCRIBER.c.msisdn,
            REVIEWER.c.login.label("assignee_login"),
        )
        .join(SUBSCRIBER, SUBSCRIBER.c.id == REVIEW_ITEM.c.subscriber_id)
        .outerjoin(REVIEWER, REVIEWER.c.id == REVIEW_ITEM.c.assignee_id)
        .where(REVIEW_ITEM.c.state.in_(wanted))
        .order_by(REVIEW_ITEM.c.created_at, REVIEW_ITEM.c.id)
    )
    if assignee_id is not None:
        query = query.where(REVIEW_ITEM.c.assignee_id == assignee_id, REVIEW_ITEM.c.lease_expires_at > now)
    if overdue_only:
        query = query.where(REVIEW_ITEM.c.created_at < now - rules.service_target)
    if limit:
        query = query.limit(limit)
    open_states = {s.value for s in OPEN_ITEM_STATES}
    return [
        ItemRow(
            id=r.id,
            state=r.state,
            source=r.source,
            reasons=list(r.reasons or []),
            created_at=r.created_at,
            account_id=r.account_id,
            msisdn_masked=mask_number(r.msisdn),
            assignee_login=r.assignee_login if _held(r, now) else None,
            held=_held(r, now),
            overdue=r.state in open_states and now - r.created_at > rules.service_target,
            decision=r.decision,
            decision_reason=r.decision_reason,
            decided_by=r.decided_by,
        )
        for r in conn.execute(query)
    ]
