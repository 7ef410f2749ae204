"""The queue's rules of policy files validated in full before: remembered by the file's sha256 and the
installation, never instead of validating a file whose bytes changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from policy_overlays import FIXTURE_POLICIES, fixture_policy, policy_with

from checks.policy import PolicyError
from notices.queue import QueueRules
from scanner import policycache
from scanner.policyfile import DEFAULT_POLICY, load_policy, load_queue_rules


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("REALNAME_CACHE_DIR", str(folder))
    return folder


def _rules(rules: QueueRules) -> tuple[object, ...]:
    return (rules.window, rules.retry, rules.lease_seconds, rules.zone)


def test_the_tests_run_from_an_installation_so_entries_are_kept() -> None:
    assert policycache.installation() is not None


def test_a_policy_is_validated_once_then_its_queue_rules_are_read_back(cache: Path) -> None:
    first = load_queue_rules()
    assert type(first).__name__ == "Enforcement"  # validated in full
    (entry,) = cache.iterdir()
    assert hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest() in entry.name
    assert cache.stat().st_mode & 0o077 == 0  # its owner's only
    again = load_queue_rules()
    assert type(again) is QueueRules  # from the cache
    assert _rules(again) == _rules(first) == _rules(load_policy().enforcement)


def test_changed_queue_rules_are_read_from_the_changed_file(tmp_path: Path) -> None:
    changes = {"notices.send_window": ["09:30", "20:00"], "notices.max_attempts": 3, "notices.lease_seconds": 60}
    file = policy_with(tmp_path, {**changes, "policy.timezone": "Asia/Urumqi"})
    expected = _rules(load_policy(file).enforcement)
    assert _rules(load_queue_rules(file)) == expected
    assert _rules(load_queue_rules(file)) == expected
    assert expected[3] == "Asia/Urumqi" and expected[2] == 60


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURE_POLICIES.glob("*.toml")))
def test_a_mistake_is_reported_as_before_even_where_a_good_file_was_remembered(name: str, tmp_path: Path) -> None:
    file = tmp_path / name
    file.write_bytes(DEFAULT_POLICY.read_bytes())
    load_queue_rules(file)
    load_queue_rules(file)  # remembered
    (tmp_path / "src").mkdir()
    file.write_bytes(fixture_policy(name, tmp_path / "src").read_bytes())
    try:
        loaded = load_policy(file)
    except PolicyError as exc:
        with pytest.raises(PolicyError) as info:
            load_queue_rules(file)
        assert str(info.value) == str(exc)
    else:  # a valid fixture: its own rules
        assert _rules(load_queue_rules(file)) == _rules(loaded.enforcement)


def test_a_missing_file_is_reported_as_before(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_queue_rules(tmp_path / "nope.toml")


def test_an_entry_for_other_bytes_or_another_installation_or_unreadable_is_not_used(cache: Path) -> None:
    load_queue_rules()
    (entry,) = cache.iterdir()
    sha = hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest()
    good = json.loads(entry.read_text(encoding="utf-8"))
    assert policycache.recall(sha) is not None
    for changed in ({"installation": "0" * 64}, {"policy_sha256": "0" * 64}, {"format": 0}, {"window": {}}):
        entry.write_text(json.dumps({**good, **changed}), encoding="utf-8")
        assert policycache.recall(sha) is None, changed
    entry.write_text("{not json", encoding="utf-8")
    assert policycache.recall(sha) is None
    assert type(load_queue_rules()).__name__ == "Enforcement"  # validated again, and remembered again
    assert policycache.recall(sha) is not None


def test_a_cache_folder_that_cannot_be_written_only_costs_the_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.write_text("a file, not a folder")
    monkeypatch.setenv("REALNAME_CACHE_DIR", str(plain / "cache"))
    assert _rules(load_queue_rules()) == _rules(load_policy().enforcement)
    assert _rules(load_queue_rules()) == _rules(load_policy().enforcement)
    assert plain.read_text() == "a file, not a folder"


def test_without_an_installation_nothing_is_kept(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policycache, "installation", lambda: None)
    load_queue_rules()
    assert not cache.exists()


def test_the_folder_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REALNAME_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert policycache.cache_dir() == tmp_path / "xdg" / "realname-scanner"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert policycache.cache_dir() == tmp_path / "home" / ".cache" / "realname-scanner"
