"""What the base-wide count of numbers per person adds to a run, on a million subscribers.

A run counts, before it judges anything, the numbers the base holds per person (``subscriber.person_key``,
the person's 17 digits in either form of the ID number) and keeps the persons over the policy's limit
(``scanner.scan.basewide.numbers_over_limit``: one grouped query over the key's index). This writes N
subscribers straight to the table (one person in 200 holds 6 to 8 numbers, the rest 1 to 3), then
times that query three times, on SQLite (a temporary file) and PostgreSQL (a new schema in the local
``test`` database, dropped afterwards), and prints the query plan.

    .venv/bin/python bench/base_signals.py [--subscribers 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from queue_load import pg_schema  # bench/ is on the path when this script runs
from sqlalchemy import insert, text

from checks.idcard import check_character
from scanner.db import dispose_engines, open_engine, write_engine_for
from scanner.scan.basewide import numbers_over_limit
from scanner.tables import SUBSCRIBER

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


def seed(url: str, n: int) -> tuple[int, int]:
    """N subscribers; (persons over 5 numbers, their numbers)."""
    engine = write_engine_for(url)
    rnd = random.Random(19)
    person, row, over, over_rows = 0, 0, 0, 0
    batch: list[dict[str, object]] = []
    while row < n:
        person += 1
        many = rnd.randint(6, 8) if person % 200 == 0 else rnd.choice((1, 1, 1, 2, 3))
        many = min(many, n - row)
        body = f"{420102 + person % 97:06d}{person:011d}"  # a made-up person's 17 digits
        number = body + check_character(body)
        if many > 5:
            over, over_rows = over + 1, over_rows + many
        for _ in range(many):
            row += 1
            batch.append(
                {
                    "id": row,
                    "account_id": f"B{row:09d}",
                    "msisdn": f"139{row:08d}",
                    "name": "测试",
                    "id_number": number,
                    "id_legacy": False,
                    "person_key": body,
                    "joined_on": dt.date(2016, 1, 1),
                    "segment": "consumer",
                    "region_code": body[:6],
                    "source": "",
                    "created_at": T0,
                    "updated_at": T0,
                }
            )
            if len(batch) == 20_000:
                with engine.begin() as conn:
                    conn.execute(insert(SUBSCRIBER), batch)
                batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(SUBSCRIBER), batch)
    return over, over_rows


def measure(name: str, url: str, n: int) -> None:
    open_engine(url)
    began = time.perf_counter()
    over, over_rows = seed(url, n)
    seeded = time.perf_counter() - began
    engine = write_engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    times = []
    for _ in range(3):
        with engine.connect() as conn:
            began = time.perf_counter()
            found = numbers_over_limit(conn, 5)
            times.append(time.perf_counter() - began)
    assert len(found) == over and sum(found.values()) == over_rows, (len(found), over)
    with engine.connect() as conn:
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plan = conn.execute(
            text(
                f"{explain}SELECT person_key, count(*) FROM subscriber WHERE person_key IS NOT NULL "
                "GROUP BY person_key HAVING count(*) > 5"
            )
        ).all()
    print(
        f"{name}: {n:,} subscribers (seeded in {seeded:.0f} s), {over:,} persons over 5 holding {over_rows:,} numbers; "
        f"count {', '.join(f'{t:.2f}' for t in times)} s"
    )
    for line in plan:
        print("   ", " ".join(str(x) for x in line))
    dispose_engines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    n = parser.parse_args().subscribers
    with tempfile.TemporaryDirectory() as folder:
        measure("SQLite", f"sqlite:///{Path(folder) / 'base.db'}", n)
    with pg_schema() as url:
        if url is not None:
            measure("PostgreSQL", url, n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
