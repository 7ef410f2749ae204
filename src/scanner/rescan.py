"""The rescan job: judge every subscriber under a policy and write one finding each.

Subscribers are read in keyset-paginated pages (never the whole base at once).
For each page, photos are measured by the executor, measurements are stored
(keyed by photo sha256 and extractor version), and the page's findings are
written in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from checks.idcard import measure_id_number
from checks.judge import PhotoInput, SubjectInput, Verdict, judge
from checks.photo import PhotoMeasurement
from scanner.executors import Executor, make_executor
from scanner.measuretask import PhotoOutcome, PhotoTask, measure_task
from scanner.models import Finding, Measurement, Photo, ScanRun, Subscriber, utcnow
from scanner.policyfile import LoadedPolicy

PAGE_SIZE = 200


@dataclass
class Progress:
    photos_total: int
    subscribers_total: int
    photos_done: int = 0
    subscribers_done: int = 0
    failures: int = 0  # subscribers judged fail so far
    unreadable: int = 0  # photos that could not be read or measured
    photo_seconds: float = 0.0  # summed worker time


ProgressCallback = Callable[[Progress], None]


@dataclass
class _Totals:
    verdicts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self, progress: Progress, wall_seconds: float) -> dict[str, Any]:
        return {
            "subscribers": progress.subscribers_done,
            "photos": progress.photos_done,
            "unreadable_photos": progress.unreadable,
            "verdicts": {v.value: self.verdicts.get(v.value, 0) for v in Verdict},
            "reasons": dict(sorted(self.reasons.items())),
            "wall_seconds": round(wall_seconds, 3),
            "photos_per_second": round(progress.photos_done / wall_seconds, 3) if wall_seconds > 0 else None,
        }


def _pages(session: Session, page_size: int) -> Iterator[list[Subscriber]]:
    last_id = 0
    while True:
        page = list(
            session.exec(
                select(Subscriber).where(col(Subscriber.id) > last_id).order_by(col(Subscriber.id)).limit(page_size)
            )
        )
        if not page:
            return
        yield page
        last_id = page[-1].id or last_id


def _descriptor_bytes(values: dict[str, Any]) -> bytes | None:
    descriptor = values.get("descriptor")
    return None if descriptor is None else np.asarray(descriptor, dtype=np.float64).tobytes()


def _store_measurement(session: Session, outcome: PhotoOutcome, known: set[tuple[str, str]]) -> None:
    if outcome.measurement is None or outcome.sha256 is None:
        return
    key = (outcome.sha256, outcome.extractor_version)
    if key in known:
        return
    exists = session.exec(
        select(Measurement.id).where(
            Measurement.photo_sha256 == outcome.sha256, Measurement.extractor_version == outcome.extractor_version
        )
    ).first()
    if exists is None:
        values = {k: v for k, v in outcome.measurement.items() if k != "descriptor"}
        session.add(
            Measurement(
                photo_sha256=outcome.sha256,
                extractor_version=outcome.extractor_version,
                values=values,
                descriptor=_descriptor_bytes(outcome.measurement),
            )
        )
    known.add(key)


class _RecentOutcomes:
    """Outcomes of recently measured photo URIs, so a photo file shared by
    several subscribers (one person holding several numbers) is measured once
    per run. Bounded, oldest forgotten first."""

    def __init__(self, limit: int = 20_000) -> None:
        self._items: OrderedDict[str, PhotoOutcome] = OrderedDict()
        self._limit = limit

    def get(self, uri: str) -> PhotoOutcome | None:
        found = self._items.get(uri)
        if found is not None:
            self._items.move_to_end(uri)
        return found

    def put(self, uri: str, outcome: PhotoOutcome) -> None:
        self._items[uri] = outcome
        self._items.move_to_end(uri)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)


def _measure_page(
    photos: list[Photo],
    pool: Executor,
    recent: _RecentOutcomes,
    progress: Progress,
    on_progress: ProgressCallback | None,
) -> dict[int, PhotoOutcome]:
    """Outcome per photo id; each distinct URI is measured at most once."""
    by_uri: dict[str, list[int]] = {}
    for p in photos:
        assert p.id is not None
        by_uri.setdefault(p.uri, []).append(p.id)
    outcomes: dict[int, PhotoOutcome] = {}

    def record(uri: str, outcome: PhotoOutcome) -> None:
        for photo_id in by_uri[uri]:
            outcomes[photo_id] = outcome
            progress.photos_done += 1
            progress.unreadable += outcome.measurement is None
        if on_progress:
            on_progress(progress)

    tasks: dict[int, str] = {}  # first photo id of a URI -> URI
    for uri, ids in by_uri.items():
        known = recent.get(uri)
        if known is not None:
            record(uri, known)
        else:
            tasks[ids[0]] = uri
    for outcome in pool.map(measure_task, [PhotoTask(pid, uri) for pid, uri in tasks.items()]):
        progress.photo_seconds += outcome.seconds
        uri = tasks[outcome.photo_id]
        recent.put(uri, outcome)
        record(uri, outcome)
    return outcomes


def start_run(engine: Engine, loaded: LoadedPolicy, as_of: dt.date, mode: str = "enforce") -> ScanRun:
    with Session(engine, expire_on_commit=False) as session:
        run = ScanRun(
            policy_name=loaded.policy.name,
            policy_version=loaded.policy.version,
            policy_sha256=loaded.sha256,
            policy_path=loaded.path,
            mode=mode,
            as_of=as_of,
        )
        session.add(run)
        session.commit()
        session.refresh(run)
        return run


def rescan(
    engine: Engine,
    loaded: LoadedPolicy,
    *,
    as_of: dt.date | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[ScanRun, Progress], None] | None = None,
    page_size: int = PAGE_SIZE,
) -> ScanRun:
    """Judge every subscriber; return the finished run."""
    as_of = as_of or dt.date.today()
    run = start_run(engine, loaded, as_of)
    assert run.id is not None
    policy = loaded.policy
    own_executor = executor is None
    pool = executor or make_executor(workers)
    started = utcnow()
    totals = _Totals()
    with Session(engine, expire_on_commit=False) as session:
        progress = Progress(
            photos_total=session.exec(select(func.count()).select_from(Photo)).one(),
            subscribers_total=session.exec(select(func.count()).select_from(Subscriber)).one(),
        )
    if on_start:
        on_start(run, progress)
    known: set[tuple[str, str]] = set()
    recent = _RecentOutcomes()
    try:
        with Session(engine, expire_on_commit=False) as session:
            for page in _pages(session, page_size):
                ids = [s.id for s in page]
                photos = list(session.exec(select(Photo).where(col(Photo.subscriber_id).in_(ids))))
                by_sub: dict[int, dict[str, Photo]] = {}
                for p in photos:
                    by_sub.setdefault(p.subscriber_id, {})[p.kind] = p
                outcomes = _measure_page(photos, pool, recent, progress, on_progress)
                now = utcnow()
                for sub in page:
                    assert sub.id is not None
                    inputs: dict[str, PhotoInput] = {}
                    for kind, photo in by_sub.get(sub.id, {}).items():
                        outcome = outcomes[photo.id]  # type: ignore[index]
                        photo.sha256, photo.size_bytes, photo.scanned_at = outcome.sha256, outcome.size_bytes, now
                        session.add(photo)
                        _store_measurement(session, outcome, known)
                        m = PhotoMeasurement.from_dict(outcome.measurement) if outcome.measurement else None
                        inputs[kind] = PhotoInput(kind=kind, measurement=m, error=outcome.error)
                    subject = SubjectInput(
                        id_number=measure_id_number(sub.id_number, as_of),
                        id_expires_on=sub.id_expires_on,
                        photos=inputs,
                    )
                    result = judge(subject, policy, as_of)
                    session.add(
                        Finding(
                            run_id=run.id,
                            subscriber_id=sub.id,
                            verdict=result.verdict.value,
                            reasons=result.codes,
                            evidence=[r.to_dict() for r in result.reasons],
                            distances=dict(result.distances),
                            policy_version=policy.version,
                        )
                    )
                    totals.verdicts[result.verdict.value] += 1
                    totals.reasons.update(result.codes)
                    progress.subscribers_done += 1
                    progress.failures += result.verdict is Verdict.FAIL
                session.commit()
                if on_progress:
                    on_progress(progress)
            run = session.get(ScanRun, run.id) or run
            run.status = "finished"
            run.finished_at = utcnow()
            run.totals = totals.as_dict(progress, (run.finished_at - started).total_seconds())
            session.add(run)
            session.commit()
            session.refresh(run)
            return run
    except BaseException:
        with Session(engine) as session:
            failed = session.get(ScanRun, run.id)
            if failed is not None:
                failed.status = "failed"
                failed.finished_at = utcnow()
                session.add(failed)
                session.commit()
        raise
    finally:
        if own_executor:
            pool.close()
