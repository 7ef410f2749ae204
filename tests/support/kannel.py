"""Debian's Kannel (bearerbox and smsbox) with a generated configuration, for the relay's tests and
bench: one SMPP link (``sim-1``) to the project's SMSC simulator, a sendsms user, reports over HTTP.

    with Kannel(tmp_path, smsc_port=sim.port) as kannel:
        kannel.sendsms  # http://127.0.0.1:PORT/cgi-bin/sendsms
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import tomli_w
from diff_runs import Person, add_people, add_run
from policy_overlays import policy_with
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from notices.settings import Enforcement
from scanner.enforce.advance import advance
from scanner.tables import NOTICE

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
USER, PASSWORD = "relay", "relay-secret-1"
SMSC_USER, SMSC_PASSWORD = "sim", "simpass"
STATUS_PASSWORD = "status-pw"


DLR_TABLE = """CREATE TABLE IF NOT EXISTS dlr (smsc TEXT, ts TEXT, destination TEXT, source TEXT, service TEXT,
url TEXT, mask INTEGER, status INTEGER, boxc TEXT)"""


def installed() -> bool:
    return os.access(BEARERBOX, os.X_OK) and os.access(SMSBOX, os.X_OK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def configuration(folder: Path, *, admin: int, box: int, sendsms: int, smsc_port: int, sender: str = "10655") -> str:
    """A kannel.conf for trying the relay locally: the one the README shows, with this run's ports."""
    return f"""\
group = core
admin-port = {admin}
admin-password = admin-pw
status-password = {STATUS_PASSWORD}
admin-allow-ip = 127.0.0.1
smsbox-port = {box}
box-allow-ip = 127.0.0.1
log-file = "{folder}/bearerbox.log"
log-level = 1
access-log = "{folder}/access.log"
dlr-storage = sqlite3
store-type = file
store-location = "{folder}/kannel.store"
sms-resend-freq = 5
sms-resend-retry = -1

group = sqlite3-connection
id = dlr
database = "{folder}/dlr.db"
max-connections = 1

group = dlr-db
id = dlr
table = dlr
field-smsc = smsc
field-timestamp = ts
field-destination = destination
field-source = source
field-service = service
field-url = url
field-mask = mask
field-status = status
field-boxc-id = boxc

group = smsc
smsc = smpp
smsc-id = sim-1
allowed-smsc-id = sim-1
host = 127.0.0.1
port = {smsc_port}
transceiver-mode = true
smsc-username = {SMSC_USER}
smsc-password = {SMSC_PASSWORD}
system-type = ""
reconnect-delay = 2
max-pending-submits = 20
enquire-link-interval = 5
log-file = "{folder}/smsc.log"
log-level = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
global-sender = {sender}
log-file = "{folder}/smsbox.log"
log-level = 1
http-request-retry = 30
http-queue-delay = 1

group = sendsms-user
username = {USER}
password = {PASSWORD}
concatenation = true
max-messages = 10

group = sms-service
keyword = default
text = "no service"
omit-empty = true
"""


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_configuration(folder: Path, *, admin: int, box: int, sendsms: int, smsc_port: int) -> str:
    """The kannel.conf the README gives for trying the relay locally, with this run's ports and folder:
    the tests that use it keep that copy-paste configuration working."""
    text = README.read_text(encoding="utf-8")
    opening = "cat > kannel.conf <<'CONF'\n"
    start = text.index(opening) + len(opening)
    conf = text[start : text.index("CONF\n", start)]
    for shown, port in ((13000, admin), (13001, box), (13013, sendsms), (2775, smsc_port)):
        conf, found = re.subn(rf"= {shown}\n", f"= {port}\n", conf)
        assert found, f"the README's kannel.conf no longer uses port {shown}"
    return conf.replace('"kannel.store"', f'"{folder}/kannel.store"')


