"""The lease on a scan run: free, live, stale after the TTL, dead when its process on this host has
ended; taken by one of many racing rescans; renewed by the heartbeat; lost and refused as the user
sees it, in this process and from the command line."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from checks.idcard import check_character
from scanner import db
from scanner.importer import import_file
from scanner.models import ScanRun
from scanner.policyfile import load_policy
from scanner.scan.lease import (
    LEASE_TTL,
    Holder,
    LeaseHeld,
    LeaseLost,
    LeaseState,
    LeaseStatus,
    running_here,
    take_lease,
    this_process,
)
from scanner.scan.rescan import Progress, RescanError, rescan
from scanner.tables import FINDING, SCAN_RUN, SCAN_SHARD

TODAY = dt.date(2026, 11, 22)
T0 = dt.datetime(2026, 11, 22, 3, 0, 5, tzinfo=dt.UTC)
HERE = socket.gethostname()
HEADER = "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _ended_pid() -> int:
    """The pid of a process of this host that has ended (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _state(holder: Holder | None, heartbeat: dt.datetime | None = T0) -> LeaseState:
    return LeaseState(1, "enforce", holder.name if holder else None, holder.started if holder else None, T0, heartbeat)


def test_a_lease_is_free_live_stale_after_the_ttl_or_dead_with_its_process() -> None:
    me, now = this_process(), T0 + dt.timedelta(seconds=10)
    elsewhere = Holder("scan-2", 4242, 1.0)  # another host: only its heartbeat tells
    assert _state(None).status(now) is LeaseStatus.FREE
    assert _state(me).status(now) is LeaseStatus.LIVE
    assert _state(elsewhere).status(now) is LeaseStatus.LIVE
    assert _state(elsewhere).status(T0 + LEASE_TTL) is LeaseStatus.LIVE
    assert _state(elsewhere).status(T0 + LEASE_TTL + dt.timedelta(seconds=1)) is LeaseStatus.STALE
    assert _state(me).status(T0 + LEASE_TTL + dt.timedelta(seconds=1)) is LeaseStatus.STALE  # alive but silent
    assert _state(elsewhere, heartbeat=None).status(now) is LeaseStatus.STALE
    ended = Holder(HERE, _ended_pid(), me.started)
    assert _state(ended).status(now) is LeaseStatus.DEAD
    reused = Holder(HERE, me.pid, me.started - 3600)  # this pid, but not the process that took the lease
    assert _state(reused).status(now) is LeaseStatus.DEAD
    # The host is compared by name: the same pid on another host is not looked up here.
    assert _state(Holder("scan-2", me.pid, me.started - 3600)).status(now) is LeaseStatus.LIVE


def test_a_process_is_running_until_it_ends_even_before_its_parent_reaps_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        started = psutil.Process(proc.pid).create_time()
        assert running_here(proc.pid, started)
        assert not running_here(proc.pid, started + 5)  # a reused pid starts later
        assert proc.stdin is not None
        proc.stdin.close()
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not running_here(proc.pid, started)  # a zombie: ended, not yet waited for
    finally:
        proc.wait()
    assert not running_here(proc.pid, started)


def _new_run(mode: str = "enforce") -> Any:
    def create(conn: Connection, lease: dict[str, Any]) -> int:
        run = ScanRun(policy_name="p", policy_version="1", policy_sha256="0" * 64, mode=mode, as_of=TODAY, **lease)
        key = conn.execute(insert(SCAN_RUN).values(**run.model_dump(exclude={"id"}))).inserted_primary_key
        assert key is not None
        return int(key[0])

    return create


def _runs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(SCAN_RUN)).scalar_one())


def _holder_of(engine: Engine, run_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(SCAN_RUN.c.lease_holder).where(SCAN_RUN.c.id == run_id)).scalar_one()


def test_taking_renewing_and_giving_back_a_lease(any_url: str) -> None:
    engine = db.open_engine(any_url)
    clock = Clock()
    a, b = Holder("scan-1", 101, 1000.0), Holder("scan-2", 202, 2000.0)
    held = take_lease(engine, None, create=_new_run(), holder=a, clock=clock)
    run = held.run_id
    assert _holder_of(engine, run) == "scan-1:101"

    clock.tick(3)
    with pytest.raises(LeaseHeld) as refused:
        take_lease(engine, run, holder=b, clock=clock)
    message = str(refused.value)
    assert f"run {run} is being scanned by process 101 on host scan-1" in message
    assert "since 2026-11-22 03:00:05 UTC (last heartbeat 3 s ago)" in message
    with pytest.raises(LeaseHeld) as second:
        take_lease(engine, None, create=_new_run("preview"), holder=b, clock=clock)
    message = str(second.value)
    assert f"run {run} (enforce) is being scanned by process 101 on host scan-1 since" in message
    assert "would measure every photo again" in message and f"--resume {run}" in message
    assert _runs(engine) == 1  # the refused rescan created nothing
    with engine.begin() as conn:  # a run left without a lease (killed before this version, say)
        idle = _new_run()(conn, {})
    with pytest.raises(
        LeaseHeld, match=f"cannot resume run {idle}: run {run} \\(enforce\\) is being scanned by process 101"
    ):
        take_lease(engine, idle, holder=b, clock=clock)
    with engine.begin() as conn:
        conn.execute(SCAN_RUN.delete().where(SCAN_RUN.c.id == idle))

    clock.tick(30)
    with engine.begin() as conn:
        held.renew(conn)
    clock.tick(59)  # 59 s after the heartbeat: still live
    with pytest.raises(LeaseHeld, match="last heartbeat 59 s ago"):
        take_lease(engine, run, holder=b, clock=clock)
    clock.tick(2)  # 61 s: stale, taken over
    taken = take_lease(engine, run, holder=b, clock=clock)
    assert _holder_of(engine, run) == "scan-2:202"
    with pytest.raises(LeaseLost, match="taken over by process 202 on host scan-2"), engine.begin() as conn:
        held.renew(conn)
    with pytest.raises(LeaseLost):
        held.check()
    held.release()  # no longer its lease: gives nothing back
    assert _holder_of(engine, run) == "scan-2:202"

    taken.release()
    assert _holder_of(engine, run) is None
    again = take_lease(engine, run, holder=a, clock=clock)  # free: taken at once
    again.release()


