"""The rescan job: judge every subscriber under a policy and write one finding each.

The base is read in keyset-paginated shards (``scanner.scan.shards``), never held
in memory. Each shard is committed with its findings, so a run can be killed
at any moment and continued with ``resume``: finished shards are not redone
and no subscriber gets two findings in one run. A preview run writes findings
marked as preview; it changes no case. The process working on a run holds its
lease (``scanner.scan.lease``): a run is resumed by one process at a time, and
no run starts while another run of the database is under way.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from checks.judge import Verdict, needs_descriptor
from scanner.audit.runs import record_end, record_start
from scanner.models import ScanRun
from scanner.policyfile import LoadedPolicy, load_policy
from scanner.scan.basewide import faces_under_other_ids, numbers_over_limit
from scanner.scan.executors import Executor, default_workers, make_executor
from scanner.scan.judging import JudgedPage, JudgeSettings, judge_page
from scanner.scan.lease import Lease, LeaseHeld, LeaseLost, take_lease
from scanner.scan.readahead import CachedShard, PageReaders, database_url_of
from scanner.scan.sameface import settle_faces
from scanner.scan.shards import (
    Page,
    RecentShas,
    ShardInfo,
    judge_rows,
    measure_page,
    next_page_end,
    read_page,
    write_page,
)
from scanner.tables import PHOTO, SCAN_RUN, SCAN_SHARD, SUBSCRIBER
from scanner.utctime import utcnow

PAGE_SIZE = 1000
PHOTO_TIMEOUT_S = 120.0
# Pages handed to the reading processes may run this far ahead of the last written one.
MAX_PAGES_AHEAD = 4
# Below this many subscribers left, reading processes cost more to start than they save.
JUDGE_POOL_MIN_SUBSCRIBERS = 20_000


class RescanError(RuntimeError):
    """A run that cannot be started or resumed as asked; the message says why."""


@dataclass
class Progress:
    photos_total: int
    subscribers_total: int
    photos_done: int = 0
    subscribers_done: int = 0
    failures: int = 0  # subscribers judged fail so far
    unreadable: int = 0  # photos that could not be read or measured
    measured: int = 0  # photos decoded and measured in this process
    from_cache: int = 0  # photos judged from stored measurements
    started: float = 0.0  # time.monotonic() when this process started on the run
    photos_at_start: int = 0  # photos_done when this process started (resumed runs)

    def rate(self) -> float | None:
        """Photos per second in this process."""
        elapsed = time.monotonic() - self.started
        done = self.photos_done - self.photos_at_start
        return done / elapsed if elapsed > 0 and done > 0 else None

    def eta_seconds(self) -> float | None:
        rate = self.rate()
        return max(0.0, (self.photos_total - self.photos_done) / rate) if rate else None


ProgressCallback = Callable[[Progress], None]


def _counts(engine: Engine, run_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        subscribers = conn.execute(select(func.count()).select_from(SUBSCRIBER)).scalar_one()
        photos = conn.execute(select(func.count()).select_from(PHOTO)).scalar_one()
    return int(subscribers), int(photos)


def _shard_totals(engine: Engine, run_id: int) -> tuple[int, int, dict[str, Any]]:
    """(next shard number, last subscriber id done, summed counts) of a run's committed shards."""
    sums: Counter[Any] = Counter()
    verdicts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    next_no, last_id = 0, 0
    with engine.connect() as conn:
        rows = conn.execute(select(SCAN_SHARD).where(SCAN_SHARD.c.run_id == run_id).order_by(SCAN_SHARD.c.shard_no))
        for row in rows:
            next_no, last_id = row.shard_no + 1, max(last_id, row.last_subscriber_id)
            for key in ("subscribers", "photos", "measured", "from_cache", "unreadable"):
                sums[key] += getattr(row, key)
            sums["shards"] += 1
            sums["seconds"] += row.seconds
            verdicts.update(row.verdicts)
            reasons.update(row.reasons)
    return next_no, last_id, {"sums": sums, "verdicts": verdicts, "reasons": reasons}


def _totals(engine: Engine, run: ScanRun) -> dict[str, Any]:
    assert run.id is not None
    _, _, t = _shard_totals(engine, run.id)
    sums, elapsed = t["sums"], (run.finished_at or utcnow()) - run.started_at
    wall = float(sums["seconds"])  # time spent on shards, without the time a killed run lay idle
    return {
        "subscribers": sums["subscribers"],
        "photos": sums["photos"],
        "measured_photos": sums["measured"],
        "cached_photos": sums["from_cache"],
        "unreadable_photos": sums["unreadable"],
        "shards": sums["shards"],
        "verdicts": {v.value: t["verdicts"].get(v.value, 0) for v in Verdict},
        "reasons": dict(sorted(t["reasons"].items())),
        "wall_seconds": round(wall, 3),
        "elapsed_seconds": round(elapsed.total_seconds(), 3),
        "photos_per_second": round(sums["photos"] / wall, 3) if wall > 0 else None,
        "resumes": (run.totals or {}).get("resumes", 0),
    }


