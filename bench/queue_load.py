"""The notice queue under concurrency: consumer processes claim and acknowledge notices.

    .venv/bin/python bench/queue_load.py [--notices 20000] [--consumers 8] [--batch 50] [--lease 30]

For SQLite (a temporary file) and PostgreSQL (a new schema in the ``test`` database of the local
server, dropped afterwards; skipped with a message when the server is not reachable): seeds
``--notices`` due SMS notices, starts ``--consumers`` processes (``spawn``) that each loop
claim -> ack until nothing is left, and prints the rates and whether every notice was submitted
exactly once. The tests (``tests/integration/test_queue_concurrency.py``) import this module and
assert what the script only prints.

Each consumer appends the id of every notice it acknowledged successfully to its own file (one id a
line, flushed at once), and the id of every notice it claimed to another, so a consumer killed at any
moment leaves a record of what it held. Its gateway message ids are ``<consumer>-<notice id>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlmodel import Session

from notices.queue import NoticeStatus, Recipient, StaleClaim, draft_notice
from notices.settings import Enforcement
from notices.window import SendWindow
from scanner.db import dispose_engines, engine_for, open_engine, write_engine_for
from scanner.enforce.queue import SqlNoticeQueue, enqueue
from scanner.models import Case, Subscriber
from scanner.policyfile import load_policy
from scanner.tables import NOTICE
from scanner.utctime import utcnow

PG_URL = os.environ.get("REALNAME_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SUBSCRIBERS = 10  # the notices are spread over this many subscribers and their cases
INSERT_BATCH = 1000
EMPTY_CLAIM_PAUSE = 0.1  # seconds between two claims that found nothing
OPEN = (NoticeStatus.QUEUED.value, NoticeStatus.CLAIMED.value)


# --- seeding ---------------------------------------------------------------------------------


def seed(url: str, n: int) -> int:
    """Migrate ``url`` and enqueue ``n`` due SMS notices over a handful of subscribers and their
    open cases. Every number and name is made up. Returns how many notices were inserted."""
    engine = open_engine(url)
    now = utcnow()
    with Session(engine) as session:
        subscribers = [
            Subscriber(
                account_id=f"BENCH{j:06d}",
                msisdn=f"1300000{j:04d}",
                name=f"测试用户{j:02d}",
                id_number=f"TEST{j:014d}",  # not an ID number: no check digit, no region
                joined_on=dt.date(2020, 1, 1),
                source="bench/queue_load.py",
            )
            for j in range(SUBSCRIBERS)
        ]
        session.add_all(subscribers)
        session.flush()
        ids = [int(s.id) for s in subscribers if s.id is not None]
        cases = [
            Case(
                subscriber_id=i,
                active_subscriber_id=i,
                state="notifying",
                stage=1,
                reasons=["ID_EXPIRED"],
                opened_at=now,
                stage_started_at=now,
            )
            for i in ids
        ]
        session.add_all(cases)
        session.flush()
        owners = [(c.id, s.id, s.account_id) for c, s in zip(cases, subscribers, strict=True)]
        session.commit()
    enforcement = load_policy().enforcement
    deadline = (now + dt.timedelta(days=7)).date()
    inserted = 0
    for start in range(0, n, INSERT_BATCH):
        drafts = []
        for i in range(start, min(n, start + INSERT_BATCH)):
            case_id, subscriber_id, account_id = owners[i % len(owners)]
            msisdn = f"130{i:08d}"  # 13000000000 + i: a made-up number
            drafts.append(
                draft_notice(
                    int(case_id or 0),
                    Recipient(int(subscriber_id or 0), account_id, msisdn),
                    enforcement,
                    stage=1,
                    slot="sms",
                    attempt=i + 1,  # one case carries many notices here: the attempt keeps their keys apart
                    channel="sms",
                    template="first_notice",
                    reasons=["ID_EXPIRED"],
                    deadline=deadline,
                    not_before=now,
                )
            )
        with write_engine_for(url).begin() as conn:
            inserted += enqueue(conn, drafts, now)
    return inserted


# --- one consumer ----------------------------------------------------------------------------


def always_open_enforcement() -> Enforcement:
    """The default policy's enforcement with a send window open all day."""
    # An always-open send window: the tests must pass at any hour, and the benchmark must measure at
    # any hour (under the default 08:00-21:00 window, claim hands out nothing at night).
    return dataclasses.replace(
        load_policy().enforcement,
        window=SendWindow(dt.time(0), dt.time(23, 59, 59, 999999), "Asia/Shanghai"),
    )