class Kannel:
    """bearerbox and smsbox in a folder of their own; ``stop``/``start`` for outages. With ``readme``,
    the README's configuration for trying the relay locally; else the tests' own (logs, reports kept
    in SQLite across a restart of bearerbox)."""

    def __init__(self, folder: Path, smsc_port: int, readme: bool = False) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.admin, self.box, self.sendsms_port = free_port(), free_port(), free_port()
        self.conf = folder / "kannel.conf"
        make = readme_configuration if readme else configuration
        self.conf.write_text(
            make(folder, admin=self.admin, box=self.box, sendsms=self.sendsms_port, smsc_port=smsc_port)
        )
        db = sqlite3.connect(folder / "dlr.db")  # where Kannel keeps the reports it still waits for
        db.execute(DLR_TABLE)
        db.commit()
        db.close()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def sendsms(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def start(self, wait_for_link: bool = True) -> None:
        for program in (BEARERBOX, SMSBOX):
            self.processes.append(
                subprocess.Popen([program, str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            if program == BEARERBOX:
                _until(lambda: self.status() is not None, 20, "bearerbox's admin port")
        _until(lambda: _open(self.sendsms_port), 20, "smsbox's sendsms port")
        if wait_for_link:
            _until(self.link_online, 30, "the SMPP link")

    def link_online(self) -> bool:
        """Whether bearerbox's status shows the link to the simulator up."""
        return any("sim-1" in line and "(online" in line for line in (self.status() or "").splitlines())

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.processes = []

    def status(self) -> str | None:
        url = f"http://127.0.0.1:{self.admin}/status.txt?password={STATUS_PASSWORD}"  # the README's too
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode("utf-8", "replace"))
        except OSError:
            return None

    def __enter__(self) -> Kannel:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in sorted(self.folder.glob("*.log"))
        )

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {seconds} s")


MARKS = [
    pytest.mark.kannel,
    pytest.mark.slow,
    # Skipped where Kannel is missing, except in CI, where .ci/run installs it: there the test fails.
    pytest.mark.skipif(
        not installed() and not os.environ.get("CI"),
        reason=f"{BEARERBOX} missing: install Debian's kannel (.ci/run does)",
    ),
]


def midday_zone(at: dt.datetime | None = None) -> str:
    """An ``Etc/GMT`` zone in which it is about noon now, so a test's all-day send window (00:00 to
    23:59) is open for hours on either side whenever the test runs."""
    hour = (at or dt.datetime.now(dt.UTC)).hour
    shift = (12 - hour + 11) % 24 - 11  # hours east of UTC, -11..12
    return "Etc/GMT" if shift == 0 else f"Etc/GMT{'-' if shift > 0 else '+'}{abs(shift)}"


def relay_policy(folder: Path, parts_per_second: float = 400.0, **changes: Any) -> Path:
    """The shipped policy with the send window open all day (in a zone where it is noon), leases of 10
    s and retries after a minute, and the one link ``sim-1``."""
    return policy_with(
        folder,
        {
            "policy.timezone": midday_zone(),
            "notices.send_window": ["00:00", "23:59"],
            "notices.lease_seconds": 10,
            "notices.retry_first_delay_minutes": 1,
            "notices.sms_links": {"sim-1": parts_per_second},
            **changes,
        },
        name="relay.toml",
    )


def failing_base(engine: Engine, rules: Enforcement, n: int, now: dt.datetime) -> None:
    """``n`` subscribers whose newest enforcing rescan failed them (a blurred photo), their cases
    opened and first SMS notices queued by ``cases advance``."""
    add_people(engine, [Person(i) for i in range(1, n + 1)])
    add_run(engine, 1, {i: ("fail", ["BLURRY"]) for i in range(1, n + 1)})
    advance(engine, rules, now)


def password_file(folder: Path) -> Path:
    """The sendsms password in a file only its owner reads."""
    secret = folder / "kannel-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return secret


def relay_settings(folder: Path, kannel: Kannel, dlr_port: int, **more: Any) -> Path:
    """A relay configuration file."""
    secret = password_file(folder)
    settings = {
        "sendsms": kannel.sendsms,
        "user": USER,
        "password_file": str(secret),
        "dlr_listen": f"127.0.0.1:{dlr_port}",
        "consumer": "relay-test",
        "sender": "10655",
        "in_flight": 8,
        "batch": 100,
        "status_every_seconds": 2,
        **more,
    }
    path = folder / "relay-settings.toml"
    path.write_text(tomli_w.dumps({"kannel": settings}))
    return path


def statuses(engine: Engine, channel: str = "sms") -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(NOTICE.c.status, func.count()).where(NOTICE.c.channel == channel).group_by(NOTICE.c.status)
        ).all()
    return {str(status): int(count) for status, count in rows}
