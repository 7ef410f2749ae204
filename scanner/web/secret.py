"""The key that signs session cookies and CSRF tokens: ``REALNAME_WEB_SECRET`` (at least 32
characters), or a random key kept in a file only its owner may read (made on first use), so that
sessions outlive a restart of the server and several server processes can share one key."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

ENV = "REALNAME_WEB_SECRET"
MIN_LENGTH = 32


class SecretError(ValueError):
    """A key that is missing, too short, or kept where others can read it."""


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "realname" / "web-secret"


def load_secret(path: Path | None = None, environ: dict[str, str] | None = None) -> bytes:
    env = os.environ if environ is None else environ
    given = env.get(ENV, "")
    if given:
        if len(given) < MIN_LENGTH:
            raise SecretError(f"{ENV}: at least {MIN_LENGTH} characters, not {len(given)}")
        return given.encode()
    path = path or default_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(f"{path}: readable by others (mode {stat.filemode(mode)}); chmod 600 it")
    value = path.read_text(encoding="utf-8").strip()
    if len(value) < MIN_LENGTH:
        raise SecretError(f"{path}: at least {MIN_LENGTH} characters, not {len(value)}")
    return value.encode()
