"""The notice queue commands of ``realname`` for the SMS system: JSON lines in, JSON lines out.
Wiring only: the queue is ``scanner.enforce.queue`` (the contract, ``notices.queue``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Optional
from zoneinfo import ZoneInfo

import typer

from notices.channels import Channel
from notices.queue import NoticeQueue
from scanner.cli.common import (
    DatabaseOpt,
    NowOpt,
    PolicyOpt,
    emit,
    json_requests,
    login,
    moment,
    parse_time,
    queue_rules,
    write_engine,
)

notices_app = typer.Typer(
    help="The notice queue for the SMS system (JSON lines): claim, ack, nack, receipt, stats.", no_args_is_help=True
)


# --- the notice queue --------------------------------------------------------------------------


def _queue(policy: Path | None, database: str | None) -> NoticeQueue:
    """The queue the commands answer from: the database's (the unit tests put an in-memory one here)."""
    from scanner.enforce.queue import SqlNoticeQueue

    return SqlNoticeQueue(write_engine(database), queue_rules(policy))


@notices_app.command("claim")
def notices_claim(
    n: Annotated[int, typer.Option("--n", min=1, max=1000, help="At most this many notices.")] = 10,
    consumer: Annotated[str, typer.Option("--consumer", help="The consumer's name (recorded on the claim).")] = "",
    lease: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--lease", min=10, help="Seconds before an unacknowledged claim is handed out again."),
    ] = None,
    channel: Annotated[Channel, typer.Option("--channel", help="The channel whose notices to lease.")] = Channel.SMS,
    policy: PolicyOpt = None,
    now: NowOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Lease due notices: one JSON line each, with the FULL number for the gateway (nothing outside the
    send window)."""
    queue = _queue(policy, database)
    at = moment(now, queue.enforcement.zone)
    claimed = queue.claim(n, consumer or login(), lease, channel.value, now=at)
    for notice in claimed:
        emit(notice.to_json())
    window = queue.enforcement.window
    if not claimed and not window.contains(at):
        from scanner.cli.console import err_console

        opens = window.next_send_time(at).astimezone(ZoneInfo(window.zone))
        err_console.print(
            f"outside the send window ({window.opens:%H:%M}-{window.closes:%H:%M} {window.zone}): nothing is "
            f"handed out before {opens.isoformat(timespec='minutes')}",
            highlight=False,
        )


class BadField(ValueError):
    """A field of a request line that is missing or of the wrong kind."""


def _optional(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is not None and not isinstance(value, str):
        raise BadField(f"field {name!r} must be a string, not {json.dumps(value, ensure_ascii=False)}")
    return value


def _required(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if value is None:
        raise BadField(f"missing field {name!r}")
    if not isinstance(value, str) or not value.strip():
        raise BadField(f"field {name!r} must be a non-empty string, not {json.dumps(value, ensure_ascii=False)}")
    return value


def _notice_id(request: dict[str, Any]) -> int:
    value = request.get("id")
    if value is None:
        raise BadField("missing field 'id'")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise BadField(f"field 'id' must be a notice id (a whole number), not {json.dumps(value, ensure_ascii=False)}")
    return int(value)


def _answer(queue: NoticeQueue, call: str, request: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """One request line applied; raises BadField or the queue's error."""
    if call == "ack":
        notice_id = _notice_id(request)
        status = queue.ack(notice_id, _required(request, "token"), _required(request, "gateway_message_id"), at)
        return {"id": notice_id, "status": status}
    if call == "nack":
        notice_id = _notice_id(request)
        permanent = request.get("permanent", False)
        if not isinstance(permanent, bool):
            raise BadField(f"field 'permanent' must be true or false, not {json.dumps(permanent)}")
        error = _optional(request, "error") or "unspecified"
        return {"id": notice_id, "status": queue.nack(notice_id, _required(request, "token"), error, permanent, at)}
    gateway_id = _required(request, "gateway_message_id")
    done = _optional(request, "done_at")
    try:
        done_at = parse_time(done, queue.enforcement.zone) if done else None
    except ValueError as exc:
        raise BadField(f"field 'done_at': {exc}") from None
    result = queue.receipt(gateway_id, _required(request, "stat"), _optional(request, "error"), done_at, at)
    return {"gateway_message_id": gateway_id, "result": result}


def _answer_lines(policy: Path | None, database: str | None, now: str | None, call: str) -> None:
    """Apply each JSON line on standard input; a line that cannot be applied gets an error naming the
    line and the field, and the others are still applied (exit 1 if any failed)."""
    from notices.queue import QueueError

    queue = _queue(policy, database)
    at = moment(now, queue.enforcement.zone)
    failures = 0
    for number, request, error in json_requests():
        if request is None:
            failures += 1
            emit({"line": number, "error": error})
            continue
        try:
            emit(_answer(queue, call, request, at if now else moment(None)))
        except (BadField, QueueError, ValueError) as exc:
            failures += 1
            emit({"line": number, "id": request.get("id"), "error": f"line {number}: {exc}"})
    if failures:
        raise typer.Exit(1)


@notices_app.command("ack")
def notices_ack(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Acknowledge sent notices: lines {"id", "token", "gateway_message_id"} on standard input."""
    _answer_lines(policy, database, now, "ack")


@notices_app.command("nack")
def notices_nack(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Give notices back: lines {"id", "token", "error", "permanent"}; retried later or dead."""
    _answer_lines(policy, database, now, "nack")


@notices_app.command("receipt")
def notices_receipt(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Delivery receipts: lines {"gateway_message_id", "stat", "error", "done_at"} (SMPP stat values)."""
    _answer_lines(policy, database, now, "receipt")


@notices_app.command("stats")
def notices_stats(policy: PolicyOpt = None, now: NowOpt = None, database: DatabaseOpt = None) -> None:
    """Counts by channel and status, due now, expired leases (one JSON object)."""
    queue = _queue(policy, database)
    emit(queue.stats(moment(now, queue.enforcement.zone)))
