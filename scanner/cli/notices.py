"""The notice queue commands of ``realname`` for the SMS system: JSON lines in, JSON lines out.
Wiring only: the queue is ``scanner.enforce.queue`` (the contract, ``notices.queue``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from notices.ladder import Channel
from notices.queue import NoticeQueue
from scanner.cli.common import (
    DatabaseOpt,
    NowOpt,
    PolicyOpt,
    emit,
    json_requests,
    loaded_policy,
    login,
    moment,
    write_engine,
)

notices_app = typer.Typer(
    help="The notice queue for the SMS system (JSON lines): claim, ack, nack, receipt, stats.", no_args_is_help=True
)


# --- the notice queue --------------------------------------------------------------------------


def _queue(policy: Path | None, database: str | None) -> NoticeQueue:
    """The queue the commands answer from: the database's (the unit tests put an in-memory one here)."""
    from scanner.enforce.queue import SqlNoticeQueue

    return SqlNoticeQueue(write_engine(database), loaded_policy(policy).enforcement)


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
    for notice in queue.claim(n, consumer or login(), lease, channel.value, now=moment(now, queue.enforcement.zone)):
        emit(notice.to_json())


def _answer_lines(policy: Path | None, database: str | None, now: str | None, call: str) -> None:
    from notices.queue import QueueError

    queue = _queue(policy, database)
    failures = 0
    for number, request, error in json_requests():
        if request is None:
            failures += 1
            emit({"line": number, "error": error})
            continue
        at = moment(now, queue.enforcement.zone)
        try:
            if call == "ack":
                result = queue.ack(int(request["id"]), str(request["token"]), str(request["gateway_message_id"]), at)
                emit({"id": request["id"], "status": result})
            elif call == "nack":
                result = queue.nack(
                    int(request["id"]),
                    str(request["token"]),
                    str(request.get("error") or "unspecified"),
                    bool(request.get("permanent", False)),
                    at,
                )
                emit({"id": request["id"], "status": result})
            else:
                done = request.get("done_at")
                done_at = moment(str(done)) if done else None
                result = queue.receipt(
                    str(request["gateway_message_id"]), str(request["stat"]), request.get("error"), done_at, at
                )
                emit({"gateway_message_id": request["gateway_message_id"], "result": result})
        except KeyError as exc:
            failures += 1
            emit({"line": number, "error": f"line {number}: missing field {exc.args[0]!r}"})
        except (QueueError, ValueError) as exc:
            failures += 1
            emit({"line": number, "id": request.get("id"), "error": str(exc)})
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