def test_a_lease_whose_process_ended_on_this_host_is_taken_over_at_once(any_url: str) -> None:
    engine = db.open_engine(any_url)
    clock, other = Clock(), Holder("scan-2", 202, 2000.0)
    me = this_process()
    for dead in (Holder(HERE, _ended_pid(), me.started), Holder(HERE, me.pid, me.started - 3600)):
        lease = take_lease(engine, None, create=_new_run(), holder=dead, clock=clock)
        clock.tick(1)
        take_lease(engine, lease.run_id, holder=other, clock=clock).release()  # no waiting for the TTL
    alive = take_lease(engine, None, create=_new_run(), holder=me, clock=clock)
    with pytest.raises(LeaseHeld, match=f"process {me.pid} on host {HERE}"):
        take_lease(engine, alive.run_id, holder=other, clock=clock)
    alive.release()


def test_of_rescans_started_at_the_same_moment_one_runs(any_url: str) -> None:
    engine = db.open_engine(any_url)
    racers = 6
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []

    def start(i: int) -> None:
        barrier.wait()
        try:
            take_lease(engine, None, create=_new_run(), holder=Holder(f"scan-{i}", i, float(i)))
            outcomes.append("ran")
        except LeaseHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ran"] + ["refused"] * (racers - 1)
    assert _runs(engine) == 1


def test_the_heartbeat_thread_renews_the_lease_and_notices_a_takeover(sqlite_url: str) -> None:
    engine = db.open_engine(sqlite_url)
    clock = Clock()
    lease = take_lease(engine, None, create=_new_run(), holder=Holder("scan-1", 101, 1.0), clock=clock)

    def heartbeat() -> dt.datetime | None:
        with engine.connect() as conn:
            return conn.execute(select(SCAN_RUN.c.heartbeat_at).where(SCAN_RUN.c.id == lease.run_id)).scalar_one()

    def wait_for(condition: Any) -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert condition()

    lease.keep_alive(every_s=0.02)
    try:
        clock.tick(40)
        wait_for(lambda: heartbeat() == clock.now)
        with engine.begin() as conn:
            conn.execute(update(SCAN_RUN).values(lease_holder="scan-2:202", lease_process_started=2.0))
        wait_for(lambda: lease.lost is not None)
        with pytest.raises(LeaseLost, match="process 202 on host scan-2"):
            lease.check()
    finally:
        lease.release()
    assert _holder_of(engine, lease.run_id) == "scan-2:202"


def _base(folder: Path, subscribers: int) -> Path:
    """Subscribers without photos: each is judged NO_PHOTO at once, nothing is measured."""
    rows = [HEADER]
    for i in range(subscribers):
        body = f"420102{1960 + i % 40}0{1 + i % 9}1{i % 10}{i % 1000:03d}"
        rows.append(f"L{i:04d},139{i:08d},测试,{body + check_character(body)},长期,2015-03-02,consumer,,,")
    csv = folder / "base.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return csv


