"""``realname review``: the human review queue from the command line, for scripted use. Wiring only:
the work is in ``scanner.review``; the text is ``console_review``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from scanner.cli.common import (
    DatabaseOpt,
    FormatOpt,
    NowOpt,
    OfficerOpt,
    OutputFormat,
    PolicyOpt,
    emit,
    fail,
    loaded_policy,
    login,
    moment,
    write_engine,
)
from scanner.cli.reviewers import reviewers_app

review_app = typer.Typer(
    help="Human review: reviewers, the queue of review items, assignment and decisions.", no_args_is_help=True
)
review_app.add_typer(reviewers_app, name="reviewers")

ReviewerOpt = Annotated[str, typer.Option("--reviewer", help="The deciding reviewer's login.")]
# --- the queue ---------------------------------------------------------------------------------


@review_app.command("assign")
def review_assign(
    policy: PolicyOpt = None, now: NowOpt = None, format: FormatOpt = OutputFormat.TEXT, database: DatabaseOpt = None
) -> None:
    """Make items from the newest enforcing run's review findings, then deal the waiting ones to the
    least-loaded eligible reviewers, oldest first (idempotent: run it from cron)."""
    from scanner.cli.console import console
    from scanner.review.assign import assign_pending
    from scanner.review.items import sync_items

    loaded = loaded_policy(policy)
    at = moment(now, loaded.enforcement.zone)
    engine = write_engine(database)
    synced = sync_items(engine, at).to_dict()
    given = assign_pending(engine, loaded.review, at)
    if format is OutputFormat.JSON:
        emit({"items": synced, "assigned": given})
        return
    dealt = ", ".join(f"{who} {n}" for who, n in sorted(given.items())) or "none"
    console.print(
        f"review assign at {at.isoformat()}: "
        + (f"run {synced['run']}: " if synced["run"] else "no enforcing run yet: ")
        + f"{synced['created']} items made, {synced['moved']} moved to new photos or reasons, "
        f"{synced['withdrawn']} withdrawn; assigned: {dealt}",
        highlight=False,
    )


@review_app.command("list")
def review_list(
    state: Annotated[
        str,
        typer.Option("--state", help="open, pending, second, disputed, decided, withdrawn or all."),
    ] = "open",
    reviewer: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--reviewer", help="Only the items this reviewer holds now."),
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only items older than the service target.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="At most this many (0: all).")] = 200,
    policy: PolicyOpt = None,
    now: NowOpt = None,
    format: FormatOpt = OutputFormat.TEXT,
    database: DatabaseOpt = None,
) -> None:
    """Review items, oldest first, with who holds them and whether they are overdue (numbers masked)."""
    from notices.review import ItemState
    from scanner.cli.console import console
    from scanner.cli.console_review import items_table
    from scanner.review.detail import list_items
    from scanner.review.reviewers import reviewer_by_login

    known = [s.value for s in ItemState]
    if state == "open":
        states = None
    elif state == "all":
        states = known
    elif state in known:
        states = [state]
    else:
        raise fail(f"--state {state!r}: one of open, {', '.join(known)}, all")
    loaded = loaded_policy(policy)
    at = moment(now, loaded.enforcement.zone)
    with write_engine(database).connect() as conn:
        assignee = None
        if reviewer:
            row = reviewer_by_login(conn, reviewer)
            if row is None:
                raise fail(f"reviewer {reviewer}: not registered")
            assignee = row.id
        items = list_items(
            conn, loaded.review, at, states=states, assignee_id=assignee, overdue_only=overdue, limit=limit
        )
    if format is OutputFormat.JSON:
        emit([item.__dict__ for item in items])
        return
    console.print(items_table(items, at))


@review_app.command("next")
def review_next(
    reviewer: ReviewerOpt,
    policy: PolicyOpt = None,
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The item a reviewer should decide now (the oldest they hold, else one assigned to them now)."""
    from scanner.review.assign import next_item
    from scanner.review.errors import ReviewError
    from scanner.review.reviewers import reviewer_by_login

    loaded = loaded_policy(policy)
    engine = write_engine(database)
    with engine.connect() as conn:
        row = reviewer_by_login(conn, reviewer)
    if row is None:
        raise fail(f"reviewer {reviewer}: not registered")
    try:
        item = next_item(engine, loaded.review, row.id, moment(now, loaded.enforcement.zone))
    except ReviewError as exc:
        raise fail(str(exc)) from None
    emit({"reviewer": reviewer, "item": item})


