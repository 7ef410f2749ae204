"""One shard of a rescan: a keyset page of subscribers, read, measured, judged and written.

A shard's findings, the measurements it made, the photos' recorded sha256 and
the shard's own row are written in one transaction, so a run killed at any
moment has whole shards or none of one, and ``--resume`` continues after the
last shard written.

Photos whose recorded sha256 already has a measurement by the current
extractor are not read at all (the measurement cache): a policy change that
only moves thresholds re-judges the base from stored numbers. Reads here use
SQLAlchemy Core rows, not ORM objects, because the re-judge path handles
millions of rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from sqlalchemy import String, and_, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.engine import Connection

from checks.photo import EXTRACTOR_VERSION, lacks_descriptor
from scanner.audit.rundigest import shard_digest
from scanner.db import dialect_insert
from scanner.scan.executors import Executor
from scanner.scan.judging import JudgedPage, PhotoRow, SubRow
from scanner.scan.measuretask import PhotoOutcome, PhotoTask, measure_task
from scanner.tables import FINDING, MEASUREMENT, PHOTO, SCAN_SHARD, SUBSCRIBER
from scanner.utctime import utcnow


@dataclass
class ShardResult:
    last_subscriber_id: int
    subscribers: int
    photos: int
    measured: int
    from_cache: int
    unreadable: int
    failures: int
    verdicts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)


class RecentShas:
    """sha256 of photo files measured earlier in this run, by URI (bounded), so
    a file shared by several subscribers is read once per run even when their
    photo rows have no recorded sha256 yet."""

    def __init__(self, limit: int = 50_000) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def get(self, uri: str) -> str | None:
        return self._items.get(uri)

    def put(self, uri: str, sha256: str) -> None:
        self._items[uri] = sha256
        self._items.move_to_end(uri)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)


def _values(values: dict[str, Any], descriptor: bytes | None) -> dict[str, Any]:
    out = dict(values)
    out["descriptor"] = None if descriptor is None else tuple(np.frombuffer(descriptor, dtype=np.float64).tolist())
    return out


def _parsed(values: str | bytes | dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(values) if isinstance(values, str | bytes) else values


def descriptor_bytes(measurement: dict[str, Any]) -> bytes | None:
    descriptor = measurement.get("descriptor")
    return None if descriptor is None else np.asarray(descriptor, dtype=np.float64).tobytes()


def _insert_ignoring_duplicates(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name in ("sqlite", "postgresql"):
        conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), rows)
    else:  # pragma: no cover - other back ends: insert one by one, skipping what exists
        for row in rows:
            exists = conn.execute(
                select(table.c.id).where(
                    table.c.photo_sha256 == row["photo_sha256"],
                    table.c.extractor_version == row["extractor_version"],
                )
            ).first()
            if exists is None:
                conn.execute(insert(table), [row])


def _cached_by_sha(conn: Connection, shas: Iterable[str], current_only: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    """sha256 -> (extractor version, values) of stored measurements; the current
    version preferred, else the newest other one (for part reuse)."""
    shas = sorted(set(shas))
    if not shas:
        return {}
    query = select(
        MEASUREMENT.c.photo_sha256,
        MEASUREMENT.c.extractor_version,
        MEASUREMENT.c["values"],
        MEASUREMENT.c.descriptor,
        MEASUREMENT.c.id,
    )
    query = query.where(MEASUREMENT.c.photo_sha256.in_(shas))
    if current_only:
        query = query.where(MEASUREMENT.c.extractor_version == EXTRACTOR_VERSION)
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    best: dict[str, tuple[bool, int]] = {}
    for sha, version, values, descriptor, row_id in conn.execute(query):
        rank = (version == EXTRACTOR_VERSION, row_id)
        if sha not in best or rank > best[sha]:
            best[sha] = rank
            out[sha] = (version, _values(values, descriptor))
    return out


@dataclass(frozen=True)
class ShardInfo:
    """What the shard row records about a page, apart from its verdicts."""

    shard_no: int
    first_id: int
    last_id: int
    subscribers: int
    photos: int
    from_cache: int


@dataclass
class Page:
    """One shard as read: its subscribers, its photos, and what is still to be measured."""

    shard_no: int
    subs: list[SubRow]
    photos: Sequence[Any]  # rows: id, subscriber_id, kind, uri, sha256, values, descriptor
    outcomes: dict[int, PhotoOutcome]  # photo id -> outcome, for photos not judged from a cache row
    cached: dict[int, tuple[Any, bytes | None]]  # photo id -> (values, descriptor) from the cache
    tasks: list[PhotoTask]
    by_uri: dict[str, list[int]]
    # photo id -> sha256 of a file measured earlier in this run under the same URI
    recorded: dict[int, str] = field(default_factory=dict)

    @property
    def last_id(self) -> int:
        return self.subs[-1][0]

    def info(self) -> ShardInfo:
        return ShardInfo(
            self.shard_no, self.subs[0][0], self.last_id, len(self.subs), len(self.photos), len(self.cached)
        )


def next_page_end(conn: Connection, after_subscriber_id: int, page_size: int) -> int | None:
    """The last subscriber id of the page of ``page_size`` after ``after_subscriber_id``; None at the end."""
    ids = select(SUBSCRIBER.c.id).where(SUBSCRIBER.c.id > after_subscriber_id).order_by(SUBSCRIBER.c.id)
    end = conn.execute(ids.offset(page_size - 1).limit(1)).scalar()
    if end is None:
        end = conn.execute(select(func.max(SUBSCRIBER.c.id)).where(SUBSCRIBER.c.id > after_subscriber_id)).scalar()
    return None if end is None else int(end)


def read_page(
    conn: Connection,
    shard_no: int,
    after_subscriber_id: int,
    page_size: int,
    rehash: bool,
    recent: RecentShas,
    last_subscriber_id: int | None = None,
    dlib: bool = False,
) -> Page | None:
    """The next ``page_size`` subscribers after ``after_subscriber_id`` (or, with
    ``last_subscriber_id``, all of them up to that id) and their photos; None when there are none.

    ``dlib``: the policy reads dlib's descriptor, so a stored measurement of a
    face without one is not judged from the cache: the photo is read again and
    the descriptor added (``checks.photo.lacks_descriptor``)."""
    query = select(SUBSCRIBER.c.id, SUBSCRIBER.c.id_number, SUBSCRIBER.c.id_expires_on).where(
        SUBSCRIBER.c.id > after_subscriber_id
    )
    if last_subscriber_id is None:
        query = query.order_by(SUBSCRIBER.c.id).limit(page_size)
    else:
        query = query.where(SUBSCRIBER.c.id <= last_subscriber_id).order_by(SUBSCRIBER.c.id)
    subs: list[SubRow] = [tuple(r) for r in conn.execute(query).all()]
    if not subs:
        return None
    raw_values = type_coerce(MEASUREMENT.c["values"], String)  # parsed by the judge, not here
    photos: Sequence[Any] = conn.execute(
        select(
            PHOTO.c.id,
            PHOTO.c.subscriber_id,
            PHOTO.c.kind,
            PHOTO.c.uri,
            PHOTO.c.sha256,
            raw_values.label("values"),
            MEASUREMENT.c.descriptor,
        )
        .select_from(
            PHOTO.outerjoin(
                MEASUREMENT,
                and_(
                    MEASUREMENT.c.photo_sha256 == PHOTO.c.sha256, MEASUREMENT.c.extractor_version == EXTRACTOR_VERSION
                ),
            )
        )
        .where(PHOTO.c.subscriber_id >= subs[0][0], PHOTO.c.subscriber_id <= subs[-1][0])
    ).all()
    page = Page(shard_no, subs, photos, {}, {}, [], {})
    pending: dict[int, Any] = {}  # photo id -> row, for photos to read
    for row in photos:
        pid, values, descriptor = row[0], row[5], row[6]
        stale = dlib and values is not None and descriptor is None and lacks_descriptor(_parsed(values))
        if values is not None and not rehash and not stale:
            page.cached[pid] = (values, descriptor)
        else:
            pending[pid] = row
    # Files already read in this run under the same URI: their measurement is stored.
    known = {} if rehash else {pid: recent.get(row.uri) for pid, row in pending.items()}
    hits = _cached_by_sha(conn, [s for s in known.values() if s], current_only=True)
    for pid, sha in known.items():
        if sha and sha in hits and not (dlib and lacks_descriptor(hits[sha][1])):
            values = hits[sha][1]
            page.cached[pid] = (values, descriptor_bytes(values))
            page.recorded[pid] = sha
            del pending[pid]
    # The rest are read; an older measurement of the recorded sha256 lends its still-current parts.
    earlier = _cached_by_sha(conn, [r.sha256 for r in pending.values() if r.sha256], current_only=False)
    for pid, row in pending.items():
        if row.uri in page.by_uri:
            page.by_uri[row.uri].append(pid)
            continue
        page.by_uri[row.uri] = [pid]
        version, values = earlier.get(row.sha256, (None, None)) if row.sha256 else (None, None)
        page.tasks.append(
            PhotoTask(pid, row.uri, cached_sha256=row.sha256, cached_version=version, cached=values, dlib=dlib)
        )
    return page


def measure_page(page: Page, pool: Executor, timeout: float | None, recent: RecentShas) -> None:
    """Measure the page's photos that the cache did not have (in the executor's workers)."""
    task_uri = {t.photo_id: t.uri for t in page.tasks}

    def lost(task: PhotoTask, reason: str) -> PhotoOutcome:
        return PhotoOutcome(task.photo_id, None, None, None, f"could not be measured ({reason}): {task.uri}", 0.0)

    for outcome in pool.run(measure_task, page.tasks, timeout=timeout, on_lost=lost):
        uri = task_uri[outcome.photo_id]
        for pid in page.by_uri[uri]:
            page.outcomes[pid] = outcome
        if outcome.measurement is not None and outcome.sha256 is not None:
            recent.put(uri, outcome.sha256)


def judge_rows(page: Page) -> list[PhotoRow]:
    rows: list[PhotoRow] = []
    cached, outcomes = page.cached, page.outcomes
    for pid, sub_id, kind, *_rest in page.photos:
        hit = cached.get(pid)
        if hit is not None:
            rows.append((sub_id, kind, hit[0], hit[1], None))
        else:
            o = outcomes[pid]
            m = o.measurement
            rows.append((sub_id, kind, m, descriptor_bytes(m) if m else None, o.error))
    return rows


def write_page(
    conn: Connection,
    run_id: int,
    shard: ShardInfo,
    judged: JudgedPage,
    seconds: float,
    page: Page | None = None,
) -> ShardResult:
    """Findings, new measurements and photos' sha256 (of ``page``, when it was
    read and measured here) and the shard row, in the caller's transaction."""
    now = utcnow()
    new_measurements: list[dict[str, Any]] = []
    photo_updates: list[dict[str, Any]] = []
    seen: set[int] = set()
    measured = 0
    recorded, outcomes = (page.recorded, page.outcomes) if page is not None else ({}, {})
    for pid, sha in recorded.items():
        photo_updates.append({"pid": pid, "sha256": sha, "size": None, "at": now})
    added_descriptors: list[dict[str, Any]] = []
    for pid, outcome in outcomes.items():
        if outcome.sha256 is not None:
            photo_updates.append({"pid": pid, "sha256": outcome.sha256, "size": outcome.size_bytes, "at": now})
        if outcome.measurement is None or outcome.sha256 is None or outcome.reused_all or id(outcome) in seen:
            continue
        seen.add(id(outcome))
        measured += 1
        if outcome.added_descriptor:
            added_descriptors.append(
                {
                    "sha": outcome.sha256,
                    "version": outcome.extractor_version,
                    "descriptor": descriptor_bytes(outcome.measurement),
                }
            )
            continue
        new_measurements.append(
            {
                "photo_sha256": outcome.sha256,
                "extractor_version": outcome.extractor_version,
                "values": {k: v for k, v in outcome.measurement.items() if k != "descriptor"},
                "descriptor": descriptor_bytes(outcome.measurement),
                "created_at": now,
            }
        )
    _insert_ignoring_duplicates(conn, MEASUREMENT, new_measurements)
    if added_descriptors:
        conn.execute(
            update(MEASUREMENT)
            .where(
                MEASUREMENT.c.photo_sha256 == bindparam("sha"),
                MEASUREMENT.c.extractor_version == bindparam("version"),
                MEASUREMENT.c.descriptor.is_(None),
            )
            .values(descriptor=bindparam("descriptor")),
            added_descriptors,
        )
    if photo_updates:
        conn.execute(
            update(PHOTO)
            .where(PHOTO.c.id == bindparam("pid"))
            .values(sha256=bindparam("sha256"), size_bytes=bindparam("size"), scanned_at=bindparam("at")),
            photo_updates,
        )
    _insert_findings(conn, run_id, judged, now)
    result = ShardResult(
        last_subscriber_id=shard.last_id,
        subscribers=shard.subscribers,
        photos=shard.photos,
        measured=measured,
        from_cache=shard.from_cache,
        unreadable=judged.unreadable,
        failures=judged.failures,
        verdicts=judged.verdicts,
        reasons=judged.reasons,
    )
    conn.execute(
        insert(SCAN_SHARD),
        [
            {
                "run_id": run_id,
                "shard_no": shard.shard_no,
                "first_subscriber_id": shard.first_id,
                "last_subscriber_id": shard.last_id,
                "subscribers": result.subscribers,
                "photos": result.photos,
                "measured": result.measured,
                "from_cache": result.from_cache,
                "unreadable": result.unreadable,
                "verdicts": dict(result.verdicts),
                "reasons": dict(result.reasons),
                "seconds": round(seconds, 4),
                "finished_at": now,
                "findings_digest": shard_digest(judged.findings, judged.policy_version, judged.preview),
            }
        ],
    )
    return result


