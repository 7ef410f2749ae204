"""The review web app's costs: sign-in (argon2id), the item page, a photo prepared for the page (decoded
as the checks decode it, re-encoded as JPEG) on the real photos of ``../shared/faces``, and 5 reviewers
deciding at once through the HTTP endpoints of a waitress server, on SQLite and PostgreSQL.

    .venv/bin/python bench/review_web.py [--items 1000]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the tests' review base: made-up subscribers, reviewers

from queue_load import pg_schema  # noqa: E402  (bench/ is on the path when this script runs)
from review_web import PASSWORD, T0, build, serving  # noqa: E402

from scanner.review.reviewers import add_reviewer  # noqa: E402
from scanner.web import photos  # noqa: E402

FACES = Path(os.environ.get("REALNAME_FACES_DIR", ROOT.parent / "shared" / "faces"))
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def photo_costs() -> None:
    manifest = FACES / "manifest.csv"
    if not manifest.exists():
        print(f"  photos: {manifest} missing, skipped")
        return
    with manifest.open(encoding="utf-8") as fh:
        files = [str(FACES / row["file"]) for row in csv.DictReader(fh)]
    cold, warm = [], []
    for path in files:
        photos._cache.clear()
        start = time.perf_counter()
        photos.prepare(path)
        cold.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        photos.prepare(path)
        warm.append((time.perf_counter() - start) * 1000)
    print(
        f"  a photo for the page, {len(files)} photos of the face set: median {statistics.median(cold):.1f} ms "
        f"(p95 {sorted(cold)[int(len(cold) * 0.95)]:.1f} ms) read+decode+JPEG, {statistics.median(warm):.2f} ms "
        f"from the page's cache"
    )


def page_costs(url: str, folder: Path) -> None:
    base = build(url, folder, people=50)
    times = []
    for _ in range(5):
        client = base.app.test_client()
        token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        start = time.perf_counter()
        signed = client.post("/login", data={"login": "wang", "password": PASSWORD, "csrf_token": token})
        times.append((time.perf_counter() - start) * 1000)
        assert signed.status_code == 302, signed.status_code
    print(f"  sign-in (argon2id verify, session row, audit row): median {statistics.median(times):.0f} ms")
    item = client.get("/next").headers["Location"].rsplit("/", 1)[-1]
    print(f"  item page: median {median_ms(lambda: client.get(f'/items/{item}'), 50):.1f} ms")
    photo = re.search(r'src="(/items/\d+/photos/\d+)"', client.get(f"/items/{item}").get_data(True))
    assert photo
    print(
        f"  photo request (access check, audit row): median {median_ms(lambda: client.get(photo.group(1)), 50):.1f} ms"
    )


def http_decisions(url: str, folder: Path, items: int) -> None:
    base = build(url, folder, people=items, with_reviewers=False)
    base.app.config["REALNAME_CLOCK"] = lambda: T0
    for n in range(5):
        add_reviewer(base.engine, login=f"r{n}", name=f"R{n}", password=PASSWORD, actor="bench", now=T0)
    done: list[int] = []

    def reviewer(root: str, login: str) -> None:
        http = requests.Session()
        token = TOKEN.search(http.get(f"{root}/login").text).group(1)  # type: ignore[union-attr]
        http.post(f"{root}/login", data={"login": login, "password": PASSWORD, "csrf_token": token})
        headers = {"X-CSRFToken": http.get(f"{root}/api/csrf").json()["token"]}
        while (item := http.post(f"{root}/api/next", headers=headers).json()["item"]) is not None:
            http.post(f"{root}/api/items/{item}/decision", json={"decision": "pass"}, headers=headers)
            done.append(item)

    with serving(base.app, threads=6) as root:
        threads = [threading.Thread(target=reviewer, args=(root, f"r{n}")) for n in range(5)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
    print(
        f"  5 reviewers over HTTP (next + decision): {len(done)} items in {seconds:.1f} s "
        f"({len(done) / seconds:.0f} decisions/s), distinct {len(set(done))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    photo_costs()
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite")
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        page_costs(f"sqlite:///{Path(tmp) / 'a' / 'web.db'}", Path(tmp) / "a")
        http_decisions(f"sqlite:///{Path(tmp) / 'b' / 'web.db'}", Path(tmp) / "b", args.items)
    for part in ("pages", "http"):
        with pg_schema() as url, tempfile.TemporaryDirectory() as tmp:
            if url is None:
                print("PostgreSQL not reachable: skipped")
                return
            if part == "pages":
                print("PostgreSQL")
                page_costs(url, Path(tmp))
            else:
                http_decisions(url, Path(tmp), args.items)


if __name__ == "__main__":
    main()
