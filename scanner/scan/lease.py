"""The lease a process holds on the scan run it works on: one process per run, and one run working
on a database at a time (a second one would measure every photo again).

A run's row names the lease's holder (``host:pid`` and the process's start time, so that a reused
pid is not taken for the holder), when it was taken and the holder's last heartbeat. A lease is
live while its heartbeat is younger than the TTL and, when the holder is on this host, its process
still runs; a lease that is not live may be taken over at once, so a run killed with ``kill -9``
can be resumed straight away on the host it ran on (on another host, once the TTL has passed).

Taking a lease is one transaction, serialized against every other taker (``BEGIN IMMEDIATE`` on
SQLite, a table lock on PostgreSQL), and its update is conditional on the row still being what
was read. The holder renews the lease at each shard commit, inside the shard's transaction, and
from a background thread; a holder whose lease was taken over stops before it writes again.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection, Engine, Row

from scanner.tables import SCAN_RUN
from scanner.utctime import utcnow

LEASE_TTL = dt.timedelta(seconds=60)
HEARTBEAT_EVERY_S = 15.0
# Start times read from /proc are in clock ticks; a process whose start differs by more is another one.
START_TOLERANCE_S = 0.5

Clock = Callable[[], dt.datetime]
# Whether the process with this pid on this host is the one that started at this time.
Running = Callable[[int, float], bool]


class LeaseError(RuntimeError):
    """A lease that cannot be taken or was lost; the message names the holder and since when."""


class LeaseHeld(LeaseError):
    """Another live process holds the lease wanted (on this run, or on another run of the database)."""


class LeaseLost(LeaseError):
    """The lease this process held was taken over: it must not write."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: float  # the process's start time, seconds since the epoch

    @property
    def name(self) -> str:
        return f"{self.host}:{self.pid}"


def this_process() -> Holder:
    import psutil

    return Holder(socket.gethostname(), os.getpid(), float(psutil.Process().create_time()))


def running_here(pid: int, started: float) -> bool:
    """Whether process ``pid`` runs on this host and is the one that started at ``started`` (a
    zombie waiting for its parent has ended)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(float(process.create_time()) - started) <= START_TOLERANCE_S
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # not allowed to look: take it as running (the TTL still applies)
        return True


class LeaseStatus(Enum):
    FREE = "free"  # no holder
    LIVE = "live"
    STALE = "stale"  # no heartbeat for longer than the TTL
    DEAD = "dead"  # the holder's process on this host has ended (or its pid is another process's now)


@dataclass(frozen=True)
class LeaseState:
    """What a scan run's row says about its lease."""

    run_id: int
    mode: str
    holder: str | None
    process_started: float | None
    taken_at: dt.datetime | None
    heartbeat_at: dt.datetime | None

    @classmethod
    def of(cls, row: Row[*tuple[Any, ...]]) -> LeaseState:
        return cls(row.id, row.mode, row.lease_holder, row.lease_process_started, row.lease_taken_at, row.heartbeat_at)

    @property
    def host(self) -> str:
        return (self.holder or "").rpartition(":")[0]

    @property
    def pid(self) -> int | None:
        digits = (self.holder or "").rpartition(":")[2]
        return int(digits) if digits.isdigit() else None

    def status(
        self,
        now: dt.datetime,
        *,
        ttl: dt.timedelta = LEASE_TTL,
        here: str | None = None,
        running: Running = running_here,
    ) -> LeaseStatus:
        """Free, stale (no heartbeat for over ``ttl``), dead (its process on this host, ``here``, has
        ended or its pid is another process's now) or live."""
        if self.holder is None:
            return LeaseStatus.FREE
        if self.heartbeat_at is None or now - self.heartbeat_at > ttl:
            return LeaseStatus.STALE
        pid, started = self.pid, self.process_started
        on_this_host = self.host == (here if here is not None else socket.gethostname())
        if on_this_host and pid is not None and (started is None or not running(pid, started)):
            return LeaseStatus.DEAD
        return LeaseStatus.LIVE

    def describe(self, now: dt.datetime) -> str:
        """Who holds the lease and since when: "process 4242 on host scan-1 since 2026-11-22 03:00:05
        UTC (last heartbeat 4 s ago)"."""
        since = f" since {self.taken_at:%Y-%m-%d %H:%M:%S} UTC" if self.taken_at else ""
        beat = (
            f"last heartbeat {max(0, round((now - self.heartbeat_at).total_seconds()))} s ago"
            if self.heartbeat_at
            else "no heartbeat yet"
        )
        return f"process {self.pid} on host {self.host}{since} ({beat})"


def lease_values(holder: Holder, now: dt.datetime) -> dict[str, Any]:
    """The columns of a lease just taken by ``holder``."""
    return {
        "lease_holder": holder.name,
        "lease_process_started": holder.started,
        "lease_taken_at": now,
        "heartbeat_at": now,
    }


_RELEASED = dict.fromkeys(("lease_holder", "lease_process_started", "lease_taken_at", "heartbeat_at"))
_LEASE_COLUMNS = (
    SCAN_RUN.c.id,
    SCAN_RUN.c.mode,
    SCAN_RUN.c.lease_holder,
    SCAN_RUN.c.lease_process_started,
    SCAN_RUN.c.lease_taken_at,
    SCAN_RUN.c.heartbeat_at,
)


