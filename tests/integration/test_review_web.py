"""The review web app through its HTTP interface (Flask's test client) on SQLite and PostgreSQL: sign-in
and sessions, who may see an item and its photos, CSRF, decisions by form and by JSON, wrong passwords
slowing down and then locking an account, missing and unreadable photos, the officer's queue page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from review_web import PASSWORD, REASON, WebBase, build
from sqlalchemy import func, select

from scanner.tables import AUDIT_EVENT, CASE, REVIEW_DECISION, WEB_SESSION

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def base(any_url: str, tmp_path: Path) -> WebBase:
    return build(any_url, tmp_path)


def csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    found = TOKEN.search(page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:500]
    return found.group(1)


def sign_in(client: FlaskClient, login: str, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"login": login, "password": password, "csrf_token": csrf(client)})


def audit(base: WebBase, action: str) -> list[dict[str, Any]]:
    with base.engine.connect() as conn:
        rows = conn.execute(select(AUDIT_EVENT).where(AUDIT_EVENT.c.action == action).order_by(AUDIT_EVENT.c.seq))
        return [dict(r._mapping) for r in rows]


def take_next(client: FlaskClient) -> int:
    response = client.get("/next")
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def test_a_reviewer_signs_in_sees_an_item_and_its_photos_and_decides_it(base: WebBase) -> None:
    client = base.app.test_client()
    assert client.get("/next").status_code == 302 and "/login" in client.get("/next").headers["Location"]
    assert sign_in(client, "wang").status_code == 302
    item = take_next(client)
    page = client.get(f"/items/{item}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    sid = next(i["subscriber_id"] for i in base.items() if i["id"] == item)
    photos = base.photo_ids(sid)
    assert f"/items/{item}/photos/{photos['live']}" in html and f"/items/{item}/photos/{photos['id_portrait']}" in html
    assert '<rect x="20.0" y="30.0" width="60.0" height="70.0"' in html  # the measured face box, drawn
    assert html.count("<circle") == 10  # five landmarks on each photo
    assert "139****" in html and "1391000000" not in html  # the number masked, never in full
    assert "band-review" in html and "0.3100" in html and REASON in html

    shot = client.get(f"/items/{item}/photos/{photos['live']}")
    assert shot.status_code == 200 and shot.mimetype == "image/jpeg" and shot.data[:2] == b"\xff\xd8"
    assert shot.headers["Cache-Control"] == "no-store"
    views = audit(base, "review.photo_view")
    assert [(v["actor"], v["detail"]["item"], v["detail"]["kind"]) for v in views] == [("review:wang", item, "live")]

    token = TOKEN.search(html).group(1)  # type: ignore[union-attr]
    no_reason = client.post(f"/items/{item}/decision", data={"decision": "fail", "csrf_token": token})
    assert no_reason.status_code == 302 and no_reason.headers["Location"].endswith(f"/items/{item}")
    done = client.post(
        f"/items/{item}/decision",
        data={"decision": "fail", "reason": "FACE_MISMATCH", "note": "not the same person", "csrf_token": token},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/next")
    with base.engine.connect() as conn:
        case = conn.execute(select(CASE).where(CASE.c.subscriber_id == sid)).one()
        decision = conn.execute(select(REVIEW_DECISION)).one()
    assert case.reasons == ["FACE_MISMATCH"] and case.opened_by_review_id == item
    assert decision.shown["via"] == "web" and decision.note == "not the same person"
    assert [(a["actor"], a["detail"]["decision"]) for a in audit(base, "review.decide")] == [("review:wang", "fail")]
    assert client.get(f"/items/{item}").status_code == 403  # decided: no longer held by wang


def test_another_reviewer_cannot_open_or_decide_an_item_nor_see_its_photos(base: WebBase) -> None:
    wang, li = base.app.test_client(), base.app.test_client()
    sign_in(wang, "wang")
    sign_in(li, "li")
    item = take_next(wang)
    sid = next(i["subscriber_id"] for i in base.items() if i["id"] == item)
    assert li.get(f"/items/{item}").status_code == 403
    assert li.get(f"/items/{item}/photos/{base.photo_ids(sid)['live']}").status_code == 403
    token = li.get("/api/csrf").get_json()["token"]
    refused = li.post(f"/api/items/{item}/decision", json={"decision": "pass"}, headers={"X-CSRFToken": token})
    assert refused.status_code == 403 and "assigned to another reviewer" in refused.get_json()["error"]
    assert li.get(f"/api/items/{item}").status_code == 403
    unknown = li.get("/items/99999")
    assert unknown.status_code == 404 and "review item 99999: no such item" in unknown.get_data(as_text=True)
    assert li.get("/queue").status_code == 403  # the queue page is for officers
    boss = base.app.test_client()
    sign_in(boss, "boss")
    assert boss.get(f"/items/{item}").status_code == 200  # an officer sees every item
    assert audit(base, "review.photo_view") == []  # nothing was shown


def test_without_a_session_or_with_a_forged_token_nothing_is_served_or_changed(base: WebBase) -> None:
    anonymous = base.app.test_client()
    wang = base.app.test_client()
    sign_in(wang, "wang")
    item = take_next(wang)
    sid = next(i["subscriber_id"] for i in base.items() if i["id"] == item)
    photo = f"/items/{item}/photos/{base.photo_ids(sid)['live']}"
    assert anonymous.get(photo).status_code == 401
    assert anonymous.post(f"/api/items/{item}/decision", json={"decision": "pass"}).status_code in (400, 401)
    forged = wang.post(f"/items/{item}/decision", data={"decision": "pass", "csrf_token": "forged"})
    assert forged.status_code == 400 and "CSRF" in forged.get_data(as_text=True)
    missing = wang.post(f"/api/items/{item}/decision", json={"decision": "pass"})
    assert missing.status_code == 400 and "CSRF" in missing.get_json()["error"]
    other = base.app.test_client()  # a token from another session is refused too
    sign_in(other, "li")
    stolen = other.get("/api/csrf").get_json()["token"]
    crossed = wang.post(f"/api/items/{item}/decision", json={"decision": "pass"}, headers={"X-CSRFToken": stolen})
    assert crossed.status_code == 400
    assert audit(base, "review.decide") == [] and audit(base, "review.photo_view") == []
    token = wang.get("/api/csrf").get_json()["token"]
    bad = wang.post(f"/api/items/{item}/decision", json={"decision": "maybe"}, headers={"X-CSRFToken": token})
    assert bad.status_code == 409 and "not pass, fail or recapture" in bad.get_json()["error"]
    ok = wang.post(f"/api/items/{item}/decision", json={"decision": "pass"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.get_json()["state"] == "decided"
    again = wang.post(f"/api/items/{item}/decision", json={"decision": "pass"}, headers={"X-CSRFToken": token})
    assert again.status_code in (403, 409)


def test_sessions_expire_when_idle_and_end_at_sign_out(base: WebBase) -> None:
    client = base.app.test_client()
    sign_in(client, "wang")
    assert client.get("/items").status_code == 200
    base.clock.move(minutes=20)
    assert client.get("/items").status_code == 200  # a request moves the expiry on
    base.clock.move(minutes=20)
    assert client.get("/items").status_code == 200
    base.clock.move(minutes=31)
    expired = client.get("/items")
    assert expired.status_code == 302 and "/login" in expired.headers["Location"]
    assert "session has expired" in client.get("/login").get_data(as_text=True)
    assert client.get("/api/csrf").status_code == 401

    sign_in(client, "wang")
    cookie = client.get_cookie("realname_session")
    assert cookie is not None
    client.post("/logout", data={"csrf_token": csrf(client, "/items")})
    replay = base.app.test_client()
    replay.set_cookie("realname_session", cookie.value)
    assert replay.get("/api/csrf").status_code == 401  # the signed cookie alone is not a session
    assert [a["action"] for a in audit(base, "web.sign_out")] == ["web.sign_out"]
    base.clock.move(days=2)
    sign_in(client, "li")  # a sign-in clears sessions that expired more than a day ago
    with base.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WEB_SESSION)).scalar_one() == 1


def test_wrong_passwords_slow_sign_in_down_then_lock_the_account(base: WebBase) -> None:
    client = base.app.test_client()
    unknown = sign_in(client, "nobody", "whatever-it-is")
    first = sign_in(client, "wang", "not the password")
    assert unknown.status_code == first.status_code == 401
    assert "wrong login or password" in unknown.get_data(as_text=True)
    assert "wrong login or password" in first.get_data(as_text=True)
    sign_in(client, "wang", "not the password")
    third = sign_in(client, "wang", "not the password").get_data(as_text=True)
    assert "3 in a row" in third and "wait for 5 s" in third
    refused = sign_in(client, "wang").get_data(as_text=True)  # even the right password waits
    assert "try again in" in refused
    base.clock.move(seconds=6)
    assert "wait for 10 s" in sign_in(client, "wang", "not the password").get_data(as_text=True)
    base.clock.move(seconds=11)
    fifth = sign_in(client, "wang", "not the password").get_data(as_text=True)
    assert "the account is locked for 15 min" in fifth
    base.clock.move(minutes=10)
    assert "try again in" in sign_in(client, "wang").get_data(as_text=True)
    base.clock.move(minutes=6)
    assert sign_in(client, "wang").status_code == 302  # the lock has passed; the count starts again
    failed = audit(base, "web.sign_in_failed")
    assert [f["detail"].get("failures") for f in failed] == [None, 1, 2, 3, 4, 5]
    assert len(audit(base, "web.sign_in_refused")) == 2 and len(audit(base, "web.sign_in")) == 1
    assert all(PASSWORD not in str(f["detail"]) for f in failed)


def test_a_missing_or_unreadable_photo_is_named_and_the_item_can_be_recaptured(base: WebBase) -> None:
    client = base.app.test_client()
    sign_in(client, "wang")
    item = take_next(client)
    sid = next(i["subscriber_id"] for i in base.items() if i["id"] == item)
    (base.folder / f"{sid}-live.jpg").unlink()
    (base.folder / f"{sid}-id_portrait.jpg").write_bytes(b"not a picture at all")
    html = client.get(f"/items/{item}").get_data(as_text=True)
    assert f"file not found: {sid}-live.jpg" in html and "not an image" in html
    assert str(base.folder) not in html  # the page names the file, not where the base keeps it
    shot = client.get(f"/items/{item}/photos/{base.photo_ids(sid)['live']}")
    assert shot.status_code == 422 and "cannot be shown" in shot.get_json()["error"]
    token = TOKEN.search(html).group(1)  # type: ignore[union-attr]
    client.post(f"/items/{item}/decision", data={"decision": "recapture", "csrf_token": token})
    with base.engine.connect() as conn:
        case = conn.execute(select(CASE).where(CASE.c.subscriber_id == sid)).one()
    assert case.reasons == ["PHOTO_RECAPTURE"]


def test_the_officer_sees_the_queue_and_the_agreement_table(base: WebBase) -> None:
    wang, boss = base.app.test_client(), base.app.test_client()
    sign_in(wang, "wang")
    token = wang.get("/api/csrf").get_json()["token"]
    for decision in ("pass", "fail"):
        item = wang.post("/api/next", headers={"X-CSRFToken": token}).get_json()["item"]
        body = {"decision": decision, "reason": "FACE_MISMATCH" if decision == "fail" else None}
        assert wang.post(f"/api/items/{item}/decision", json=body, headers={"X-CSRFToken": token}).status_code == 200
    take_next(wang)
    base.clock.move(hours=25)  # past the 24 h service target: the open items are overdue
    sign_in(boss, "boss")
    page = boss.get("/queue")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r'id="n-decided">2<', html) and re.search(r'id="n-overdue">3<', html)
    assert re.search(r'id="n-assigned">0<', html)  # wang's lease ran out with the clock
    assert REASON in html and "50%" in html  # one pass and one fail of FACE_MATCH_UNCERTAIN flags
    assert boss.get("/").headers["Location"].endswith("/queue")
    sign_in(wang, "wang")
    assert "/next" in wang.get("/").headers["Location"]


def test_sign_in_goes_only_to_this_site(base: WebBase) -> None:
    client = base.app.test_client()
    token = csrf(client)
    response = client.post(
        "/login", data={"login": "wang", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
