"""The pages: the next item, one item with its photos and measurements and the decision form, the
reviewer's or officer's list of items, the officer's queue page, and the photos themselves (only to a
reviewer who holds the item, or an officer; each view an audit row)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from notices.reasons import describe_evidence, reason_text
from notices.review import RECAPTURE_REASON, ItemState, fail_reasons
from scanner.audit.log import record
from scanner.review.assign import next_item, release
from scanner.review.detail import ItemDetail, list_items
from scanner.review.errors import NotFound, NotYours, ReviewError
from scanner.review.stats import confusion, disagreements, queue_summary
from scanner.web.context import decide_item, engine, now, officer_only, opened, rules, signed_in, who
from scanner.web.photos import prepare

bp = Blueprint("pages", __name__)
KIND_NAMES = {"id_portrait": "证件照 ID portrait", "live": "现场照 Live photo", "handheld": "手持证件照 Handheld"}


@bp.route("/")
@signed_in
def home() -> Any:
    return redirect(url_for("pages.queue" if who().officer else "pages.next_page"))


@bp.route("/next")
@signed_in
def next_page() -> Any:
    try:
        item = next_item(engine(), rules(), who().id, now())
    except NotFound as exc:
        abort(403, str(exc))
    if item is None:
        return render_template("empty.html")
    return redirect(url_for("pages.item_page", item_id=item))


def _photo_views(detail: ItemDetail) -> list[dict[str, Any]]:
    views = []
    for p in detail.photos:
        prepared = prepare(p.uri)
        m = p.measurement or {}
        width = int(m.get("width_px") or prepared.width)
        height = int(m.get("height_px") or prepared.height)
        flat = list(m.get("landmarks") or [])
        changed = bool(prepared.sha256 and p.sha256 and prepared.sha256 != p.sha256)
        views.append(
            {
                "id": p.id,
                "kind": p.kind,
                "title": KIND_NAMES.get(p.kind, p.kind)
                if p.owner is None
                else f"同一人像 · 其他证件名下 Same face, another ID: {p.owner}",
                "file": p.uri.rsplit("/", 1)[-1],
                "problem": prepared.problem,
                "changed": changed,
                "width": width,
                "height": height,
                "box": m.get("face_box") if not changed else None,
                "points": list(zip(flat[0::2], flat[1::2], strict=False)) if not changed else [],
                "face_count": m.get("face_count"),
                "measured": bool(m),
                "stroke": max(2.0, width / 250),
            }
        )
    return views


@bp.route("/items/<int:item_id>")
@signed_in
def item_page(item_id: int) -> Any:
    detail = opened(item_id)
    evidence = []
    for e in detail.evidence:
        where_zh, measured = describe_evidence(e, "zh")
        where_en, _ = describe_evidence(e, "en")
        evidence.append({**e, "where_zh": where_zh, "where_en": where_en, "measured": measured})
    open_states = {ItemState.PENDING.value, ItemState.SECOND.value, ItemState.DISPUTED.value}
    return render_template(
        "item.html",
        d=detail,
        photos=_photo_views(detail),
        reasons=[(code, reason_text(code)) for code in detail.reasons],
        evidence=evidence,
        fail_reasons=[(code, reason_text(code)) for code in fail_reasons()],
        recapture=reason_text(RECAPTURE_REASON),
        decidable=detail.state in open_states,
        me=who(),
    )


@bp.route("/items/<int:item_id>/decision", methods=["POST"])
@signed_in
def decide_page(item_id: int) -> Any:
    form = request.form
    try:
        result = decide_item(item_id, form.get("decision", ""), form.get("reason"), form.get("note", ""))
    except NotFound as exc:
        abort(404, str(exc))
    except NotYours as exc:
        abort(403, str(exc))
    except ReviewError as exc:
        flash(str(exc), "error")
        return redirect(url_for("pages.item_page", item_id=item_id))
    what = {"second": "waits for a second reviewer", "disputed": "goes to an officer (the reviewers disagree)"}
    flash(f"item {item_id}: {form.get('decision')} — " + what.get(result.state, "decided"))
    return redirect(url_for("pages.next_page"))


@bp.route("/items/<int:item_id>/release", methods=["POST"])
@signed_in
def release_page(item_id: int) -> Any:
    if release(engine(), item_id, who().id, now()):
        flash(f"item {item_id}: given back to the queue")
    return redirect(url_for("pages.items_page"))


@bp.route("/items/<int:item_id>/photos/<int:photo_id>")
@signed_in
def photo(item_id: int, photo_id: int) -> Any:
    detail = opened(item_id)
    shown = next((p for p in detail.photos if p.id == photo_id), None)
    if shown is None:
        abort(404, f"review item {item_id}: photo {photo_id} is not one of its photos")
    prepared = prepare(shown.uri)
    me, at = who(), now()
    with engine().begin() as conn:
        record(
            conn,
            at,
            me.actor,
            "review.photo_view",
            f"review item {item_id}",
            subscriber_id=detail.subscriber_id,
            item=item_id,
            photo=photo_id,
            kind=shown.kind,
            sha256=prepared.sha256,
            shown=prepared.jpeg is not None,
        )
    if prepared.jpeg is None:
        abort(422, f"review item {item_id}: {shown.kind} photo cannot be shown: {prepared.problem}")
    return Response(prepared.jpeg, mimetype="image/jpeg", headers={"Content-Disposition": "inline"})


@bp.route("/items")
@signed_in
def items_page() -> Any:
    me, at = who(), now()
    state = request.args.get("state", "open")
    known = [s.value for s in ItemState]
    if state not in ("open", "all", *known):
        abort(400, f"state {state!r}: one of open, all, {', '.join(known)}")
    states = None if state == "open" else known if state == "all" else [state]
    with engine().connect() as conn:
        if me.officer:
            items = list_items(conn, rules(), at, states=states, overdue_only=bool(request.args.get("overdue")))
        else:
            items = list_items(conn, rules(), at, assignee_id=me.id)
    return render_template("items.html", items=items, state=state, states=["open", *known, "all"], now=at, me=me)


@bp.route("/queue")
@officer_only
def queue() -> Any:
    at = now()
    with engine().connect() as conn:
        summary = queue_summary(conn, rules(), at)
        table = [r.to_dict() for r in confusion(conn)]
        seconds = disagreements(conn)
        oldest = list_items(conn, rules(), at, limit=20)
    return render_template(
        "queue.html", s=summary, table=table, seconds=seconds, oldest=oldest, now=at, me=who(), rules=rules()
    )
