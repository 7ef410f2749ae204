"""The review app in headless Chromium (Debian's ``chromium`` and ``chromedriver``, served by waitress
on a free port): a reviewer signs in, takes the next item, sees its photos with the face box drawn over
them, decides by keyboard, and the case and the audit log change; another reviewer cannot open the item;
a photo without a session and a decision with a forged CSRF token are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import MARKS, open_chromium
from review_web import PASSWORD, WebBase, build, serving
from sqlalchemy import select

from scanner.tables import AUDIT_EVENT, CASE, REVIEW_ITEM

pytestmark = MARKS


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[WebBase, str]]:
    base = build(f"sqlite:///{tmp_path / 'review.db'}", tmp_path, people=3)
    with serving(base.app) as root:
        yield base, root


def _browser() -> Any:
    return open_chromium(1400, 1000)


@pytest.fixture
def browsers() -> Iterator[list[Any]]:
    opened: list[Any] = []
    try:
        yield opened
    finally:
        for driver in opened:
            driver.quit()


def sign_in(driver: Any, root: str, login: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{root}/next")
    assert "/login" in driver.current_url  # not signed in: sent to sign in first
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()


def _item_of(driver: Any) -> int:
    return int(driver.current_url.rstrip("/").rsplit("/", 1)[-1])


def test_a_reviewer_decides_by_keyboard_and_others_are_kept_out(
    served: tuple[WebBase, str], browsers: list[Any]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, root = served
    wang = _browser()
    browsers.append(wang)
    sign_in(wang, root, "wang")
    WebDriverWait(wang, 10).until(lambda d: "/items/" in d.current_url)
    item = _item_of(wang)
    images = wang.find_elements(By.CSS_SELECTOR, ".photo img")
    assert len(images) == 2
    WebDriverWait(wang, 10).until(
        lambda d: all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i) for i in images)
    )
    assert [i.get_attribute("naturalWidth") for i in images] == ["100", "100"]  # the photos arrived
    boxes = wang.find_elements(By.CSS_SELECTOR, ".photo svg.overlay rect")
    assert len(boxes) == 2 and boxes[0].size["width"] > 50  # the face box, drawn at the photo's scale
    assert "139****" in wang.find_element(By.ID, "subscriber").text
    assert wang.find_element(By.ID, "match").text.count("review") >= 1

    # Another reviewer signed in elsewhere cannot open wang's item or its photos.
    li = _browser()
    browsers.append(li)
    sign_in(li, root, "li")
    WebDriverWait(li, 10).until(lambda d: "/items/" in d.current_url)
    own = _item_of(li)
    assert own != item
    li.get(f"{root}/items/{item}")
    assert "assigned to another reviewer" in li.find_element(By.ID, "error-message").text
    # A forged CSRF token is refused, even from a signed-in page.
    status = li.execute_script(
        "const r = await fetch(arguments[0], {method: 'POST', headers: {'Content-Type': 'application/json', "
        "'X-CSRFToken': 'forged'}, body: JSON.stringify({decision: 'pass'})}); return r.status;",
        f"{root}/api/items/{own}/decision",
    )
    assert status == 400
    # Without a session, a photo is refused.
    photo = images[0].get_attribute("src")
    li.delete_all_cookies()
    li.get(photo)
    assert "sign in first" in li.find_element(By.TAG_NAME, "body").text

    # Keyboard: F with no reason chosen focuses the list; a reason, then Enter, fails the item.
    body = wang.find_element(By.TAG_NAME, "body")
    body.send_keys("f")
    reason = wang.find_element(By.ID, "reason")
    assert wang.switch_to.active_element == reason
    Select(reason).select_by_value("FACE_MISMATCH")
    reason.send_keys(Keys.ENTER)
    WebDriverWait(wang, 10).until(lambda d: _item_of(d) != item if "/items/" in d.current_url else True)
    assert f"item {item}: fail" in wang.find_element(By.CSS_SELECTOR, ".flashes").text
    # P passes the next one.
    following = _item_of(wang)
    wang.find_element(By.TAG_NAME, "body").send_keys("p")
    WebDriverWait(wang, 10).until(lambda d: f"/items/{following}" not in d.current_url)

    with base.engine.connect() as conn:
        items = {r.id: r for r in conn.execute(select(REVIEW_ITEM))}
        case = conn.execute(select(CASE).where(CASE.c.subscriber_id == items[item].subscriber_id)).one()
        decided = [
            (r.actor, r.detail["item"], r.detail["decision"])
            for r in conn.execute(select(AUDIT_EVENT).where(AUDIT_EVENT.c.action == "review.decide"))
        ]
        viewed = {
            r.detail["item"]
            for r in conn.execute(select(AUDIT_EVENT).where(AUDIT_EVENT.c.action == "review.photo_view"))
        }
    assert (items[item].decision, items[item].decision_reason) == ("fail", "FACE_MISMATCH")
    assert items[following].decision == "pass"
    assert case.reasons == ["FACE_MISMATCH"] and case.state == "open"
    assert decided == [("review:wang", item, "fail"), ("review:wang", following, "pass")]
    assert {item, following} <= viewed
    errors = [e for e in wang.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no script error, nothing blocked by the content security policy
