"""The Kannel relay's own rules against a stand-in for Kannel's sendsms interface (an aiohttp server
in the test's loop that answers as told and calls the report URL as Kannel does), on the in-memory
queue: what is sent, acknowledged, given back, recovered and paced. The real Kannel is in
``tests/integration/test_kannel_relay.py``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from click.testing import Result
from typer.testing import CliRunner

from notices.memqueue import MemoryNoticeQueue
from notices.queue import Recipient, draft_notice
from scanner.cli.app import app
from scanner.policyfile import load_policy
from scanner.relay.config import build
from scanner.relay.runner import Relay

MORNING = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
NIGHT = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # 22:00 in Shanghai: the window is shut
RULES = load_policy().enforcement
Answer = Callable[[dict[str, str]], Awaitable[tuple[int, str]]]


def queue_of(n: int, now: dt.datetime = MORNING) -> MemoryNoticeQueue:
    queue = MemoryNoticeQueue(RULES)
    drafts = [
        draft_notice(
            i,
            Recipient(i, f"ACC{i:05d}", f"1390000{i:04d}"),
            RULES,
            stage=1,
            slot="sms",
            attempt=1,
            channel="sms",
            template="first_notice",
            reasons=["BLURRY"],
            deadline=dt.date(2026, 12, 15),
            not_before=now,
        )
        for i in range(1, n + 1)
    ]
    queue.enqueue(drafts, now)
    return queue


@dataclass
class FakeKannel:
    """Answers sendsms as ``answer`` says; reports (type 8, then 1 or 2) to the URL it was given."""

    answer: Answer
    requests: list[dict[str, str]] = field(default_factory=list)
    at: list[float] = field(default_factory=list)
    report_first: bool = False  # report before answering (a fast SMSC beats the answer)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        self.requests.append(query)
        self.at.append(time.monotonic())
        status, body = await self.answer(query)
        if status == 202:
            report = self.report(query)
            if self.report_first:
                await report
            else:
                task = asyncio.create_task(report)
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return web.Response(status=status, text=body)

    async def report(self, query: dict[str, str]) -> None:
        stat = "UNDELIV" if query["to"].endswith("7") else "DELIVRD"
        kind = 2 if stat == "UNDELIV" else 1
        receipt = f"id:9 sub:001 dlvrd:001 submit date:2612011000 done date:2612011000 stat:{stat} err:000 text:"
        async with aiohttp.ClientSession() as session:
            for dlr_type, reply in ((8, "ACK/"), (kind, receipt)):
                url = query["dlr-url"].replace("%d", str(dlr_type)).replace("%A", reply)
                async with session.get(url) as response:
                    assert response.status == 200, await response.text()


async def start(fake: FakeKannel) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/cgi-bin/sendsms", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}/cgi-bin/sendsms"
    return runner


def relay_for(
    tmp_path: Path, fake: FakeKannel, queue: MemoryNoticeQueue, clock: list[dt.datetime], **more: Any
) -> tuple[Relay, list[dict[str, Any]]]:
    secret = tmp_path / "pw"
    secret.write_text("sendsms-pw-77\n")
    secret.chmod(0o600)
    settings = {"sendsms": fake.url, "user": "rn", "password_file": str(secret), "dlr_listen": "127.0.0.1:0"}
    config = build({**settings, "sender": "10655", "timeout_seconds": 0.5, "status_every_seconds": 1, **more})
    lines: list[dict[str, Any]] = []
    links = more.pop("links", {"*": 400.0})
    relay = Relay(config, queue, links, RULES.signature, emit=lines.append, now=lambda: clock[0])
    return relay, lines


async def relay_until_idle(relay: Relay, idle: float = 0.6) -> dict[str, Any]:
    return await asyncio.wait_for(relay.run(asyncio.Event(), until_idle=idle), timeout=60)


async def accept(query: dict[str, str]) -> tuple[int, str]:
    return 202, "0: Accepted for delivery"


@pytest.mark.parametrize("report_first", [False, True], ids=["report-after-answer", "report-before-answer"])
def test_every_notice_is_sent_once_in_ucs2_with_the_signature_and_its_report_applied(
    tmp_path: Path, report_first: bool
) -> None:
    queue, clock = queue_of(30), [MORNING]

    async def scenario() -> tuple[FakeKannel, dict[str, Any], list[dict[str, Any]]]:
        fake = FakeKannel(accept, report_first=report_first)
        runner = await start(fake)
        relay, lines = relay_for(tmp_path, fake, queue, clock)
        final = await relay_until_idle(relay)
        await runner.cleanup()
        return fake, final, lines

    fake, final, lines = asyncio.run(scenario())
    assert len(fake.requests) == 30
    first = fake.requests[0]
    assert (first["coding"], first["charset"], first["dlr-mask"], first["from"]) == ("2", "UTF-8", "31", "10655")
    assert first["text"].startswith(RULES.signature) and "smsc" not in first
    stored = queue.notices.values()
    undelivered = {n.id for n in stored if n.draft.msisdn.endswith("7")}
    assert {n.id for n in stored if n.status == "undelivered"} == undelivered and len(undelivered) == 3
    assert all(n.status == "delivered" for n in stored if n.id not in undelivered)
    assert all(n.gateway_message_id == f"rn-{n.id}-1" for n in stored)
    assert (final["submitted"], final["delivered"], final["undelivered"]) == (30, 27, 3)
    assert final["awaiting_report"] == 0 and final["in_flight"] == 0
    said = json.dumps(lines)
    assert "sendsms-pw-77" not in said and "13900000" not in said and lines[-1]["event"] == "stopped"


def test_errors_and_timeouts_are_given_back_a_denied_number_is_dead_and_the_relay_pauses(tmp_path: Path) -> None:
    queue, clock = queue_of(6), [MORNING]

    async def answer(query: dict[str, str]) -> tuple[int, str]:
        last = query["to"][-1]
        if last == "1":
            return 503, "Sendsms temporarily unavailable"
        if last == "2":
            return 403, "Number(s) has/have been denied by white- and/or black-lists."
        if last == "3":
            await asyncio.sleep(2)  # past the relay's 0.5 s timeout
        return 202, "0: Accepted for delivery"

    async def scenario() -> dict[str, Any]:
        fake = FakeKannel(answer)
        runner = await start(fake)
        relay, _ = relay_for(tmp_path, fake, queue, clock, in_flight=1)
        final = await relay_until_idle(relay)
        await runner.cleanup()
        return final

    final = asyncio.run(scenario())
    by_last = {n.draft.msisdn[-1]: n for n in queue.notices.values()}
    assert by_last["1"].status == "queued" and "503" in str(by_last["1"].error)
    assert by_last["1"].not_before == MORNING + dt.timedelta(minutes=5)  # the queue's first retry delay
    assert by_last["2"].status == "dead" and "denied" in str(by_last["2"].error)
    assert by_last["3"].status == "queued" and "Timeout" in str(by_last["3"].error)
    assert {by_last[k].status for k in "456"} == {"delivered"}
    assert (final["given_back"], final["dead"], final["submitted"]) == (3, 1, 3)
    assert final["last_error"]


def test_a_notice_claimed_again_is_acknowledged_from_its_earlier_submissions_reports_not_sent_twice(
    tmp_path: Path,
) -> None:
    """A relay died after Kannel took notice 1 and before its acknowledgement: Kannel's reports name
    rn-1-1 and reach the restarted relay, which acknowledges notice 1 with them when its lease
    brings it back, instead of sending it again."""
    queue, clock = queue_of(2), [MORNING]
    dead = queue.claim(1, "relay-that-died", now=MORNING)
    assert [n.id for n in dead] == [1]

    async def scenario() -> FakeKannel:
        fake = FakeKannel(accept)
        runner = await start(fake)
        relay, _ = relay_for(tmp_path, fake, queue, clock)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        while relay.listening is None:
            await asyncio.sleep(0.01)
        base = f"http://{relay.listening[0]}:{relay.listening[1]}/dlr?id=rn-1-1"
        receipt = "id:1 sub:001 dlvrd:001 submit date:2612011000 done date:2612011000 stat:DELIVRD err:000 text:"
        async with aiohttp.ClientSession() as session:
            for kind, reply in ((8, "ACK/"), (1, receipt)):
                async with session.get(base, params={"type": str(kind), "reply": reply}) as response:
                    assert response.status == 200
        clock[0] = MORNING + dt.timedelta(seconds=RULES.lease_seconds + 1)  # the dead relay's lease ends
        while queue.notices[1].status != "delivered" or queue.notices[2].status != "delivered":
            await asyncio.sleep(0.05)
        stop.set()
        final = await task
        assert final["recovered"] == 1
        await runner.cleanup()
        return fake

    fake = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [q["to"] for q in fake.requests] == [queue.notices[2].draft.msisdn]  # notice 1 was not sent again
    assert queue.notices[1].gateway_message_id == "rn-1-1" and queue.notices[1].attempts == 2


def test_nothing_is_claimed_outside_the_send_window(tmp_path: Path) -> None:
    queue, clock = queue_of(3, now=MORNING), [NIGHT]

    async def scenario() -> FakeKannel:
        fake = FakeKannel(accept)
        runner = await start(fake)
        relay, _ = relay_for(tmp_path, fake, queue, clock)
        await relay_until_idle(relay, idle=0.3)
        await runner.cleanup()
        return fake

    assert asyncio.run(scenario()).requests == []
    assert {n.status for n in queue.notices.values()} == {"queued"}


def test_each_link_gets_its_share_and_no_more_than_its_rate(tmp_path: Path) -> None:
    queue, clock = queue_of(24), [MORNING]  # every notice is 2 parts

    async def scenario() -> FakeKannel:
        fake = FakeKannel(accept)
        runner = await start(fake)
        relay, _ = relay_for(tmp_path, fake, queue, clock, links={"smsc-a": 30.0, "smsc-b": 10.0})
        await relay_until_idle(relay)
        await runner.cleanup()
        return fake

    fake = asyncio.run(scenario())
    links = [q["smsc"] for q in fake.requests]
    assert links.count("smsc-a") == 3 * links.count("smsc-b")
    a_times = [t for t, q in zip(fake.at, fake.requests, strict=True) if q["smsc"] == "smsc-a"]
    # 18 notices of 2 parts at 30 parts a second: 17 gaps of 1/15 s, less scheduling noise.
    assert a_times[-1] - a_times[0] >= 17 * 2 / 30 * 0.9


def test_relay_status_reads_a_running_relay_and_says_when_none_answers(tmp_path: Path) -> None:
    queue, clock = queue_of(3), [MORNING]

    async def scenario() -> tuple[Result, Result]:
        fake = FakeKannel(accept)
        runner = await start(fake)
        relay, _ = relay_for(tmp_path, fake, queue, clock)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        while relay.counters.delivered < 3:
            await asyncio.sleep(0.05)
        assert relay.listening is not None
        url = f"http://{relay.listening[0]}:{relay.listening[1]}"
        as_json = await asyncio.to_thread(CliRunner().invoke, app, ["relay", "status", "--url", url, "--json"])
        as_text = await asyncio.to_thread(CliRunner().invoke, app, ["relay", "status", "--url", url])
        stop.set()
        await task
        await runner.cleanup()
        return as_json, as_text

    as_json, as_text = asyncio.run(scenario())
    assert as_json.exit_code == 0, as_json.output
    status = json.loads(as_json.output)
    assert (status["submitted"], status["delivered"], status["in_flight"]) == (3, 3, 0)
    assert {"rate_per_second", "last_error", "awaiting_report", "links"} <= set(status)
    assert "sendsms-pw-77" not in as_json.output and "?" not in status["sendsms"]
    assert as_text.exit_code == 0 and "delivered" in as_text.output
    gone = CliRunner().invoke(app, ["relay", "status", "--url", "http://127.0.0.1:9", "--json"])
    assert gone.exit_code == 1 and "no relay answers at http://127.0.0.1:9" in gone.output


def test_relay_kannel_refuses_bad_settings_naming_them(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x\n")
    secret.chmod(0o644)
    base = ["relay", "kannel", "--sendsms", "http://127.0.0.1:9/cgi-bin/sendsms", "--user", "rn"]
    open_to_all = CliRunner().invoke(app, [*base, "--password-file", str(secret)])
    assert open_to_all.exit_code == 2 and "readable by others" in open_to_all.output
    missing = CliRunner().invoke(app, base)
    assert missing.exit_code == 2 and "password_file" in missing.output
    conf = tmp_path / "relay.toml"
    conf.write_text('[kannel]\npassword = "in the open"\n')
    in_file = CliRunner().invoke(app, ["relay", "kannel", "--config", str(conf)])
    assert in_file.exit_code == 2 and "keep the password in a file" in in_file.output


def test_notices_still_held_when_the_window_closes_are_given_back_for_the_next_opening(tmp_path: Path) -> None:
    queue, clock = queue_of(4), [MORNING]

    async def answer(query: dict[str, str]) -> tuple[int, str]:
        clock[0] = NIGHT  # the window shuts while the relay paces the rest of its claim
        return 202, "0: Accepted for delivery"

    async def scenario() -> FakeKannel:
        fake = FakeKannel(answer)
        runner = await start(fake)
        relay, _ = relay_for(tmp_path, fake, queue, clock, links={"*": 4.0})
        await relay_until_idle(relay, idle=0.3)
        await runner.cleanup()
        return fake

    fake = asyncio.run(scenario())
    assert len(fake.requests) == 1
    held = [n for n in queue.notices.values() if n.status == "queued"]
    assert len(held) == 3 and all("send window closed" in str(n.error) for n in held)
    opening = RULES.window.next_send_time(NIGHT + RULES.retry.first_delay)
    assert {n.not_before for n in held} == {opening}  # 08:00 the next morning


class AckFailsOnce(MemoryNoticeQueue):
    """The database is away for the first acknowledgement."""

    failed = False

    def ack_many(self, acks: Any, now: dt.datetime | None = None) -> list[str | ValueError]:
        if not self.failed:
            self.failed = True
            raise ConnectionError("database away")
        return super().ack_many(acks, now)


def test_a_send_whose_acknowledgement_failed_is_recovered_from_its_reports_not_sent_again(tmp_path: Path) -> None:
    """Kannel took notice 1 and reported it (before and after the relay's answer), but the database
    refused the acknowledgement: the lease brings the notice back and its reports acknowledge it."""
    clock = [MORNING]
    queue = AckFailsOnce(RULES)
    queue.enqueue([queue_of(1).notices[1].draft], MORNING)

    async def scenario() -> tuple[FakeKannel, dict[str, Any]]:
        fake = FakeKannel(accept, report_first=True)
        runner = await start(fake)
        relay, _ = relay_for(tmp_path, fake, queue, clock)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        while not relay.unclaimed_reports:
            await asyncio.sleep(0.02)
        clock[0] = MORNING + dt.timedelta(seconds=RULES.lease_seconds + 1)  # the lease runs out
        while queue.notices[1].status != "delivered":
            await asyncio.sleep(0.02)
        stop.set()
        final = await task
        await runner.cleanup()
        return fake, final

    fake, final = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert len(fake.requests) == 1  # sent once
    assert final["recovered"] == 1 and "database away" in str(final["last_error"])
    assert queue.notices[1].gateway_message_id == "rn-1-1" and queue.notices[1].attempts == 2