@review_app.command("show")
def review_show(
    item: Annotated[int, typer.Argument(help="Review item id.")],
    policy: PolicyOpt = None,
    now: NowOpt = None,
    format: FormatOpt = OutputFormat.TEXT,
    database: DatabaseOpt = None,
) -> None:
    """One item as a reviewer sees it: photos, measurements against thresholds, the face score and its
    band, the subscriber masked."""
    from scanner.cli.console import console
    from scanner.cli.console_review import detail_renderables
    from scanner.review.detail import item_detail
    from scanner.review.errors import ReviewError

    loaded = loaded_policy(policy)
    at = moment(now, loaded.enforcement.zone)
    try:
        with write_engine(database).connect() as conn:
            detail = item_detail(conn, item, loaded.review, at, policy=loaded.policy)
    except ReviewError as exc:
        raise fail(str(exc)) from None
    if format is OutputFormat.JSON:
        emit(detail.__dict__ | {"photos": [p.__dict__ for p in detail.photos]})
        return
    for part in detail_renderables(detail):
        console.print(part)


@review_app.command("decide")
def review_decide(
    item: Annotated[int, typer.Argument(help="Review item id.")],
    decision: Annotated[str, typer.Option("--decision", help="pass, fail or recapture.")],
    reviewer: ReviewerOpt,
    reason: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--reason", help="For a fail: the reason code the notices will give (e.g. FACE_MISMATCH)."),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A note kept with the decision.")] = "",
    policy: PolicyOpt = None,
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Decide an item the reviewer holds (an officer: any open item). A fail opens or keeps the case
    with the reason; recapture asks the subscriber for new photos; a pass resolves a case a review opened."""
    from notices.review import Decision, fail_reasons
    from scanner.review.decide import decide
    from scanner.review.detail import item_detail
    from scanner.review.errors import ReviewError
    from scanner.review.reviewers import reviewer_by_login
    from scanner.review.shown import shown_of

    try:
        chosen = Decision(decision)
    except ValueError:
        raise fail(f"--decision {decision!r}: one of pass, fail, recapture") from None
    if chosen is Decision.FAIL and reason not in fail_reasons():
        raise fail(f"--reason {reason!r}: a fail needs one of {', '.join(fail_reasons())}")
    loaded = loaded_policy(policy)
    at = moment(now, loaded.enforcement.zone)
    engine = write_engine(database)
    try:
        with engine.connect() as conn:
            row = reviewer_by_login(conn, reviewer)
            if row is None:
                raise fail(f"reviewer {reviewer}: not registered")
            shown = shown_of(item_detail(conn, item, loaded.review, at, policy=loaded.policy))
        result = decide(
            engine,
            loaded.review,
            item_id=item,
            reviewer_id=row.id,
            decision=chosen,
            reason=reason,
            note=note,
            now=at,
            shown={**shown, "via": "cli"},
        )
    except ReviewError as exc:
        raise fail(str(exc)) from None
    emit(result.__dict__)


@review_app.command("refer")
def review_refer(
    who: Annotated[str, typer.Argument(help="Account id or mobile number.")],
    note: Annotated[str, typer.Option("--note", help="What the reviewer should look at.")],
    officer: OfficerOpt = "",
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Send a subscriber to review with a note (an officer's referral)."""
    from scanner.review.errors import ReviewError
    from scanner.review.items import refer

    try:
        item = refer(write_engine(database), who, note, officer or login(), moment(now))
    except ReviewError as exc:
        raise fail(str(exc)) from None
    emit({"item": item, "state": "pending"})


@review_app.command("queue")
def review_queue(
    policy: PolicyOpt = None, now: NowOpt = None, format: FormatOpt = OutputFormat.TEXT, database: DatabaseOpt = None
) -> None:
    """The officer's view: items waiting, held, overdue and decided, per reviewer, and how reviewers'
    decisions agree with the automatic flags, reason by reason."""
    from scanner.cli.console import console
    from scanner.cli.console_review import confusion_table, queue_line, reviewers_table
    from scanner.review.stats import confusion, disagreements, queue_summary

    loaded = loaded_policy(policy)
    at = moment(now, loaded.enforcement.zone)
    with write_engine(database).connect() as conn:
        summary = queue_summary(conn, loaded.review, at)
        table = confusion(conn)
        seconds = disagreements(conn)
    if format is OutputFormat.JSON:
        emit({**summary.to_dict(), "second_opinions": seconds, "confusion": [r.to_dict() for r in table]})
        return
    console.print(queue_line(summary, seconds), highlight=False)
    console.print(reviewers_table(summary.per_reviewer))
    console.print(confusion_table(table))
