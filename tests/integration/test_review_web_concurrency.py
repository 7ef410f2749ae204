"""Five reviewers deciding 500 items at once through the HTTP endpoints of a real server (waitress on a
free port), on SQLite and PostgreSQL: every item is decided exactly once, by whoever took it."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from review_web import PASSWORD, T0, WebBase, build, serving
from sqlalchemy import func, select

from scanner.review.reviewers import add_reviewer
from scanner.tables import AUDIT_EVENT, REVIEW_DECISION, REVIEW_ITEM

pytestmark = pytest.mark.slow
ITEMS = 500
REVIEWERS = 5


@pytest.fixture
def served(any_url: str, tmp_path: Path) -> Iterator[tuple[WebBase, str]]:
    base = build(any_url, tmp_path, people=ITEMS, with_reviewers=False)
    base.app.config["REALNAME_CLOCK"] = lambda: T0  # one moment: no lease runs out mid-test
    for n in range(REVIEWERS):
        add_reviewer(base.engine, login=f"r{n}", name=f"R{n}", password=PASSWORD, actor="t", now=T0)
    with serving(base.app, threads=REVIEWERS + 1) as root:
        yield base, root


def _reviewer(root: str, login: str, decided: list[int], problems: list[str]) -> None:
    http = requests.Session()
    page = http.get(f"{root}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    signed = http.post(f"{root}/login", data={"login": login, "password": PASSWORD, "csrf_token": token}, timeout=30)
    if signed.status_code != 200 or "/login" in signed.url:
        problems.append(f"{login}: sign-in failed ({signed.status_code})")
        return
    headers = {"X-CSRFToken": http.get(f"{root}/api/csrf", timeout=30).json()["token"]}
    while True:
        taken = http.post(f"{root}/api/next", headers=headers, timeout=60)
        if taken.status_code != 200:
            problems.append(f"{login}: next {taken.status_code} {taken.text[:200]}")
            return
        item = taken.json()["item"]
        if item is None:
            return
        done = http.post(f"{root}/api/items/{item}/decision", json={"decision": "pass"}, headers=headers, timeout=60)
        if done.status_code != 200:
            problems.append(f"{login}: item {item}: {done.status_code} {done.text[:200]}")
            continue
        decided.append(item)


def test_five_reviewers_over_http_decide_every_item_exactly_once(served: tuple[WebBase, str]) -> None:
    base, root = served
    decided: dict[str, list[int]] = {f"r{n}": [] for n in range(REVIEWERS)}
    problems: list[str] = []
    threads = [threading.Thread(target=_reviewer, args=(root, login, decided[login], problems)) for login in decided]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not problems, problems[:5]
    everything = [item for items in decided.values() for item in items]
    assert len(everything) == ITEMS and len(set(everything)) == ITEMS
    with base.engine.connect() as conn:
        per_item = Counter(r[0] for r in conn.execute(select(REVIEW_DECISION.c.item_id)))
        states = Counter(r[0] for r in conn.execute(select(REVIEW_ITEM.c.state)))
        audited = conn.execute(select(func.count()).where(AUDIT_EVENT.c.action == "review.decide")).scalar_one()
    assert len(per_item) == ITEMS and set(per_item.values()) == {1}
    assert states == {"decided": ITEMS} and audited == ITEMS
    assert sum(1 for items in decided.values() if items) >= 2  # the work was shared, not done by one
