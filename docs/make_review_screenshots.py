"""Screenshots of the review web app for the README (``docs/review.png``, ``docs/queue.png``).

    make demo                                           # the demo base and its first run, in ./demo/
    .venv/bin/python docs/make_review_screenshots.py    # -> docs/review.png, docs/queue.png

Works on a copy of the demo database (``review-shot.db`` beside it): the demo's review findings become
items, two reviewers and an officer are registered, the officer decides some items so that the queue
page's table has something to show, and the app is served by waitress on a free port and looked at
in headless Chromium (Debian's ``chromium`` and ``chromium-driver``). The photos come from the face
set, which is for measuring only: they are blurred in the screenshots (the face boxes and landmarks
drawn over them are not).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import threading
import time
from pathlib import Path

import waitress
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from notices.review import Decision
from scanner.db import open_engine, write_engine_for
from scanner.policyfile import load_policy
from scanner.review.assign import next_item
from scanner.review.decide import decide
from scanner.review.items import sync_items
from scanner.review.reviewers import add_reviewer
from scanner.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a screenshot pass phrase"
BLUR = (
    "document.querySelectorAll('.photo img').forEach(function (i) {"
    " i.style.filter = 'blur(' + Math.max(14, i.clientWidth / 18) + 'px)'; });"
)


def prepare(url: str) -> None:
    open_engine(url)
    engine = write_engine_for(url)
    now = dt.datetime.now(dt.UTC)
    loaded = load_policy(None)
    sync_items(engine, now)
    ids = {}
    for login, name, role in (("wang", "王丽", "reviewer"), ("zhao", "赵敏", "reviewer"), ("chen", "陈刚", "officer")):
        ids[login] = add_reviewer(
            engine, login=login, name=name, role=role, password=PASSWORD, actor="screenshot", now=now
        )
    # The officer decides a dozen items (the oldest first), as a person comparing the photos might.
    for n in range(12):
        item = next_item(engine, loaded.review, ids["chen"], now)
        if item is None:
            break
        decision = (Decision.PASS, Decision.PASS, Decision.FAIL, Decision.RECAPTURE)[n % 4]
        reason = "FACE_MISMATCH" if decision is Decision.FAIL else None
        decide(engine, loaded.review, item_id=item, reviewer_id=ids["chen"], decision=decision, reason=reason, now=now)


def shoot(root: str, out: Path) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1440,1100", "--lang=zh-CN"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    try:
        for login, page, name in (("wang", "/next", "review.png"), ("chen", "/queue", "queue.png")):
            driver.set_window_size(1440, 700)
            driver.delete_all_cookies()
            driver.get(f"{root}/login")
            driver.find_element(By.ID, "login").send_keys(login)
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "sign-in").click()
            driver.get(root + page)
            WebDriverWait(driver, 10).until(
                lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)")
            )
            driver.execute_script(BLUR)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1440, min(max(height + 160, 800), 2600))
            time.sleep(0.3)
            driver.save_screenshot(str(out / name))
            print(f"{out / name}: {driver.current_url}")
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "realname.db", help="the demo's database (make demo)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    copy = args.db.with_name("review-shot.db")
    for stale in (copy, copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(args.db, copy)
    url = f"sqlite:///{copy.resolve()}"
    prepare(url)
    engine = write_engine_for(url)
    app = create_app(engine, load_policy(None), secret=b"screenshots only, never a real key, 32+ bytes")
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        shoot(f"http://127.0.0.1:{server.effective_port}", args.out)  # type: ignore[union-attr]
    finally:
        server.close()


if __name__ == "__main__":
    main()
