"""The same work as JSON, for scripts and the page's own requests: a CSRF token, the next item, one
item, a decision. Writes need the session cookie and the token in the ``X-CSRFToken`` header."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_wtf.csrf import generate_csrf

from scanner.review.assign import next_item
from scanner.review.errors import NotFound, NotYours, ReviewError
from scanner.web.app import error
from scanner.web.context import decide_item, engine, now, opened, rules, signed_in, who

bp = Blueprint("api", __name__)


@bp.route("/csrf")
@signed_in
def csrf() -> Any:
    return jsonify(token=generate_csrf())


@bp.route("/next", methods=["POST"])
@signed_in
def next_() -> Any:
    try:
        item = next_item(engine(), rules(), who().id, now())
    except NotFound as exc:
        return error(403, str(exc))
    return jsonify(item=item)


@bp.route("/items/<int:item_id>")
@signed_in
def item(item_id: int) -> Any:
    d = opened(item_id)
    return jsonify(
        id=d.id,
        state=d.state,
        reasons=d.reasons,
        overdue=d.overdue,
        subscriber=d.subscriber,
        photos=[
            {"id": p.id, "kind": p.kind, "sha256": p.sha256, "measured": p.measurement is not None} for p in d.photos
        ],
        evidence=d.evidence,
        match=d.match,
    )


@bp.route("/items/<int:item_id>/decision", methods=["POST"])
@signed_in
def decision(item_id: int) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, f"review item {item_id}: send a JSON object with decision, reason and note")
    try:
        result = decide_item(
            item_id, str(body.get("decision", "")), body.get("reason"), str(body.get("note", ""))[:2000]
        )
    except NotFound as exc:
        return error(404, str(exc))
    except NotYours as exc:
        return error(403, str(exc))
    except ReviewError as exc:
        return error(409, str(exc))
    return jsonify(result.__dict__)