_FINDING_COLUMNS = (
    "run_id",
    "subscriber_id",
    "verdict",
    "reasons",
    "evidence",
    "distances",
    "policy_version",
    "preview",
    "created_at",
)


def _insert_findings(conn: Connection, run_id: int, judged: JudgedPage, now: dt.datetime) -> None:
    """Straight through the driver: SQLAlchemy's per-row parameter processing
    costs as much as the insert itself when a million findings are written.
    The JSON columns arrive serialised; on SQLite ``created_at`` is written in
    SQLAlchemy's own SQLite format."""
    names = ", ".join(_FINDING_COLUMNS)
    version, preview = judged.policy_version, judged.preview
    if conn.dialect.name == "sqlite":
        stamp: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        flag: Any = int(preview)
        values = ", ".join("?" * len(_FINDING_COLUMNS))
    elif conn.dialect.name == "postgresql":
        stamp, flag = now, preview
        values = "%s, %s, %s, %s::json, %s::json, %s::json, %s, %s, %s"
    else:  # pragma: no cover - other back ends through SQLAlchemy
        columns = ("subscriber_id", "verdict", "reasons", "evidence", "distances")
        rows: list[dict[str, Any]] = [dict(zip(columns, f, strict=True)) for f in judged.findings]
        for row in rows:
            row.update({k: orjson.loads(row[k]) for k in ("reasons", "evidence", "distances")})
        extra = {"run_id": run_id, "policy_version": version, "preview": preview, "created_at": now}
        conn.execute(insert(FINDING), [{**row, **extra} for row in rows])
        return
    conn.exec_driver_sql(
        f"INSERT INTO finding ({names}) VALUES ({values})",
        [(run_id, *f, version, flag, stamp) for f in judged.findings],
    )
