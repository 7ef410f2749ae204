"""The web app's signing key: from the environment, or a file made on first use that only its owner
may read; too short or readable by others is refused with the file named."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.web.auth import LOCK_AFTER, after_failure
from scanner.web.secret import ENV, SecretError, load_secret


def test_a_key_file_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "web-secret"
    first = load_secret(path, environ={})
    assert len(first) == 64 and (path.stat().st_mode & 0o777) == 0o600
    assert load_secret(path, environ={}) == first


def test_the_environment_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    assert load_secret(tmp_path / "x", environ={ENV: "k" * 40}) == b"k" * 40
    assert not (tmp_path / "x").exists()
    with pytest.raises(SecretError, match=ENV):
        load_secret(tmp_path / "x", environ={ENV: "short"})


def test_a_key_others_can_read_or_a_short_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "web-secret"
    path.write_text("s" * 64)
    path.chmod(0o644)
    with pytest.raises(SecretError, match="readable by others"):
        load_secret(path, environ={})
    path.chmod(0o600)
    path.write_text("tiny")
    with pytest.raises(SecretError, match=str(path)):
        load_secret(path, environ={})


def test_wrong_passwords_wait_longer_then_lock() -> None:
    import datetime as dt

    at = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    waits = [after_failure(n, at) for n in range(1, LOCK_AFTER + 2)]
    assert waits[:2] == [None, None]
    assert [(w - at).total_seconds() for w in waits[2:] if w] == [5, 10, 900, 900]
