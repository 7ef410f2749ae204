"""One face under several ID numbers: from pairs of measured faces to pairs of subscribers.

Two subscribers share a face when a photo of one and a photo of the other are the same file (one
measurement) or two files whose faces ``face_pair`` holds within the policy's bound. Only pairs of
different persons count: numbers of one person (``subscriber.person_key``, the ID number where it has
none) share faces by right. Each subscriber gets its nearest such face (``checks.judge.SameFace``),
with the other account's number masked and how many accounts of other ID numbers are that near.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from checks.judge import SameFace
from checks.photo import EXTRACTOR_VERSION
from notices.privacy import mask_number
from scanner.faceindex.store import SFACE_FEATURE
from scanner.tables import FACE_PAIR, MEASUREMENT, PHOTO, SUBSCRIBER

# (subscriber, photo kind, other subscriber, other photo kind, distance)
Hit = tuple[int, str, int, str, float]


def _pair_hits(conn: Connection, bound: float) -> Iterable[Hit]:
    ma, mb = MEASUREMENT.alias("ma"), MEASUREMENT.alias("mb")
    pa, pb = PHOTO.alias("pa"), PHOTO.alias("pb")
    joined = (
        FACE_PAIR.join(ma, ma.c.id == FACE_PAIR.c.measurement_a)
        .join(pa, pa.c.sha256 == ma.c.photo_sha256)
        .join(mb, mb.c.id == FACE_PAIR.c.measurement_b)
        .join(pb, pb.c.sha256 == mb.c.photo_sha256)
    )
    query = (
        select(pa.c.subscriber_id, pa.c.kind, pb.c.subscriber_id, pb.c.kind, FACE_PAIR.c.distance)
        .select_from(joined)
        .where(FACE_PAIR.c.distance <= bound, pa.c.subscriber_id != pb.c.subscriber_id)
    )
    for a, ka, b, kb, d in conn.execute(query):
        yield int(a), str(ka), int(b), str(kb), float(d)


def _shared_file_hits(conn: Connection) -> Iterable[Hit]:
    """Photos of several subscribers that are one file with a measured face: distance 0."""
    shared = (
        select(PHOTO.c.sha256)
        .where(PHOTO.c.sha256.is_not(None))
        .group_by(PHOTO.c.sha256)
        .having(func.count(func.distinct(PHOTO.c.subscriber_id)) > 1)
    ).subquery()
    rows = conn.execute(
        select(PHOTO.c.sha256, PHOTO.c.subscriber_id, PHOTO.c.kind)
        .select_from(
            PHOTO.join(shared, shared.c.sha256 == PHOTO.c.sha256).join(
                MEASUREMENT,
                and_(
                    MEASUREMENT.c.photo_sha256 == PHOTO.c.sha256, MEASUREMENT.c.extractor_version == EXTRACTOR_VERSION
                ),
            )
        )
        .where(SFACE_FEATURE.is_not(None), SFACE_FEATURE != "")
    ).all()
    by_file: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for sha, sub, kind in rows:
        by_file[str(sha)].append((int(sub), str(kind)))
    for photos in by_file.values():
        for i, (a, ka) in enumerate(photos):
            for b, kb in photos[i + 1 :]:
                if a != b:
                    yield a, ka, b, kb, 0.0


def same_faces(conn: Connection, bound: float) -> dict[int, SameFace]:
    """subscriber id -> the nearest face of a subscriber of another ID number within ``bound``."""
    hits = [*_pair_hits(conn, bound), *_shared_file_hits(conn)]
    if not hits:
        return {}
    ids = sorted({h[0] for h in hits} | {h[2] for h in hits})
    who: dict[int, tuple[str, str, str]] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for sid, account, msisdn, key, number in conn.execute(
            select(
                SUBSCRIBER.c.id,
                SUBSCRIBER.c.account_id,
                SUBSCRIBER.c.msisdn,
                SUBSCRIBER.c.person_key,
                SUBSCRIBER.c.id_number,
            ).where(SUBSCRIBER.c.id.in_(chunk))
        ):
            who[int(sid)] = (str(account), str(msisdn), str(key or number))
    # own -> (distance, other, own kind, other kind) of the nearest face: ties go to the smaller other id
    # (then the kinds), so the choice does not depend on the order the hits come in.
    nearest: dict[int, tuple[float, int, str, str]] = {}
    others: dict[int, set[int]] = defaultdict(set)
    for a, ka, b, kb, d in hits:
        if a not in who or b not in who or who[a][2] == who[b][2]:
            continue
        for own, own_kind, other, other_kind in ((a, ka, b, kb), (b, kb, a, ka)):
            others[own].add(other)
            candidate = (d, other, own_kind, other_kind)
            if own not in nearest or candidate < nearest[own]:
                nearest[own] = candidate
    out: dict[int, SameFace] = {}
    for own, (d, other, own_kind, other_kind) in nearest.items():
        account, msisdn, _ = who[other]
        out[own] = SameFace(
            distance=round(d, 4),
            photo_kind=own_kind,
            other_account=account,
            other_msisdn=mask_number(msisdn),
            other_photo_kind=other_kind,
            others=len(others[own]),
        )
    return out