def start_run(
    engine: Engine, loaded: LoadedPolicy, as_of: dt.date, mode: str = "enforce", options: dict[str, Any] | None = None
) -> tuple[ScanRun, Lease]:
    """A new run, with this process holding its lease (``RescanError`` while another run holds a live one)."""

    def create(conn: Connection, lease: dict[str, Any]) -> int:
        run = ScanRun(
            policy_name=loaded.policy.name,
            policy_version=loaded.policy.version,
            policy_sha256=loaded.sha256,
            policy_path=loaded.path,
            mode=mode,
            as_of=as_of,
            options=options or {},
            **lease,
        )
        key = conn.execute(insert(SCAN_RUN).values(**run.model_dump(exclude={"id"}))).inserted_primary_key
        assert key is not None
        run.id = int(key[0])
        record_start(conn, run, run.started_at)
        return run.id

    try:
        lease = take_lease(engine, None, create=create)
    except LeaseHeld as exc:
        raise RescanError(str(exc)) from None
    return _load(engine, lease.run_id), lease


def _load(engine: Engine, run_id: int) -> ScanRun:
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(ScanRun, run_id)
    if run is None:
        raise RescanError(f"no scan run with id {run_id}")
    return run


def _resume_lease(engine: Engine, run_id: int) -> tuple[ScanRun, Lease]:
    """Run ``run_id`` as it is once this process holds its lease (``RescanError`` while a live process
    holds it, or another run's)."""
    try:
        lease = take_lease(engine, run_id)
    except LeaseHeld as exc:
        raise RescanError(str(exc)) from None
    run = _load(engine, run_id)
    if run.status == "finished":  # it finished while the lease was being taken
        lease.release()
        raise RescanError(f"run {run_id} is already finished")
    return run, lease


def _policy_for_resume(run: ScanRun, loaded: LoadedPolicy | None) -> LoadedPolicy:
    if loaded is None:
        try:
            loaded = load_policy(run.policy_path or None)
        except Exception as exc:
            raise RescanError(f"run {run.id}: its policy file {run.policy_path!r} cannot be loaded: {exc}") from exc
    if loaded.sha256 != run.policy_sha256:
        raise RescanError(
            f"run {run.id} was started with policy sha256 {run.policy_sha256[:12]}, "
            f"but {loaded.path} now has sha256 {loaded.sha256[:12]}: a resumed run must judge by the same policy "
            "(restore the file, or start a new run)"
        )
    return loaded


def rescan(
    engine: Engine,
    loaded: LoadedPolicy | None = None,
    *,
    as_of: dt.date | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    executor: Executor | None = None,
    preview: bool = False,
    resume: int | None = None,
    rehash: bool = False,
    photo_timeout: float | None = PHOTO_TIMEOUT_S,
    judge_processes: int | None = None,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[ScanRun, Progress], None] | None = None,
    page_size: int = PAGE_SIZE,
    on_note: Callable[[str], None] | None = None,
) -> ScanRun:
    """Judge every subscriber (or, with ``resume``, those a killed run had not reached); return the finished run."""
    if resume is not None:
        if _load(engine, resume).status == "finished":
            raise RescanError(f"run {resume} is already finished")
        run, lease = _resume_lease(engine, resume)
        try:
            loaded = _policy_for_resume(run, loaded)
        except BaseException:
            lease.release()
            raise
        options = dict(run.options or {})
        page_size = int(options.get("page_size", page_size))
        rehash = bool(options.get("rehash", rehash))
    else:
        if loaded is None:
            loaded = load_policy()
        options = {"page_size": page_size, "rehash": rehash, "workers": workers, "cluster": cluster}
        run, lease = start_run(engine, loaded, as_of or dt.date.today(), "preview" if preview else "enforce", options)
    try:
        lease.keep_alive()
        return _run(
            engine,
            run,
            lease,
            loaded,
            resumed=resume is not None,
            workers=workers,
            cluster=cluster,
            executor=executor,
            rehash=rehash,
            photo_timeout=photo_timeout,
            judge_processes=judge_processes,
            on_progress=on_progress,
            on_start=on_start,
            page_size=page_size,
            note=on_note,
        )
    except LeaseLost as exc:
        raise RescanError(str(exc)) from None
    finally:
        lease.release()


