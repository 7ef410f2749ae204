"""The review queue at scale: items made from a large run's review findings, the queue dealt out, and
reviewers deciding at once.

Writes N subscribers whose newest enforcing run says review for every one, then times:
- ``sync_items`` making N items, and again (nothing to do: the cost of a routine cron pass);
- ``assign_pending`` with 20 reviewers who cover everything (each fills to ``max_per_reviewer`` = 20),
  and with 20 reviewers whose region covers about 1% of the base (the deal scans far down the queue);
- 5 reviewers deciding 1,000 items at once through ``next_item`` and ``decide`` (threads), decisions
  per second, every item decided exactly once.
On SQLite and, when it is reachable, PostgreSQL.

    .venv/bin/python bench/review_queue.py [--subscribers 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import threading
import time
from pathlib import Path

from queue_load import pg_schema  # bench/ is on the path when this script runs
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from checks.idcard import check_character
from notices.review import Decision, ReviewRules
from scanner.db import open_engine, write_engine_for
from scanner.review.assign import assign_pending, next_item
from scanner.review.decide import decide
from scanner.review.items import sync_items
from scanner.review.reviewers import add_reviewer, update_reviewer
from scanner.tables import FINDING, REVIEW_DECISION, SCAN_RUN, SUBSCRIBER

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
EVIDENCE = [
    {
        "code": "FACE_MATCH_UNCERTAIN",
        "severity": "review",
        "photo_kind": "id_portrait~live",
        "measure": "face_cosine",
        "value": 0.31,
        "threshold": 0.4,
        "comparison": "<",
    }
]


def seed(url: str, n: int) -> Engine:
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(SCAN_RUN),
            [
                {
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
            ],
        )
    for start in range(1, n + 1, 20_000):
        subs, findings = [], []
        for i in range(start, min(n, start + 19_999) + 1):
            region = "110105" if i % 100 == 0 else "420102"  # 1% in Beijing
            body = f"{region}198{i % 10}0612{i % 1000:03d}"
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
                    "region_code": region,
                    "source": "bench",
                    "created_at": T0,
                    "updated_at": T0,
                }
            )
            findings.append(
                {
                    "run_id": 1,
                    "subscriber_id": i,
                    "verdict": "review",
                    "reasons": ["FACE_MATCH_UNCERTAIN"],
                    "evidence": EVIDENCE,
                    "distances": {"id_portrait~live:face_cosine": 0.31},
                    "policy_version": "bench",
                    "preview": False,
                    "created_at": T0,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(SUBSCRIBER), subs)
            conn.execute(insert(FINDING), findings)
    return write_engine_for(url)


def timed(label: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"  {label}: {time.perf_counter() - start:.2f} s", flush=True)
    return out


def decide_at_once(engine: Engine, rules: ReviewRules, reviewers: list[int], items: int, now: dt.datetime) -> None:
    done: list[int] = []
    lock = threading.Lock()

    def work(reviewer_id: int) -> None:
        while True:
            with lock:
                if len(done) >= items:
                    return
            item = next_item(engine, rules, reviewer_id, now)
            if item is None:
                return
            decide(engine, rules, item_id=item, reviewer_id=reviewer_id, decision=Decision.PASS, reason=None, now=now)
            with lock:
                done.append(item)

    threads = [threading.Thread(target=work, args=(r,)) for r in reviewers]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(REVIEW_DECISION)).scalar_one()
    print(
        f"  {len(reviewers)} reviewers, next+decide at once: {len(done)} items in {seconds:.2f} s "
        f"({len(done) / seconds:.0f} decisions/s); distinct items {len(set(done))}, decision rows {rows}",
        flush=True,
    )


def run(url: str, n: int) -> None:
    engine = timed(f"seed {n:,} subscribers with a review finding", seed, url, n)
    first = timed("sync_items (makes every item)", sync_items, engine, T0)
    again = timed("sync_items again (nothing to do)", sync_items, engine, T0)
    print(f"    made {first.created:,}; second pass made {again.created}, kept {again.kept:,}")
    rules = ReviewRules(max_per_reviewer=20)
    for k in range(20):
        add_reviewer(engine, login=f"all{k}", name=f"All {k}", actor="bench", now=T0)
    given = timed("assign_pending, 20 reviewers covering all", assign_pending, engine, rules, T0)
    print(f"    assigned {sum(given.values())}")
    later = T0 + dt.timedelta(hours=1)  # every lease above has expired
    for k in range(20):
        add_reviewer(engine, login=f"bj{k}", name=f"Beijing {k}", regions=["11"], actor="bench", now=T0)
    for k in range(20):  # the all-scope reviewers step aside for the scoped deal
        update_reviewer(engine, f"all{k}", active=False, actor="bench", now=T0)
    given = timed("assign_pending, 20 reviewers covering 1% (Beijing)", assign_pending, engine, rules, later)
    print(f"    assigned {sum(given.values())}")
    ids = []
    for k in range(5):
        ids.append(add_reviewer(engine, login=f"desk{k}", name=f"Desk {k}", actor="bench", now=T0))
    decide_at_once(engine, ReviewRules(max_per_reviewer=20), ids, 1000, later + dt.timedelta(hours=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite, {args.subscribers:,} subscribers")
        run(f"sqlite:///{Path(tmp) / 'review.db'}", args.subscribers)
    with pg_schema() as url:
        if url is None:
            print("PostgreSQL not reachable: skipped")
            return
        print(f"PostgreSQL, {args.subscribers:,} subscribers")
        run(url, args.subscribers)


if __name__ == "__main__":
    main()