@dataclass
class ConsumerResult:
    consumer: str
    claim_calls: int = 0  # claim transactions, empty ones included
    claimed: int = 0  # notices handed out by those claims
    reclaimed: int = 0  # of them, notices claimed before (attempts > 1)
    acked: int = 0
    rejected: int = 0  # acks refused with StaleClaim
    first_claim: float | None = None  # time.time() of the first claim that returned notices
    last_ack: float | None = None  # time.time() of the last successful ack
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time in the loop (the database server's not included)


def remaining(url: str) -> int:
    """Notices still queued or claimed."""
    with engine_for(url).connect() as conn:
        return int(conn.execute(select(func.count()).where(NOTICE.c.status.in_(OPEN))).scalar_one())


def consume(
    url: str,
    consumer: str,
    folder: str | Path,
    *,
    batch: int = 50,
    lease: int = 30,
    stall_after_acks: int | None = None,
    max_seconds: float = 600.0,
) -> ConsumerResult:
    """Claim and acknowledge until no notice is queued or claimed any more.

    Writes ``<consumer>.acks`` (ids acknowledged successfully) and ``<consumer>.claims`` (ids
    claimed) in ``folder``. With ``stall_after_acks``, acknowledges that many notices of its first
    batch, writes the ids it still holds to ``<consumer>.held`` and sleeps until it is killed."""
    folder = Path(folder)
    queue = SqlNoticeQueue(write_engine_for(url), always_open_enforcement())
    result = ConsumerResult(consumer)
    started, cpu = time.monotonic(), time.process_time()
    empty = 0
    with (
        (folder / f"{consumer}.acks").open("a", encoding="ascii") as acks,
        (folder / f"{consumer}.claims").open("a", encoding="ascii") as claims,
    ):
        while True:
            if time.monotonic() - started > max_seconds:
                raise TimeoutError(f"{consumer}: notices still open after {max_seconds} s")
            notices = queue.claim(batch, consumer, lease_seconds=lease)
            result.claim_calls += 1
            if not notices:
                empty += 1
                if empty >= 2 and remaining(url) == 0:
                    break
                time.sleep(EMPTY_CLAIM_PAUSE)
                continue
            empty = 0
            if result.first_claim is None:
                result.first_claim = time.time()
            result.claimed += len(notices)
            result.reclaimed += sum(1 for n in notices if n.attempts > 1)
            claims.write("".join(f"{n.id}\n" for n in notices))
            claims.flush()
            for k, notice in enumerate(notices):
                if stall_after_acks is not None and k == stall_after_acks:
                    _write_atomic(folder / f"{consumer}.held", "".join(f"{n.id}\n" for n in notices[k:]))
                    while True:  # holding the rest of the batch until killed
                        time.sleep(60)
                try:
                    queue.ack(notice.id, notice.claim_token, gateway_message_id=f"{consumer}-{notice.id}")
                except StaleClaim:
                    result.rejected += 1
                    continue
                acks.write(f"{notice.id}\n")
                acks.flush()
                result.acked += 1
                result.last_ack = time.time()
    result.seconds = time.monotonic() - started
    result.cpu_seconds = time.process_time() - cpu
    return result


def _write_atomic(path: Path, content: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(content, encoding="ascii")
    tmp.replace(path)


def _consumer_process(url: str, consumer: str, folder: str, options: dict[str, Any]) -> None:
    result = consume(url, consumer, folder, **options)
    _write_atomic(Path(folder) / f"{consumer}.json", json.dumps(dataclasses.asdict(result)))


def start_consumer(url: str, consumer: str, folder: str | Path, **options: Any) -> BaseProcess:
    """``consume`` in a new process (``spawn``: nothing inherited but the arguments). Its
    ``ConsumerResult`` is written to ``<consumer>.json`` when it finishes."""
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_consumer_process, args=(url, consumer, str(folder), options), name=consumer)
    proc.start()
    return proc


def results(folder: str | Path) -> list[ConsumerResult]:
    """The results of the consumers that finished (a killed one writes none)."""
    return [ConsumerResult(**json.loads(p.read_text())) for p in sorted(Path(folder).glob("*.json"))]


# --- checking the outcome --------------------------------------------------------------------


def id_lines(path: Path) -> list[int]:
    return [int(line) for line in path.read_text(encoding="ascii").split()] if path.exists() else []


@dataclass
class Outcome:
    """What the database and the consumers' files say after a run."""

    rows: dict[int, dict[str, Any]]  # notice id -> status, attempts, claimed_by, gateway_message_id
    acks: dict[str, list[int]]  # consumer -> ids it acknowledged successfully (its file)
    claims: dict[str, list[int]]  # consumer -> ids it was handed
    statuses: Counter[str] = field(default_factory=Counter)
    ack_counts: Counter[int] = field(default_factory=Counter)  # notice id -> successful acks in all files

    def acked_by(self, notice_id: int) -> str | None:
        """The consumer whose gateway id the notice carries (``<consumer>-<id>``)."""
        gateway = self.rows[notice_id]["gateway_message_id"]
        return None if gateway is None else str(gateway).rsplit("-", 1)[0]

    def problems(self, expected: int, killed: Collection[str] = ()) -> list[str]:
        """Everything that breaks "each notice submitted exactly once" (empty when none).

        A consumer in ``killed`` may have been killed between its ack's commit and writing the id
        to its file: one notice submitted with its gateway id and in no file is allowed for each."""
        found = []
        if len(self.rows) != expected:
            found.append(f"{len(self.rows)} notices in the table, {expected} seeded")
        if self.statuses != Counter({NoticeStatus.SUBMITTED.value: expected}):
            found.append(f"statuses {dict(self.statuses)}")
        twice = sorted(i for i, k in self.ack_counts.items() if k > 1)
        if twice:
            found.append(f"{len(twice)} notices acknowledged successfully more than once, e.g. {twice[:5]}")
        never = sorted(set(self.rows) - set(self.ack_counts))
        unwritten = Counter(self.acked_by(i) for i in never)
        if all(consumer in killed and k == 1 for consumer, k in unwritten.items()):
            never = []
        if never:
            found.append(f"{len(never)} notices in no consumer's acknowledgements, e.g. {never[:5]}")
        unknown = sorted(set(self.ack_counts) - set(self.rows))
        if unknown:
            found.append(f"{len(unknown)} acknowledged ids are not notices, e.g. {unknown[:5]}")
        gateway = [r["gateway_message_id"] for r in self.rows.values()]
        if len(set(gateway)) != len(gateway) or None in gateway:
            found.append("gateway message ids missing or repeated")
        wrong = [
            i
            for consumer, ids in self.acks.items()
            for i in ids
            if i in self.rows and self.rows[i]["gateway_message_id"] != f"{consumer}-{i}"
        ]
        if wrong:
            found.append(
                f"{len(wrong)} notices carry another consumer's gateway id than the one that acked, {wrong[:5]}"
            )
        return found


def outcome(url: str, folder: str | Path) -> Outcome:
    folder = Path(folder)
    c = NOTICE.c
    with engine_for(url).connect() as conn:
        rows = {
            r.id: r._asdict()
            for r in conn.execute(select(c.id, c.status, c.attempts, c.claimed_by, c.gateway_message_id))
        }
    acks = {p.stem: id_lines(p) for p in sorted(folder.glob("*.acks"))}
    claims = {p.stem: id_lines(p) for p in sorted(folder.glob("*.claims"))}
    found = Outcome(rows, acks, claims)
    found.statuses.update(r["status"] for r in rows.values())
    for ids in acks.values():
        found.ack_counts.update(ids)
    return found


# --- the benchmark ---------------------------------------------------------------------------


@contextmanager
def pg_schema(base: str = PG_URL) -> Iterator[str | None]:
    """A URL whose search_path is a new schema on ``base`` (dropped afterwards), or None when the
    server cannot be reached."""
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), connect_args={"connect_timeout": 3}
    )
    schema = f"rn_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped: not reachable at {base} ({type(exc).__name__}: {str(exc).splitlines()[0]})")
        admin.dispose()
        yield None
        return
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _cpu_ticks() -> tuple[int, int] | None:
    """Busy and total CPU ticks of the whole machine (Linux), the database server included."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_load(url: str, folder: Path, notices: int, consumers: int, batch: int, lease: int) -> dict[str, Any]:
    """Seed, run the consumers to the end, check the outcome; returns the figures."""
    t0 = time.perf_counter()
    seeded = seed(url, notices)
    seeding = time.perf_counter() - t0
    t0 = time.perf_counter()
    cpu0 = _cpu_ticks()
    procs = [start_consumer(url, f"c{k}", folder, batch=batch, lease=lease) for k in range(1, consumers + 1)]
    for proc in procs:
        proc.join()
    wall = time.perf_counter() - t0
    cpu1 = _cpu_ticks()
    busy = "-" if cpu0 is None or cpu1 is None else f"{100 * (cpu1[0] - cpu0[0]) / max(1, cpu1[1] - cpu0[1]):.0f}%"
    bad = [p.name for p in procs if p.exitcode != 0]
    done = results(folder)
    if not done or bad:
        raise RuntimeError(f"consumers failed ({', '.join(bad)}); see their tracebacks above")
    first = min(r.first_claim for r in done if r.first_claim is not None)
    last = max(r.last_ack for r in done if r.last_ack is not None)
    active = last - first
    claimed = sum(r.claimed for r in done)
    acked = sum(r.acked for r in done)
    problems = outcome(url, folder).problems(notices)
    return {
        "notices": seeded,
        "consumers": consumers,
        "batch": batch,
        "lease s": lease,
        "seed s": round(seeding, 1),
        "wall s": round(wall, 1),
        "active s": round(active, 2),
        "claim calls": sum(r.claim_calls for r in done),
        "claims/s": round(claimed / active),
        "acks/s": round(acked / active),
        "(claims+acks)/s": round((claimed + acked) / active),
        "rejected acks": sum(r.rejected for r in done),
        "machine CPU busy": busy,
        "consumer CPU ms/notice": round(1000 * sum(r.cpu_seconds for r in done) / max(1, acked), 2),
        "acks per consumer": f"{min(r.acked for r in done)}-{max(r.acked for r in done)}",
        "exactly once": "yes" if not problems else "NO: " + "; ".join(problems),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--notices", type=int, default=20_000)
    parser.add_argument("--consumers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--lease", type=int, default=30)
    args = parser.parse_args(argv)
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="queue-load-") as tmp:
        for name in ("sqlite", "postgresql"):
            folder = Path(tmp) / name
            folder.mkdir()
            if name == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'queue.db'}"
                figures[name] = run_load(url, folder, args.notices, args.consumers, args.batch, args.lease)
                continue
            with pg_schema() as pg:
                if pg is not None:
                    figures[name] = run_load(pg, folder, args.notices, args.consumers, args.batch, args.lease)
    names = list(figures)
    rows = list(next(iter(figures.values())))
    width = max(len(r) for r in rows)
    print(f"{'':<{width}}  " + "  ".join(f"{n:>12}" for n in names))
    for row in rows:
        print(f"{row:<{width}}  " + "  ".join(f"{figures[n][row]!s:>12}" for n in names))
    print(
        "\nactive s: from the first claim that returned notices to the last acknowledgement (wall s also\n"
        "  counts starting the processes); claims/s counts notices handed out, not claim calls.\n"
        "machine CPU busy: all cores over the wall time, the database server and any other program included.\n"
        "consumer CPU: the consumers' own CPU time (claims, acks, polling) per notice acknowledged."
    )
    return 0 if all(f["exactly once"] == "yes" for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