def _run(
    engine: Engine,
    run: ScanRun,
    lease: Lease,
    loaded: LoadedPolicy,
    *,
    resumed: bool,
    workers: int | None,
    cluster: str | None,
    executor: Executor | None,
    rehash: bool,
    photo_timeout: float | None,
    judge_processes: int | None,
    on_progress: ProgressCallback | None,
    on_start: Callable[[ScanRun, Progress], None] | None,
    page_size: int,
    note: Callable[[str], None] | None = None,
) -> ScanRun:
    """The run's shards, from the first one not committed, by this process holding the run's lease."""
    assert run.id is not None
    policy = loaded.policy
    with engine.connect() as conn:  # the base at the start of this process's part of the run
        over = numbers_over_limit(conn, policy.checks.base.max_numbers_per_id)
    same = faces_under_other_ids(engine, policy, note)
    settings = JudgeSettings(run.id, policy, run.as_of, run.mode == "preview", numbers_on_id=over, same_face=same)
    dlib = needs_descriptor(loaded.policy)
    shard_no, last_id, done = _shard_totals(engine, run.id)
    subscribers_total, photos_total = _counts(engine, run.id)
    sums = done["sums"]
    progress = Progress(
        photos_total=photos_total,
        subscribers_total=subscribers_total,
        photos_done=sums["photos"],
        subscribers_done=sums["subscribers"],
        failures=done["verdicts"].get("fail", 0),
        unreadable=sums["unreadable"],
        started=time.monotonic(),
        photos_at_start=sums["photos"],
    )
    if judge_processes is None:
        left = subscribers_total - progress.subscribers_done
        judge_processes = default_workers() if left >= JUDGE_POOL_MIN_SUBSCRIBERS else 0
    run = _mark(engine, run, lease, status="running", resumed=resumed)
    if on_start:
        on_start(run, progress)
    own_executor = executor is None
    pool = executor or make_executor(workers, cluster)
    url = database_url_of(engine) if judge_processes > 0 and not rehash else None
    readers = PageReaders(url, settings, judge_processes) if url else None
    recent = RecentShas()
    # Pages handed to the readers, oldest first: (shard number, after id, last id, future).
    pending: deque[tuple[int, int, int, Future[CachedShard | None]]] = deque()
    last_commit = time.perf_counter()

    def write(shard: ShardInfo, judged: JudgedPage, page: Page | None = None) -> None:
        nonlocal last_commit
        with engine.begin() as conn:
            lease.renew(conn)  # a run whose lease was taken over writes nothing more
            # A shard's seconds run from the commit before it, so they add up to the run's busy time.
            written = write_page(conn, settings.run_id, shard, judged, time.perf_counter() - last_commit, page)
        last_commit = time.perf_counter()
        progress.subscribers_done += written.subscribers
        progress.photos_done += written.photos
        progress.failures += written.failures
        progress.unreadable += written.unreadable
        progress.measured += written.measured
        progress.from_cache += written.from_cache
        if on_progress:
            on_progress(progress)

    def run_here(shard: int, after_id: int, last_id: int | None = None) -> int | None:
        """Read, measure, judge and write one page in this process; its last subscriber id, None at the end."""
        lease.check()
        with engine.connect() as conn:
            page = read_page(conn, shard, after_id, page_size, rehash, recent, last_subscriber_id=last_id, dlib=dlib)
        if page is None:
            return None
        if page.tasks:
            measure_page(page, pool, photo_timeout, recent)
        write(page.info(), judge_page(settings, page.subs, judge_rows(page)), page)
        return page.last_id

    def commit_first() -> None:
        shard, after_id, last_id, future = pending.popleft()
        cached = future.result()
        if cached is None:  # a photo to measure: every page before it is written, so its cache is complete
            run_here(shard, after_id, last_id)
        else:
            write(cached.info, cached.judged)

    try:
        if readers is None:
            while (end := run_here(shard_no, last_id)) is not None:
                shard_no, last_id = shard_no + 1, end
        else:
            while True:
                with engine.connect() as conn:
                    end = next_page_end(conn, last_id, page_size)
                if end is None:
                    break
                pending.append((shard_no, last_id, end, readers.submit(shard_no, last_id, end)))
                shard_no, last_id = shard_no + 1, end
                while pending and (len(pending) > MAX_PAGES_AHEAD or pending[0][3].done()):
                    commit_first()
            while pending:
                commit_first()
        lease.check()
        settle_faces(engine, settings.run_id, policy, lambda: faces_under_other_ids(engine, policy, note), lease.renew)
        return _mark(engine, run, lease, status="finished")
    except LeaseLost:
        raise  # the run is another process's now: its status is not this one's to set
    except BaseException:
        with suppress(LeaseLost):
            _mark(engine, run, lease, status="interrupted")
        raise
    finally:
        if readers is not None:
            readers.close()
        if own_executor:
            pool.close()


def _mark(engine: Engine, run: ScanRun, lease: Lease, status: str, resumed: bool = False) -> ScanRun:
    """Record the run's status (and a resume); a finished or interrupted run gives its lease back in the
    same transaction."""
    if status != "running":
        lease.stop_heartbeat()
    with Session(engine, expire_on_commit=False) as session:
        lease.renew(session.connection())
        if status != "running":
            lease.give_back(session.connection())
        row = session.get(ScanRun, run.id)
        assert row is not None
        totals = dict(row.totals or {})
        if resumed:
            totals["resumes"] = totals.get("resumes", 0) + 1
        row.totals = totals
        row.status = status
        if status != "running":
            row.finished_at = utcnow()
            row.totals = {**totals, **_totals(engine, row)}
        session.add(row)
        session.flush()
        if resumed:
            record_start(session.connection(), row, utcnow(), resumed=True)
        if status != "running":
            assert row.id is not None and row.finished_at is not None
            record_end(session.connection(), row.id, status, row.finished_at)
        session.commit()
        session.refresh(row)
        return row
