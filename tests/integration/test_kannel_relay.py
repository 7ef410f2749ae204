"""Notices through a real SMS gateway: ``realname relay kannel`` in front of Debian's Kannel (bearerbox
and smsbox, generated configuration) with the project's SMPP SMSC simulator behind it.

The run of 2,000 notices takes the faults the relay must survive one after the other: a SIGTERM (it
finishes what it holds: no handset gets anything twice), a SIGKILL and restart (its claims come back
after their lease; reports of what Kannel already had stop a second send), Kannel stopped for 30 s
(requests fail, the notices are given back and sent again a minute later). Every notice ends
delivered, or undelivered for the numbers the simulator is told to fail, and nothing is lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kannel import (
    MARKS,
    SMSC_PASSWORD,
    SMSC_USER,
    USER,
    Kannel,
    failing_base,
    free_port,
    password_file,
    relay_policy,
    relay_settings,
    statuses,
)
from sqlalchemy import select
from sqlalchemy.engine import Engine

from notices.settings import Enforcement
from scanner.db import open_engine, write_engine_for
from scanner.enforce.advance import advance
from scanner.enforce.queue import SqlNoticeQueue
from scanner.policyfile import load_policy
from scanner.relay.config import build
from scanner.relay.runner import Relay
from scanner.relay.smsc_sim import SmscSimulator
from scanner.tables import NOTICE
from scanner.utctime import utcnow

pytestmark = MARKS
REALNAME = str(Path(sys.executable).with_name("realname"))
FINAL = {"delivered", "undelivered"}


def until(condition: Callable[[], bool], seconds: float, what: str, kannel: Kannel | None = None) -> None:
    began = time.monotonic()
    while time.monotonic() < began + seconds:
        if condition():
            print(f"{what}: {time.monotonic() - began:.1f} s")
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {seconds} s" + (f"\n{kannel.logs()}" if kannel else ""))


class RelayProcess:
    def __init__(self, folder: Path, config: Path, policy: Path, url: str) -> None:
        self.args = [REALNAME, "relay", "kannel", "--config", str(config), "--policy", str(policy), "--database", url]
        self.folder = folder
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        with (self.folder / f"relay-{self.runs}.out").open("wb") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def lines(self) -> list[dict[str, object]]:
        found = []
        for path in sorted(self.folder.glob("relay-*.out")):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    found.append(json.loads(line))
        return found

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("relay-*.out")))


@pytest.fixture
def simulator() -> Iterator[SmscSimulator]:
    sim = SmscSimulator(port=0, system_id=SMSC_USER, password=SMSC_PASSWORD, undeliverable={"77"})
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def kannel(tmp_path: Path, simulator: SmscSimulator) -> Iterator[Kannel]:
    box = Kannel(tmp_path / "kannel", smsc_port=simulator.port)
    box.start()
    yield box
    box.stop()


def duplicates_at(simulator: SmscSimulator) -> int:
    """Handsets that got the same message more than once."""
    return sum(1 for times in simulator.received().values() if times > 1)


def relay_base(folder: Path, url: str) -> tuple[Path, Enforcement, Engine]:
    """The relay's test policy, its rules, and the migrated database's engine."""
    policy = relay_policy(folder)
    open_engine(url)
    return policy, load_policy(policy).enforcement, write_engine_for(url)


@pytest.fixture
def readme_kannel(tmp_path: Path, simulator: SmscSimulator) -> Iterator[Kannel]:
    """Kannel with the configuration the README gives for trying the relay locally."""
    box = Kannel(tmp_path / "kannel", smsc_port=simulator.port, readme=True)
    box.start()
    yield box
    box.stop()


def sms_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(NOTICE).where(NOTICE.c.channel == "sms").order_by(NOTICE.c.id)).all()
    return [dict(r._mapping) for r in rows]


def test_two_thousand_notices_through_kannel_survive_sigterm_sigkill_and_a_kannel_outage(
    tmp_path: Path, simulator: SmscSimulator, kannel: Kannel
) -> None:
    n = 2000
    url = f"sqlite:///{tmp_path / 'base.db'}"
    policy, rules, engine = relay_base(tmp_path, url)
    failing_base(engine, rules, n, utcnow())
    assert statuses(engine) == {"queued": n}
    relay = RelayProcess(tmp_path, relay_settings(tmp_path, kannel, free_port()), policy, url)
    try:
        relay_through_faults(engine, rules, relay, simulator, kannel, n)
    finally:
        relay.kill()


def relay_through_faults(
    engine: Engine, rules: Enforcement, relay: RelayProcess, simulator: SmscSimulator, kannel: Kannel, n: int
) -> None:

    def count(*wanted: str) -> int:
        got = statuses(engine)
        return sum(got.get(s, 0) for s in wanted)

    # SIGTERM mid-run: what it holds is sent and acknowledged, nothing stays claimed, exit 0.
    relay.start()
    until(lambda: count("submitted", *FINAL) >= 300, 60, "300 notices submitted", kannel)
    assert relay.signal(signal.SIGTERM) == 0, relay.output()
    after_term = statuses(engine)
    assert after_term.get("claimed", 0) == 0, after_term
    assert duplicates_at(simulator) == 0

    # Kannel stopped for 30 s mid-run: the relay's requests fail, it gives them back (sent again a
    # minute later by the queue's rules), pauses and asks Kannel every second until it answers.
    relay.start()
    until(lambda: count("submitted", *FINAL) >= 700, 60, "700 notices submitted", kannel)
    began = time.monotonic()
    kannel.stop()
    time.sleep(30)
    kannel.start()
    print(f"Kannel stopped and started again: {time.monotonic() - began:.1f} s")
    after_outage = duplicates_at(simulator)

    # SIGKILL mid-run and a restart: leases expire (10 s), the notices come back; Kannel's reports of
    # what it already had are used instead of sending again.
    until(lambda: count("submitted", *FINAL) >= 1400, 60, "1,400 notices submitted", kannel)
    killed_holding = count("claimed")
    before_kill = duplicates_at(simulator)
    relay.signal(signal.SIGKILL)
    relay.start()

    until(lambda: count(*FINAL) == n, 240, "every notice final", kannel)
    assert relay.signal(signal.SIGTERM) == 0

    rows = sms_rows(engine)
    assert len(rows) == n  # nothing lost, nothing made twice
    failing = {r["id"] for r in rows if str(r["msisdn"]).endswith("77")}
    assert len(failing) == 20
    for row in rows:
        expected = ("undelivered", "UNDELIV") if row["id"] in failing else ("delivered", "DELIVRD")
        assert (row["status"], row["receipt_stat"]) == expected, row["id"]
        assert str(row["gateway_message_id"]).startswith(f"rn-{row['id']}-")
    given_back = sum(1 for r in rows if int(str(r["attempts"])) > 1)
    duplicates = duplicates_at(simulator)
    status_lines = [line for line in relay.lines() if line.get("event") in ("status", "stopped")]
    recovered = sum(int(str(line.get("recovered", 0))) for line in relay.lines() if line.get("event") == "stopped")
    print(
        f"\n{n} notices: {given_back} sent more than once by the queue's rules, {killed_holding} claimed when "
        f"killed, {recovered} recovered from reports; handsets with a duplicate: {after_outage} right after "
        f"Kannel's outage, {before_kill} before the SIGKILL, {duplicates} in all"
    )
    # Kannel resends from its store what it had handed to the SMSC without an answer when it stopped:
    # at most its SMPP window (max-pending-submits = 20). The relay's own: at most the requests it had
    # in flight when it was killed (in_flight = 8).
    assert before_kill <= 20
    assert duplicates - before_kill <= 8
    assert status_lines and all("last_error" in line for line in status_lines)
    said = json.dumps(relay.lines())
    assert not re.search(r"1391[0-9]{7}", said)  # no full number in its output (counts may hold 1391)

    # The ladder climbs on the real reports: a week on, delivered cases get their stage-2 notice,
    # undelivered ones a resend of stage 1.
    summary = advance(engine, rules, utcnow() + dt.timedelta(days=7, hours=1)).to_dict()
    queued = [r for r in sms_rows(engine) if r["status"] == "queued"]
    stages = {(int(str(r["stage"])), int(str(r["attempt"]))) for r in queued}
    assert sum(1 for r in queued if r["stage"] == 2) == n - len(failing), summary
    assert {r["case_id"] for r in queued if r["stage"] == 1} == {r["case_id"] for r in rows if r["id"] in failing}
    assert stages <= {(2, 1), (1, 2)}


def test_the_smsc_link_down_then_undelivering_the_ladder_resends_and_falls_back(
    tmp_path: Path, any_url: str, simulator: SmscSimulator, readme_kannel: Kannel
) -> None:
    """The SMPP link drops: Kannel keeps what it is given ("queued for later") and delivers it when
    the link is back. Then the SMSC cannot reach the handsets: every report says undelivered, the
    ladder sends again a day later, twice, then hands the stage to an agent's call."""
    n = 40
    _, rules, engine = relay_base(tmp_path, any_url)
    clock = {"offset": dt.timedelta(0)}

    def now() -> dt.datetime:
        return utcnow() + clock["offset"]

    failing_base(engine, rules, n, now())

    def undelivered(stage: int) -> int:
        return sum(1 for r in sms_rows(engine) if r["stage"] == stage and r["status"] == "undelivered")

    settings = {"sendsms": readme_kannel.sendsms, "user": USER, "password_file": str(password_file(tmp_path))}
    config = build({**settings, "dlr_listen": "127.0.0.1:0", "status_every_seconds": 60})
    relay = Relay(config, SqlNoticeQueue(engine, rules), rules.sms_links, rules.signature, now=now, emit=lambda _: None)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(relay.run(stop),), daemon=True)

    simulator.stop()  # the link is down before anything is sent
    until(lambda: not readme_kannel.link_online(), 20, "the link seen down", readme_kannel)
    thread.start()
    try:
        until(lambda: statuses(engine).get("submitted", 0) == n, 60, "all handed to Kannel", readme_kannel)
        assert relay.counters.queued_at_gateway == n  # Kannel answered 3: queued for later delivery
        simulator.start()
        until(lambda: statuses(engine).get("delivered", 0) == n, 60, "delivered once the link is back", readme_kannel)

        # The SMSC is up but reaches no handset: reports say undelivered, the ladder resends twice.
        simulator.mode = "undeliver"
        clock["offset"] += dt.timedelta(days=7, hours=1)
        advance(engine, rules, now())
        for sent in range(1, 4):
            until(
                lambda sent=sent: undelivered(2) == sent * n, 60, f"stage 2, send {sent}, reported undelivered", kannel
            )
            clock["offset"] += dt.timedelta(days=1, hours=1)
            advance(engine, rules, now())
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
    rows = sms_rows(engine)
    stage2 = [r for r in rows if r["stage"] == 2]
    assert len(stage2) == 3 * n  # the notice and its two resends
    assert all(r["status"] == "undelivered" and r["receipt_stat"] == "UNDELIV" for r in stage2)
    calls = statuses(engine, channel="call")
    assert calls.get("queued", 0) == n, calls  # the stage falls back to an agent's call