def test_a_run_whose_lease_is_taken_over_stops_before_writing(tmp_path: Path) -> None:
    engine = db.open_engine(f"sqlite:///{tmp_path / 'realname.db'}")
    assert import_file(engine, _base(tmp_path, 9), today=TODAY).committed
    started: list[int] = []

    def take_over(_progress: Progress) -> None:  # after the first shard, another host takes the run over
        with engine.begin() as conn:
            conn.execute(
                update(SCAN_RUN).values(
                    lease_holder="scan-2:202", lease_process_started=2.0, heartbeat_at=dt.datetime.now(dt.UTC)
                )
            )

    with pytest.raises(RescanError) as lost:
        rescan(
            engine,
            load_policy(),
            as_of=TODAY,
            workers=1,
            page_size=3,
            on_start=lambda run, _p: started.append(run.id),
            on_progress=take_over,
        )
    (run_id,) = started
    assert "lost its lease" in str(lost.value) and "process 202 on host scan-2" in str(lost.value)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SCAN_SHARD)).scalar_one() == 1
        row = conn.execute(select(SCAN_RUN.c.status, SCAN_RUN.c.lease_holder)).one()
    assert tuple(row) == ("running", "scan-2:202")  # left to its new holder, untouched

    with pytest.raises(RescanError, match=f"run {run_id} is being scanned by process 202 on host scan-2"):
        rescan(engine, resume=run_id)
    with pytest.raises(RescanError, match=f"run {run_id} \\(enforce\\) is being scanned by process 202"):
        rescan(engine, load_policy(), as_of=TODAY, preview=True)
    with engine.begin() as conn:  # its heartbeat stops: after the TTL the run is free again
        old = dt.datetime.now(dt.UTC) - LEASE_TTL - dt.timedelta(seconds=1)
        conn.execute(update(SCAN_RUN).values(heartbeat_at=old))
    run = rescan(engine, resume=run_id, workers=1)
    assert run.status == "finished" and run.totals["subscribers"] == 9 and run.totals["resumes"] == 1
    assert run.lease_holder is None and _holder_of(engine, run_id) is None  # given back as it finished
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FINDING)).scalar_one() == 9


# --- the command line ----------------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-P", "-c", "from scanner.cli.app import main; main()", *args]


def _face_files(faces: Path, n: int) -> list[Path]:
    files = sorted((faces / "identities").glob("*/*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


@pytest.mark.faces
def test_a_live_run_refuses_a_resume_and_a_second_rescan_until_it_is_killed(tmp_path: Path, faces_dir: Path) -> None:
    photos = _face_files(faces_dir, 4)
    # The first subscriber's live photo is a named pipe: reading it waits for a writer that never
    # comes, so the first run stays at work until it is killed.
    stuck = tmp_path / "stuck.jpg"
    os.mkfifo(stuck)
    rows = [HEADER]
    for i in range(6):
        body = f"420102{1970 + i}0{1 + i}1{i}{i:03d}"
        live = stuck if i == 0 else photos[(i + 1) % len(photos)]
        rows.append(
            f"F{i},139{i:08d},测试,{body + check_character(body)},长期,2015-03-02,consumer,{photos[i % 4]},{live},"
        )
    (tmp_path / "base.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'realname.db'}"
    engine = db.open_engine(url)
    assert import_file(
        engine, tmp_path / "base.csv", today=TODAY, photo_roots=[str(faces_dir), str(tmp_path)]
    ).committed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    common = ["--database", url, "--workers", "1"]
    # Its own session, so that kill -9 reaches its worker too (blocked on the pipe, it would outlive it).
    first = subprocess.Popen(
        _cli("rescan", *common, "--page-size", "2", "--as-of", TODAY.isoformat(), "--quiet"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            with engine.connect() as conn:
                row = conn.execute(select(SCAN_RUN.c.id, SCAN_RUN.c.lease_holder)).first()
            if row is not None and row.lease_holder:
                break
            time.sleep(0.05)
        assert first.poll() is None and row is not None, "the first rescan did not record its start"
        run_id = row.id
        assert row.lease_holder == f"{HERE}:{first.pid}"

        attempts = {
            "resume": subprocess.Popen(
                _cli("rescan", *common, "--resume", str(run_id)),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
            "second": subprocess.Popen(
                _cli("rescan", *common, "--preview"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ),
        }
        errors = {}
        for name, proc in attempts.items():
            _out, err = proc.communicate(timeout=60)
            errors[name] = err.decode()
            assert proc.returncode != 0, (name, errors[name])
            assert "Traceback" not in errors[name]
            assert len(errors[name].strip().splitlines()) == 1, errors[name]
            assert (
                f"process {first.pid} on host {HERE} since " in errors[name] and " UTC (last heartbeat " in errors[name]
            )
        assert errors["resume"].startswith(f"error: run {run_id} is being scanned by process {first.pid}")
        assert errors["second"].startswith(f"error: cannot start a rescan: run {run_id} (enforce) is being scanned")
        assert "would measure every photo again" in errors["second"]
        assert first.poll() is None  # the refusals did not disturb it
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SCAN_RUN)).scalar_one() == 1
        assert conn.execute(select(SCAN_RUN.c.lease_holder)).scalar_one() == f"{HERE}:{first.pid}"  # killed holding it

    stuck.unlink()
    shutil.copyfile(photos[1], stuck)
    resumed = subprocess.run(
        _cli("rescan", *common, "--resume", str(run_id), "--quiet"), env=env, capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    with engine.connect() as conn:
        status, holder, totals = conn.execute(
            select(SCAN_RUN.c.status, SCAN_RUN.c.lease_holder, SCAN_RUN.c.totals)
        ).one()
        findings = conn.execute(select(func.count()).select_from(FINDING)).scalar_one()
    assert (status, holder, totals["resumes"], totals["subscribers"], findings) == ("finished", None, 1, 6, 6)
