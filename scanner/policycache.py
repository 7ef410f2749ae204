"""The queue's rules of policy files already validated in full, remembered by the file's sha256.

The SMS system runs ``realname notices claim`` (and ack, nack, receipt) in a loop, and validating
the whole policy each time (pydantic and the policy's models) took about a third of the command's
start-up. So the first time this installation validates a policy file in full, the queue's rules
it gives (send window, retry schedule, default lease) are kept in a small JSON file named after the
file's sha256, and the queue commands read them from there while the file's bytes are unchanged.
Any edit makes another sha256: the file is validated in full again, and a mistake anywhere in it is
reported as before. Entries also name the installation (the wheel's file hashes and the versions of
every package installed with it), so a new release, or a new pydantic, validates again.

The folder is ``$REALNAME_CACHE_DIR``, else ``$XDG_CACHE_HOME/realname-scanner``, else
``~/.cache/realname-scanner`` (made readable by its owner only: its entries decide when notices go
out). When it cannot be read or written nothing is remembered, and every command validates the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from notices.queue import QueueRules
from notices.retry import RetryPolicy
from notices.window import SendWindow

_FORMAT = 1


def cache_dir() -> Path:
    configured = os.environ.get("REALNAME_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "realname-scanner"


@cache
def installation() -> str | None:
    """A fingerprint of the code that validated the policy: the RECORD of this package's wheel (the
    sha256 of every file it installed) and the names, with versions, of every package installed
    beside it. None when the code does not run from an installed wheel: then nothing is cached."""
    site = Path(__file__).resolve().parents[1]
    try:
        infos = sorted(entry.name for entry in os.scandir(site) if entry.name.endswith(".dist-info"))
        ours = [name for name in infos if name.startswith("realname_scanner-")]
        if len(ours) != 1:
            return None
        record = (site / ours[0] / "RECORD").read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(record)
    digest.update("\n".join(infos).encode())
    return digest.hexdigest()


def _entry(policy_sha256: str) -> Path | None:
    code = installation()
    if code is None:
        return None
    return cache_dir() / f"policy-{policy_sha256}-{code[:20]}.json"


def recall(policy_sha256: str) -> QueueRules | None:
    """The queue's rules of the policy file with these bytes, if this installation validated it in
    full before; None otherwise (or when the entry cannot be read or used)."""
    entry = _entry(policy_sha256)
    if entry is None:
        return None
    try:
        data = json.loads(entry.read_bytes())
        if (
            data["format"] != _FORMAT
            or data["policy_sha256"] != policy_sha256
            or data["installation"] != installation()
        ):
            return None
        window, retry = data["window"], data["retry"]
        return QueueRules(
            window=SendWindow(
                dt.time.fromisoformat(window["opens"]), dt.time.fromisoformat(window["closes"]), window["zone"]
            ),
            retry=RetryPolicy(
                max_attempts=int(retry["max_attempts"]),
                first_delay=dt.timedelta(seconds=retry["first_delay_seconds"]),
                longest_delay=dt.timedelta(seconds=retry["longest_delay_seconds"]),
            ),
            lease_seconds=int(data["lease_seconds"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(policy_sha256: str, rules: QueueRules) -> None:
    """Keep the queue's rules of a policy file just validated in full (best effort)."""
    entry = _entry(policy_sha256)
    if entry is None:
        return
    data: dict[str, Any] = {
        "format": _FORMAT,
        "policy_sha256": policy_sha256,
        "installation": installation(),
        "window": {
            "opens": rules.window.opens.isoformat(),
            "closes": rules.window.closes.isoformat(),
            "zone": rules.window.zone,
        },
        "retry": {
            "max_attempts": rules.retry.max_attempts,
            "first_delay_seconds": rules.retry.first_delay.total_seconds(),
            "longest_delay_seconds": rules.retry.longest_delay.total_seconds(),
        },
        "lease_seconds": rules.lease_seconds,
    }
    partial = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(partial, entry)  # whole or not at all, whoever reads it meanwhile
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
