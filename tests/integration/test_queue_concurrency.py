"""The notice queue under concurrency: consumer processes on SQLite and PostgreSQL.

Each consumer (``bench/queue_load.py``, run with ``spawn``) appends every id it was handed to
``<name>.claims`` and every id it acknowledged successfully to ``<name>.acks``; its gateway message
ids are ``<name>-<notice id>``. A notice handed to two consumers at once would be acknowledged by
both, or carry one consumer's gateway id while listed in another's file: the checks below see both.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import Engine

from notices.queue import StaleClaim
from scanner.db import engine_for
from scanner.enforce.queue import SqlNoticeQueue
from scanner.tables import NOTICE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from queue_load import (
    always_open_enforcement,
    consume,
    id_lines,
    outcome,
    remaining,
    results,
    seed,
    start_consumer,
)

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])


def _url(request: pytest.FixtureRequest, backend: str) -> str:
    return str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))


@contextmanager
def fleet() -> Iterator[dict[str, BaseProcess]]:
    """Consumer processes by name; any still alive at the end are killed (before the schema is dropped)."""
    procs: dict[str, BaseProcess] = {}
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.kill()
            proc.join(10)


def _wait(what: str, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


def _join(procs: dict[str, BaseProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        proc.join(max(0.1, deadline - time.monotonic()))
    assert not [name for name, p in procs.items() if p.is_alive()], "consumers still running"


@pytest.mark.slow
@BACKENDS
def test_eight_consumers_submit_20000_notices_exactly_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = _url(request, backend)
    n = 20_000
    assert seed(url, n) == n
    with fleet() as procs:
        for k in range(1, 9):
            procs[f"c{k}"] = start_consumer(url, f"c{k}", tmp_path, batch=50, lease=30)
        _join(procs, 240)
        assert {name: p.exitcode for name, p in procs.items()} == {name: 0 for name in procs}

    found = outcome(url, tmp_path)
    assert found.problems(n) == []
    assert len(found.rows) == n
    assert found.statuses == {"submitted": n}
    # Every notice acknowledged successfully exactly once, and by the consumer whose gateway id it carries.
    assert set(found.ack_counts) == set(found.rows) and set(found.ack_counts.values()) == {1}
    for consumer, ids in found.acks.items():
        assert all(found.rows[i]["gateway_message_id"] == f"{consumer}-{i}" for i in ids), consumer
    gateway = [r["gateway_message_id"] for r in found.rows.values()]
    assert len(set(gateway)) == n
    # No lease expired (30 s against well under a second per batch), so no notice was handed out twice.
    handed = [i for ids in found.claims.values() for i in ids]
    assert len(handed) == len(set(handed)) == n
    assert {r["attempts"] for r in found.rows.values()} == {1}
    done = results(tmp_path)
    assert len(done) == 8
    assert sum(r.acked for r in done) == n and sum(r.rejected for r in done) == 0
    assert sum(1 for r in done if r.acked) >= 2  # the work was shared, not done by one consumer


@pytest.mark.slow
@BACKENDS
def test_consumers_killed_mid_lease_lose_nothing(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = _url(request, backend)
    n, lease = 2_000, 2
    assert seed(url, n) == n
    stallers = ("stall1", "stall2")
    with fleet() as procs:
        # Two consumers claim 50 notices each, acknowledge 10 and hold the other 40 until killed -9.
        for name in stallers:
            procs[name] = start_consumer(url, name, tmp_path, batch=50, lease=lease, stall_after_acks=10)
        _wait(
            "the stalling consumers to hold their claims",
            lambda: all((tmp_path / f"{s}.held").exists() or not procs[s].is_alive() for s in stallers),
            90,
        )
        for name in stallers:
            assert procs[name].is_alive(), f"{name} exited with {procs[name].exitcode}"
            procs[name].kill()
            procs[name].join()
        # A fresh consumer, killed -9 in the middle of its work (after 100 acknowledgements), then three more.
        procs["w1"] = start_consumer(url, "w1", tmp_path, batch=20, lease=lease)
        _wait(
            "w1 to acknowledge 100 notices",
            lambda: len(id_lines(tmp_path / "w1.acks")) >= 100 or not procs["w1"].is_alive(),
            90,
        )
        assert procs["w1"].is_alive(), f"w1 exited with {procs['w1'].exitcode}"
        procs["w1"].kill()
        procs["w1"].join()
        for name in ("w2", "w3", "w4"):
            procs[name] = start_consumer(url, name, tmp_path, batch=20, lease=lease)
        _join(procs, 120)
        killed = {*stallers, "w1"}
        assert {name: p.exitcode for name, p in procs.items() if name not in killed} == dict.fromkeys(
            ("w2", "w3", "w4"), 0
        )

    found = outcome(url, tmp_path)
    assert found.problems(n, killed=killed) == []
    assert found.statuses == {"submitted": n} and len(found.rows) == n
    assert max(found.ack_counts.values()) == 1
    assert len({r["gateway_message_id"] for r in found.rows.values()}) == n
    handed_to: dict[int, set[str]] = {}
    for consumer, ids in found.claims.items():
        for i in ids:
            handed_to.setdefault(i, set()).add(consumer)
    reclaimed: set[int] = set()
    for name in killed:
        acked = set(found.acks[name])
        # What it held when it died: handed to it, not acknowledged in its file nor with its gateway id.
        held = {i for i in found.claims[name] if i not in acked and found.acked_by(i) != name}
        if name in stallers:
            assert len(acked) == 10
            assert held == set(id_lines(tmp_path / f"{name}.held")) and len(held) == 40
        for i in held:  # claimed again by another consumer, which submitted it
            row = found.rows[i]
            assert handed_to[i] - {name}, (name, row)
            assert found.acked_by(i) not in (None, name), (name, row)
            assert row["claimed_by"] != name and row["attempts"] >= 2, (name, row)
        reclaimed |= held
    assert len(reclaimed) >= 80
    assert remaining(url) == 0


def test_the_check_catches_a_notice_handed_out_twice(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim that hands out notices already submitted (as if it ignored their status) makes the
    exactly-once check fail: the checks above can fail."""
    assert seed(sqlite_url, 100) == 100
    assert consume(sqlite_url, "a", tmp_path, batch=30).acked == 100
    assert outcome(sqlite_url, tmp_path).problems(100) == []
    real = SqlNoticeQueue.claim

    def broken(self: SqlNoticeQueue, *args: Any, **kwargs: Any) -> Any:
        with self.engine.begin() as conn:
            conn.execute(update(NOTICE).where(NOTICE.c.id <= 10).values(status="queued"))
        monkeypatch.setattr(SqlNoticeQueue, "claim", real)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SqlNoticeQueue, "claim", broken)
    assert consume(sqlite_url, "b", tmp_path, batch=30).acked == 10
    problems = outcome(sqlite_url, tmp_path).problems(100)
    assert any("more than once" in p for p in problems) and any("another consumer" in p for p in problems)


