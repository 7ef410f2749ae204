"""The Kannel relay's settings: command-line options over a TOML file's ``[kannel]`` table.

The sendsms password is read from a file only its owner may read (``password_file``), never taken
from the command line or the configuration file itself, and never shown: ``RelayConfig`` leaves it out
of its ``repr``. Errors name the file and the key.
"""

from __future__ import annotations

import socket
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A relay setting that cannot be used; the message names the file or key."""


@dataclass(frozen=True)
class RelayConfig:
    sendsms: str  # Kannel's sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms
    user: str  # a sendsms-user of that Kannel
    password: str = field(repr=False)
    dlr_host: str = "127.0.0.1"  # where the relay listens for Kannel's delivery reports
    dlr_port: int = 13080
    dlr_url: str = ""  # the report URL as Kannel must call it (default: http://dlr_host:dlr_port/dlr)
    sender: str = ""  # the operator's sender id; empty: Kannel's global-sender
    consumer: str = ""  # the name the relay claims notices under
    batch: int = 50  # notices claimed at once (at most)
    in_flight: int = 8  # sendsms requests open at once
    timeout_seconds: float = 10.0  # a sendsms request without an answer by then is given back
    status_every_seconds: float = 30.0  # a JSON status line this often
    add_signature: bool = True  # put the policy's 【signature】 before the text (Kannel adds none)

    @property
    def report_url(self) -> str:
        return self.dlr_url or f"http://{self.dlr_host}:{self.dlr_port}/dlr"


KEYS: dict[str, type | tuple[type, ...]] = {
    "sendsms": str,
    "user": str,
    "password_file": str,
    "dlr_listen": str,
    "dlr_url": str,
    "sender": str,
    "consumer": str,
    "batch": int,
    "in_flight": int,
    "timeout_seconds": (int, float),
    "status_every_seconds": (int, float),
    "add_signature": bool,
    "database": str,
    "policy": str,
}


def read_file(path: Path) -> dict[str, Any]:
    """The ``[kannel]`` table of a relay configuration file, its keys checked."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    table = data.get("kannel")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: no [kannel] table")
    for key, value in table.items():
        if key == "password":
            raise ConfigError(f"{path}: kannel.password: keep the password in a file named by password_file")
        if key not in KEYS:
            raise ConfigError(f"{path}: kannel.{key}: unknown key (known: {', '.join(sorted(KEYS))})")
        kind = KEYS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: kannel.{key}: {value!r} is not the right type")
    return dict(table)


def read_password(path: Path) -> str:
    """The sendsms password from a file only its owner may read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"password file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"password file {path}: readable by others (mode {stat.filemode(mode)}); chmod 600 it")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"password file {path}: {exc}") from None
    if not value:
        raise ConfigError(f"password file {path}: empty")
    return value


def listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"dlr_listen {value!r}: give HOST:PORT, e.g. 127.0.0.1:13080")
    return host.strip("[]"), int(port)


def build(settings: Mapping[str, Any]) -> RelayConfig:
    """The relay's configuration from settings already merged (file first, options over it)."""
    sendsms = str(settings.get("sendsms") or "")
    parts = urlsplit(sendsms)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"sendsms {sendsms!r}: give Kannel's sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms"
        )
    user = str(settings.get("user") or "")
    if not user:
        raise ConfigError("user: the sendsms-user to send as is missing")
    password_file = settings.get("password_file")
    if not password_file:
        raise ConfigError("password_file: the file holding the sendsms password is missing")
    host, port = listen_address(str(settings.get("dlr_listen") or "127.0.0.1:13080"))
    batch, in_flight = int(settings.get("batch", 50)), int(settings.get("in_flight", 8))
    if not 1 <= batch <= 1000:
        raise ConfigError(f"batch {batch}: from 1 to 1000")
    if not 1 <= in_flight <= 256:
        raise ConfigError(f"in_flight {in_flight}: from 1 to 256")
    timeout = float(settings.get("timeout_seconds", 10.0))
    every = float(settings.get("status_every_seconds", 30.0))
    if not 0.5 <= timeout <= 300 or not 1 <= every <= 3600:
        raise ConfigError("timeout_seconds from 0.5 to 300, status_every_seconds from 1 to 3600")
    return RelayConfig(
        sendsms=sendsms,
        user=user,
        password=read_password(Path(str(password_file)).expanduser()),
        dlr_host=host,
        dlr_port=port,
        dlr_url=str(settings.get("dlr_url") or ""),
        sender=str(settings.get("sender") or ""),
        consumer=str(settings.get("consumer") or f"kannel-relay@{socket.gethostname()}")[:200],
        batch=batch,
        in_flight=in_flight,
        timeout_seconds=timeout,
        status_every_seconds=every,
        add_signature=bool(settings.get("add_signature", True)),
    )
