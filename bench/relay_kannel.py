"""Notices per second end to end through Kannel, next to the queue's own claims and acks per second.

On one machine: the SMPP SMSC simulator (``scanner.relay.smsc_sim``), Debian's Kannel (bearerbox and
smsbox with the tests' generated configuration, ``tests/support/kannel.py``) and ``realname relay
kannel`` as its own process. For SQLite (a temporary file) and PostgreSQL (a new schema in the local
``test`` database, dropped afterwards), N subscribers failed by a rescan get their first SMS notice
from ``cases advance``; then three figures:

- the queue alone: one consumer in this process claims 50 at a time and acknowledges each (the
  relay's database work without any HTTP), on its own copy of the notices;
- Kannel alone: sendsms requests straight from an aiohttp client, 8 at a time, delivery reports to a
  listener that only counts them: what this Kannel and simulator take without the queue;
- end to end: the relay claims, sends through Kannel, acknowledges, and applies every delivery report;
  from the relay's start to the last notice final (delivered or undelivered), and from the first
  submission to the last final report.

    .venv/bin/python bench/relay_kannel.py [--notices 3000]      # or: make bench-relay
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the tests' Kannel harness and made-up base

from kannel import (  # noqa: E402
    PASSWORD,
    SMSC_PASSWORD,
    SMSC_USER,
    USER,
    Kannel,
    failing_base,
    free_port,
    installed,
    relay_policy,
    relay_settings,
    statuses,
)
from queue_load import pg_schema  # noqa: E402  (bench/ is on the path when this script runs)

from scanner.db import dispose_engines, open_engine, write_engine_for  # noqa: E402
from scanner.enforce.queue import SqlNoticeQueue  # noqa: E402
from scanner.policyfile import load_policy  # noqa: E402
from scanner.relay.kannel import sendsms_query  # noqa: E402
from scanner.relay.smsc_sim import SmscSimulator  # noqa: E402
from scanner.tables import NOTICE  # noqa: E402
from scanner.utctime import utcnow  # noqa: E402

REALNAME = str(Path(sys.executable).with_name("realname"))
# Two parts in UCS-2, as most first notices are (67 characters a part).
TEXT = (
    "【运营商】尊敬的用户，您登记的身份证照片不清晰，请于12月15日前通过网上营业厅或到营业厅重新核验身份；"
    "逾期未核验的，将依规暂停部分服务。详询10000。"
)


def seeded(url: str, policy: Path, n: int) -> None:
    rules = load_policy(policy).enforcement
    open_engine(url)
    failing_base(write_engine_for(url), rules, n, utcnow())


def queue_alone(url: str, policy: Path) -> float:
    """Claims plus acks per second of one consumer in this process."""
    queue = SqlNoticeQueue(write_engine_for(url), load_policy(policy).enforcement)
    done, began = 0, time.perf_counter()
    while batch := queue.claim(50, "bench"):
        for notice in batch:
            queue.ack(notice.id, notice.claim_token, f"bench-{notice.id}")
        done += len(batch)
    return 2 * done / (time.perf_counter() - began)


async def kannel_alone(kannel: Kannel, n: int) -> float:
    """sendsms requests per second with 8 open at once, until every final report came back."""
    finals = 0
    all_in = asyncio.Event()

    async def report(request: web.Request) -> web.Response:
        nonlocal finals
        if request.query.get("type") in ("1", "2", "16"):
            finals += 1
            if finals >= n:
                all_in.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/dlr", report)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    numbers = iter(range(n))
    began = time.perf_counter()

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in numbers:
            query = sendsms_query(
                user=USER,
                password=PASSWORD,
                to=f"1380{i:07d}",
                sender="10655",
                text=TEXT,
                report_url=f"http://127.0.0.1:{port}/dlr?id=rn-{i + 1}-1",
                smsc="sim-1",
            )
            async with session.get(f"{kannel.sendsms}?{query}") as response:
                await response.read()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(8)))
    await asyncio.wait_for(all_in.wait(), timeout=300)
    elapsed = time.perf_counter() - began
    await runner.cleanup()
    return n / elapsed


def end_to_end(url: str, policy: Path, kannel: Kannel, folder: Path, n: int) -> tuple[float, float, float]:
    """(notices per second from the relay's start, per second from first submission to last report,
    seconds in all)."""
    settings = relay_settings(folder, kannel, free_port(), status_every_seconds=30, in_flight=8)
    engine = write_engine_for(url)
    began = time.perf_counter()
    with (folder / "relay.out").open("wb") as out:
        relay = subprocess.Popen(
            [REALNAME, "relay", "kannel", "--config", str(settings), "--policy", str(policy), "--database", url],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:
            got = statuses(engine)
            if got.get("delivered", 0) + got.get("undelivered", 0) >= n:
                break
            if relay.poll() is not None or time.perf_counter() - began > 900:
                raise SystemExit(f"relay stopped or stalled: {got}\n{(folder / 'relay.out').read_text()[-2000:]}")
            time.sleep(0.2)
        elapsed = time.perf_counter() - began
    finally:
        relay.terminate()
        relay.wait(30)
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(NOTICE.c.submitted_at), func.max(NOTICE.c.final_at))).one()
    first, last = (_aware(t) for t in (first, last))
    return n / elapsed, n / (last - first).total_seconds(), elapsed


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=3000)
    opts = parser.parse_args()
    if not installed():
        print("Kannel is not installed: apt-get install kannel (bearerbox, smsbox)")
        return 1
    n = opts.notices
    work = Path(tempfile.mkdtemp(prefix="rn-relay-bench-"))
    sim = SmscSimulator(port=0, system_id=SMSC_USER, password=SMSC_PASSWORD, undeliverable={"77"}, receipt_delay=0.2)
    sim.start()
    kannel = Kannel(work / "kannel", smsc_port=sim.port)
    kannel.start()
    rows = []
    try:
        ceilings = [asyncio.run(kannel_alone(kannel, n))]
        print(f"Kannel alone: {ceilings[0]:,.0f} messages/s ({n:,} sendsms requests, 8 open at once, reports in)")
        for name in ("SQLite", "PostgreSQL"):
            with pg_schema() if name == "PostgreSQL" else _sqlite(work) as url:
                if url is None:
                    continue
                folder = work / name
                folder.mkdir()
                policy = relay_policy(folder, parts_per_second=5000.0)
                seeded(url, policy, n)
                queue_rate = queue_alone(url, policy)
            with pg_schema() if name == "PostgreSQL" else _sqlite(work, "relay") as url:
                if url is None:
                    continue
                seeded(url, policy, n)
                per_s, per_s_reports, seconds = end_to_end(url, policy, kannel, folder, n)
                dispose_engines()
            rows.append((name, queue_rate, per_s, per_s_reports, seconds))
            print(
                f"{name}: queue alone {queue_rate:,.0f} claims+acks/s; through Kannel {per_s:,.0f} notices/s "
                f"from the relay's start ({seconds:.1f} s for {n:,}), {per_s_reports:,.0f}/s from the first "
                "submission to the last final report"
            )
        ceilings.append(asyncio.run(kannel_alone(kannel, n)))
        print(f"Kannel alone, again: {ceilings[1]:,.0f} messages/s")
    finally:
        kannel.stop()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("\n| figure | " + " | ".join(r[0] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    print("| queue alone: claims+acks/s (one consumer) | " + " | ".join(f"{r[1]:,.0f}" for r in rows) + " |")
    print("| end to end: notices/s from the relay's start | " + " | ".join(f"{r[2]:,.0f}" for r in rows) + " |")
    print("| end to end: notices/s, first submission to last report | " + " | ".join(f"{r[3]:,.0f}" for r in rows))
    print(f"| Kannel alone (no queue), before and after: messages/s | {ceilings[0]:,.0f}, {ceilings[1]:,.0f} |")
    return 0


class _sqlite:
    def __init__(self, folder: Path, name: str = "queue") -> None:
        self.url = f"sqlite:///{folder / f'{name}-{time.monotonic_ns()}.db'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        dispose_engines()


if __name__ == "__main__":
    raise SystemExit(main())