def _racing_queues(url: str) -> tuple[SqlNoticeQueue, SqlNoticeQueue]:
    driver_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return (
        SqlNoticeQueue(create_engine(driver_url), always_open_enforcement()),
        SqlNoticeQueue(create_engine(driver_url), always_open_enforcement()),
    )


def _between_read_and_write(engine: Engine, step: Callable[[], None]) -> None:
    """Run ``step`` (on another connection) just before ``engine``'s next UPDATE of a notice."""
    fired: list[bool] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE NOTICE") and not fired:
            fired.append(True)
            step()


@pytest.mark.postgres
@pytest.mark.parametrize("late_call", ["ack", "nack"])
def test_a_late_ack_or_nack_does_not_undo_a_reclaimed_notice(pg_url: str, late_call: str) -> None:
    """Consumer A's lease has expired; B reclaims the notice and acknowledges it while A's own ack (or
    nack) is between reading the row and writing it. At most one of them may succeed, and the
    notice must keep the winner's gateway id (a lost gateway id never gets its receipt; a submitted
    notice put back in the queue is sent twice)."""
    assert seed(pg_url, 1) == 1
    a, b = _racing_queues(pg_url)
    t0 = dt.datetime.now(dt.UTC)
    try:
        (mine,) = a.claim(1, "A", lease_seconds=10, now=t0)
        b_acked: list[str] = []

        def b_reclaims_and_acks() -> None:
            for notice in b.claim(1, "B", lease_seconds=10, now=t0 + dt.timedelta(seconds=20)):
                b_acked.append(b.ack(notice.id, notice.claim_token, "B-1", now=t0 + dt.timedelta(seconds=21)))

        _between_read_and_write(a.engine, b_reclaims_and_acks)
        late = t0 + dt.timedelta(seconds=22)
        try:
            if late_call == "ack":
                a_result = a.ack(mine.id, mine.claim_token, "A-1", now=late)
            else:
                a_result = a.nack(mine.id, mine.claim_token, "gateway timeout", now=late)
        except StaleClaim:
            a_result = "stale"
        with engine_for(pg_url).connect() as conn:
            row = conn.execute(select(NOTICE.c.status, NOTICE.c.gateway_message_id)).one()
        if b_acked:  # B won: A's late call is refused and B's submission stands
            assert (a_result, tuple(row)) == ("stale", ("submitted", "B-1"))
        else:  # A's call held the row, so B could not reclaim it
            assert a_result != "stale"
    finally:
        a.engine.dispose()
        b.engine.dispose()
