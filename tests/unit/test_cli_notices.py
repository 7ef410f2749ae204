"""The notice queue commands' wiring (JSON lines in and out) on the in-memory queue: no database."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from notices.memqueue import MemoryNoticeQueue
from notices.queue import Recipient, draft_notice
from scanner.cli import notices as notices_cli
from scanner.cli.app import app
from scanner.policyfile import load_policy

MORNING = "2026-12-01T10:00:00+08:00"
RULES = load_policy().enforcement
runner = CliRunner()


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> MemoryNoticeQueue:
    """Three SMS notices and a call, made up, in an in-memory queue the commands answer from."""
    memory = MemoryNoticeQueue(RULES)
    at = dt.datetime.fromisoformat(MORNING)
    drafts = [
        draft_notice(
            7 + k,
            Recipient(70 + k, f"ACC{k}", f"1390000000{k}"),
            RULES,
            stage=1,
            slot="sms",
            attempt=1,
            channel=channel,
            template="first_notice",
            reasons=["BLURRY"],
            deadline=dt.date(2026, 12, 22),
            not_before=at,
        )
        for k, channel in enumerate(("sms", "sms", "sms", "call"))
    ]
    memory.enqueue(drafts, at)
    monkeypatch.setattr(notices_cli, "_queue", lambda policy, database: memory)
    return memory


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_claim_prints_one_json_line_per_notice_with_the_full_number_for_the_gateway(queue: MemoryNoticeQueue) -> None:
    result = runner.invoke(app, ["notices", "claim", "--n", "2", "--consumer", "gw", "--now", MORNING])
    assert result.exit_code == 0, result.output
    claimed = _lines(result.output)
    assert [c["msisdn"] for c in claimed] == ["13900000000", "13900000001"]
    assert set(claimed[0]) == {
        "id", "token", "lease_expires_at", "msisdn", "channel", "template", "params", "text", "segments", "attempts"
    }  # fmt: skip
    assert "139****0000" in claimed[0]["text"] and "13900000000" not in claimed[0]["text"]
    calls = runner.invoke(app, ["notices", "claim", "--channel", "call", "--consumer", "agents", "--now", MORNING])
    assert [c["channel"] for c in _lines(calls.output)] == ["call"]


def test_a_wrong_channel_is_refused_with_the_allowed_ones(queue: MemoryNoticeQueue) -> None:
    result = runner.invoke(app, ["notices", "claim", "--channel", "fax", "--now", MORNING])
    assert result.exit_code == 2
    words = " ".join(result.output.replace("│", " ").split())  # typer draws the error in a box
    assert "'fax' is not one of" in words and all(c in words for c in ("'sms'", "'call'", "'letter'", "'app'"))


def test_ack_nack_and_receipts_answer_line_by_line_and_a_bad_line_fails_the_command(queue: MemoryNoticeQueue) -> None:
    claimed = _lines(runner.invoke(app, ["notices", "claim", "--consumer", "gw", "--now", MORNING]).output)
    first, second, third = claimed
    acks = "\n".join(
        [
            json.dumps({"id": first["id"], "token": first["token"], "gateway_message_id": "g-1"}),
            "not json",
            json.dumps({"id": second["id"], "token": "stale", "gateway_message_id": "g-2"}),
            json.dumps({"id": third["id"], "token": third["token"]}),
        ]
    )
    result = runner.invoke(app, ["notices", "ack", "--now", MORNING], input=acks)
    assert result.exit_code == 1  # the good line is applied, the bad ones named
    answers = _lines(result.output)
    assert answers[0] == {"id": first["id"], "status": "submitted"}
    assert answers[1]["line"] == 2 and "not JSON" in answers[1]["error"]
    assert answers[2]["line"] == 3 and "claim token does not match" in answers[2]["error"]
    assert answers[3]["line"] == 4 and "missing field 'gateway_message_id'" in answers[3]["error"]

    nack = json.dumps({"id": second["id"], "token": second["token"], "error": "busy"})
    assert _lines(runner.invoke(app, ["notices", "nack", "--now", MORNING], input=nack).output) == [
        {"id": second["id"], "status": "queued"}
    ]
    receipt = json.dumps({"gateway_message_id": "g-1", "stat": "DELIVRD", "done_at": "2026-12-01T09:59:00+08:00"})
    result = runner.invoke(app, ["notices", "receipt", "--now", MORNING], input=receipt)
    assert _lines(result.output) == [{"gateway_message_id": "g-1", "result": "delivered"}]
    stats = _lines(runner.invoke(app, ["notices", "stats", "--now", MORNING]).output)[0]
    assert stats["by_channel"]["sms"] == {"delivered": 1, "queued": 1, "claimed": 1}
    assert queue.notices[first["id"]].final_at == dt.datetime(2026, 12, 1, 1, 59, tzinfo=dt.UTC)  # the gateway's time


def test_a_bad_field_fails_its_own_line_only(queue: MemoryNoticeQueue) -> None:
    """A receipt with an unreadable time, or an ack with a null id, must not stop the lines after it."""
    (one, two) = _lines(
        runner.invoke(app, ["notices", "claim", "--n", "2", "--consumer", "gw", "--now", MORNING]).output
    )
    acks = "\n".join(
        [
            json.dumps({"id": None, "token": one["token"], "gateway_message_id": "g-0"}),
            json.dumps({"id": True, "token": one["token"], "gateway_message_id": "g-0"}),
            json.dumps({"id": one["id"], "token": one["token"], "gateway_message_id": 17}),
            json.dumps({"id": one["id"], "token": one["token"], "gateway_message_id": "g-1"}),
            json.dumps({"id": str(two["id"]), "token": two["token"], "gateway_message_id": "g-2"}),
        ]
    )
    result = runner.invoke(app, ["notices", "ack", "--now", MORNING], input=acks)
    assert result.exit_code == 1
    answers = _lines(result.output)
    assert [a.get("error", "")[:7] for a in answers[:3]] == ["line 1:", "line 2:", "line 3:"]
    assert "missing field 'id'" in answers[0]["error"] and "whole number" in answers[1]["error"]
    assert "'gateway_message_id' must be a non-empty string" in answers[2]["error"]
    assert answers[3:] == [{"id": one["id"], "status": "submitted"}, {"id": two["id"], "status": "submitted"}]

    receipts = "\n".join(
        [
            json.dumps({"gateway_message_id": "g-1", "stat": "DELIVRD", "done_at": "yesterday"}),
            json.dumps({"gateway_message_id": "g-2", "stat": "DELIVRD"}),
            json.dumps({"gateway_message_id": "g-1", "stat": "SENT"}),
        ]
    )
    result = runner.invoke(app, ["notices", "receipt", "--now", MORNING], input=receipts)
    assert result.exit_code == 1
    first, second, third = _lines(result.output)
    assert first["line"] == 1 and "field 'done_at'" in first["error"] and "'yesterday'" in first["error"]
    assert second == {"gateway_message_id": "g-2", "result": "delivered"}
    assert third["line"] == 3 and "not an SMPP stat" in third["error"]


def test_a_claim_outside_the_send_window_says_when_it_opens(queue: MemoryNoticeQueue) -> None:
    result = runner.invoke(app, ["notices", "claim", "--consumer", "gw", "--now", "2026-12-01T22:30:00+08:00"])
    assert result.exit_code == 0 and _lines(result.stdout) == []
    assert "outside the send window (08:00-21:00 Asia/Shanghai)" in result.stderr
    assert "2026-12-02T08:00+08:00" in result.stderr