@contextmanager
def _serialized(engine: Engine) -> Iterator[Connection]:
    """A transaction that no other lease taker runs alongside: ``BEGIN IMMEDIATE`` on a SQLite file,
    a lock on ``scan_run`` on PostgreSQL (heartbeats wait for it a moment; readers do not)."""
    from scanner.db import write_engine_for

    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        engine = write_engine_for(url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"LOCK TABLE {SCAN_RUN.name} IN SHARE ROW EXCLUSIVE MODE"))
        yield conn


def take_lease(
    engine: Engine,
    run_id: int | None,
    *,
    create: Callable[[Connection, dict[str, Any]], int] | None = None,
    holder: Holder | None = None,
    clock: Clock = utcnow,
    ttl: dt.timedelta = LEASE_TTL,
    running: Running = running_here,
) -> Lease:
    """Take the lease on run ``run_id``, or on the run ``create`` inserts (given the lease's columns;
    it returns the new run's id). Refused with ``LeaseHeld`` while a live process holds that run's
    lease, or the lease of any other run of the database."""
    if (run_id is None) == (create is None):
        raise ValueError("take_lease needs either a run id or a way to create the run")
    me = holder or this_process()
    with _serialized(engine) as conn:
        now = clock()
        held = [
            LeaseState.of(row)
            for row in conn.execute(select(*_LEASE_COLUMNS).where(SCAN_RUN.c.lease_holder.is_not(None)))
        ]
        for state in sorted(held, key=lambda s: s.run_id != run_id):  # the run asked for is named first
            if state.status(now, ttl=ttl, running=running) is not LeaseStatus.LIVE:
                continue
            if state.run_id == run_id:
                raise LeaseHeld(
                    f"run {run_id} is being scanned by {state.describe(now)}: it cannot be resumed while that "
                    f"process works on it; wait for it to finish, or resume it once it has stopped (a lease is "
                    f"free once its process has ended on this host, or after {ttl.total_seconds():.0f} s "
                    "without a heartbeat)"
                )
            doing = f"resume run {run_id}" if run_id is not None else "start a rescan"
            raise LeaseHeld(
                f"cannot {doing}: run {state.run_id} ({state.mode}) is being scanned by {state.describe(now)}; "
                "a second rescan at the same time would measure every photo again: wait for it to finish, "
                f"or resume it (realname rescan --resume {state.run_id}) once it has stopped"
            )
        values = lease_values(me, now)
        if create is not None:
            run_id = create(conn, values)
        else:
            assert run_id is not None
            seen = next((s for s in held if s.run_id == run_id), None)
            c = SCAN_RUN.c
            unchanged = (
                [c.lease_holder.is_(None)]
                if seen is None
                else [c.lease_holder == seen.holder, c.heartbeat_at.is_not_distinct_from(seen.heartbeat_at)]
            )
            taken = conn.execute(update(SCAN_RUN).where(c.id == run_id, *unchanged).values(**values))
            if taken.rowcount != 1:  # its holder beat in between: it is alive after all
                raise LeaseHeld(f"run {run_id}: its holder renewed the lease while it was being taken over")
    return Lease(engine, run_id, me, clock=clock, ttl=ttl)


class Lease:
    """The lease this process holds on one run: renewed with ``renew`` (in a shard's transaction)
    and by ``keep_alive``'s thread, given back with ``release``."""

    def __init__(
        self, engine: Engine, run_id: int, holder: Holder, *, clock: Clock = utcnow, ttl: dt.timedelta = LEASE_TTL
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.holder = holder
        self.clock = clock
        self.ttl = ttl
        self.lost: str | None = None  # why, once the heartbeat found the lease taken over
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _mine(self) -> list[Any]:
        c = SCAN_RUN.c
        return [c.id == self.run_id, c.lease_holder == self.holder.name, c.lease_process_started == self.holder.started]

    def renew(self, conn: Connection) -> None:
        """Record a heartbeat in ``conn``'s transaction; ``LeaseLost`` when another process took the
        lease over (the transaction then must not commit anything of this run)."""
        now = self.clock()
        if conn.execute(update(SCAN_RUN).where(*self._mine()).values(heartbeat_at=now)).rowcount == 1:
            return
        row = conn.execute(select(*_LEASE_COLUMNS).where(SCAN_RUN.c.id == self.run_id)).first()
        state = LeaseState.of(row) if row is not None else None
        by = f"taken over by {state.describe(now)}" if state and state.holder else "released by another process"
        self.lost = (
            f"run {self.run_id}: this process ({self.holder.name}) lost its lease on the run, {by}; it stopped "
            "without writing more (the shards committed so far are kept)"
        )
        raise LeaseLost(self.lost)

    def check(self) -> None:
        """``LeaseLost`` when the heartbeat thread found the lease taken over."""
        if self.lost is not None:
            raise LeaseLost(self.lost)

    def keep_alive(self, every_s: float = HEARTBEAT_EVERY_S) -> None:
        """Renew the lease from a background thread every ``every_s`` seconds until ``release``."""
        self._thread = threading.Thread(
            target=self._beat, args=(every_s,), name=f"scan-run-{self.run_id}-heartbeat", daemon=True
        )
        self._thread.start()

    def _beat(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                with self.engine.begin() as conn:
                    self.renew(conn)
            except LeaseLost:
                return
            except Exception:  # the database is away for a moment: the next beat, or the next shard, tries again
                continue

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def give_back(self, conn: Connection) -> None:
        """Clear the lease in ``conn``'s transaction (when this process still holds it)."""
        conn.execute(update(SCAN_RUN).where(*self._mine()).values(**_RELEASED))

    def release(self) -> None:
        """Stop the heartbeat and give the lease back (when this process still holds it)."""
        self.stop_heartbeat()
        with self.engine.begin() as conn:
            self.give_back(conn)
