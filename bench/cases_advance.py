"""How long ``cases advance`` takes on a large base of failing subscribers.

Writes N subscribers and an enforcing run in which all of them fail, then times
``advance`` three times: the first pass (opens N cases and queues their first
notices), a second pass at the same moment (nothing to do: idempotent), and a
pass a day later after every first notice was delivered (nothing due yet: the
cost of a routine cron pass). On SQLite and, when it is reachable, PostgreSQL.

    .venv/bin/python bench/cases_advance.py [--subscribers 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from queue_load import pg_schema  # bench/ is on the path when this script runs
from sqlalchemy import insert, update

from checks.idcard import check_character
from scanner.db import open_engine, write_engine_for
from scanner.enforce.advance import advance
from scanner.policyfile import load_policy
from scanner.tables import FINDING, NOTICE, SCAN_RUN, SUBSCRIBER

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def seed(url: str, n: int) -> None:
    engine = open_engine(url)
    subs, findings = [], []
    for i in range(1, n + 1):
        body = f"420102198{i % 10}0612{i % 1000:03d}"
        subs.append(
            {
                "id": i,
                "account_id": f"B{i:08d}",
                "msisdn": f"139{i:08d}",
                "name": "测试",
                "id_number": body + check_character(body),
                "id_legacy": False,
                "joined_on": dt.date(2010, 1, 1),
                "segment": "consumer",
                "region_code": "420102",
                "source": "bench",
                "created_at": T0,
                "updated_at": T0,
            }
        )
        findings.append(
            {
                "run_id": 1,
                "subscriber_id": i,
                "verdict": "fail",
                "reasons": ["BLURRY"],
                "evidence": [{"code": "BLURRY", "severity": "fail"}],
                "distances": {},
                "policy_version": "bench",
                "preview": False,
                "created_at": T0,
            }
        )
    run = {
        "id": 1,
        "policy_name": "bench",
        "policy_version": "bench",
        "policy_sha256": "0" * 64,
        "policy_path": "",
        "mode": "enforce",
        "as_of": T0.date(),
        "status": "finished",
        "started_at": T0 - dt.timedelta(hours=2),
        "finished_at": T0 - dt.timedelta(hours=1),
        "totals": {},
    }
    with engine.begin() as conn:
        conn.execute(insert(SCAN_RUN), [run])
        for start in range(0, n, 5000):
            conn.execute(insert(SUBSCRIBER), subs[start : start + 5000])
            conn.execute(insert(FINDING), findings[start : start + 5000])


def measure(label: str, url: str, n: int) -> dict[str, object]:
    seed(url, n)
    engine = write_engine_for(url)
    rules = load_policy().enforcement
    figures: dict[str, object] = {"database": label, "subscribers": n}
    started = time.perf_counter()
    first = advance(engine, rules, T0)
    figures["first pass s"] = round(time.perf_counter() - started, 1)
    assert first.opened == n and first.queued == n, first
    started = time.perf_counter()
    again = advance(engine, rules, T0)
    figures["same moment s"] = round(time.perf_counter() - started, 1)
    assert not again.events and again.queued == 0, again
    notice = NOTICE
    with engine.begin() as conn:
        conn.execute(update(notice).values(status="delivered", final_at=T0 + dt.timedelta(minutes=5)))
    started = time.perf_counter()
    routine = advance(engine, rules, T0 + dt.timedelta(days=1))
    figures["a day later s"] = round(time.perf_counter() - started, 1)
    assert not routine.events, routine
    figures["cases/s (first)"] = round(n / float(figures["first pass s"]))  # type: ignore[arg-type]
    figures["cases/s (routine)"] = round(n / float(figures["a day later s"]))  # type: ignore[arg-type]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="Time `cases advance` on a base of failing subscribers.")
    parser.add_argument("--subscribers", type=int, default=50_000)
    n = parser.parse_args().subscribers
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", n))
    with pg_schema() as url:
        if url is not None:
            rows.append(measure("PostgreSQL", url, n))
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))


if __name__ == "__main__":
    main()
