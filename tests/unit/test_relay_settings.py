"""The relay's settings (file, options, password file) and its pacing over SMSC links."""

from __future__ import annotations

import itertools
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.settings import EnforcementError, parse_enforcement
from scanner.relay.config import ConfigError, build, listen_address, read_file
from scanner.relay.pace import Pacer


def secret(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "pw"
    path.write_text("s3cret-pass\n")
    path.chmod(mode)
    return path


def test_a_file_with_options_over_it_and_the_password_never_shown(tmp_path: Path) -> None:
    conf = tmp_path / "relay.toml"
    conf.write_text(
        '[kannel]\nsendsms = "http://10.0.0.5:13013/cgi-bin/sendsms"\nuser = "rn"\n'
        f'password_file = "{secret(tmp_path)}"\ndlr_listen = "0.0.0.0:13080"\nbatch = 20\n'
    )
    settings = read_file(conf)
    settings.update({"in_flight": 4})
    config = build(settings)
    assert (config.user, config.dlr_host, config.dlr_port, config.batch, config.in_flight) == (
        "rn",
        "0.0.0.0",
        13080,
        20,
        4,
    )
    assert config.password == "s3cret-pass"
    assert "s3cret" not in repr(config)
    assert config.report_url == "http://0.0.0.0:13080/dlr"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[kannel]\npassword = "x"\n', "password_file"),
        ("[kannel]\nbatchh = 3\n", "kannel.batchh: unknown key"),
        ("[kannel]\nbatch = true\n", "kannel.batch"),
        ("[other]\n", "no [kannel] table"),
        ("[kannel\n", "relay.toml"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_key(tmp_path: Path, text: str, named: str) -> None:
    conf = tmp_path / "relay.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError, match=r"relay\.toml") as caught:
        read_file(conf)
    assert named in str(caught.value)


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    base = {"sendsms": "http://127.0.0.1:13013/cgi-bin/sendsms", "user": "rn"}
    with pytest.raises(ConfigError, match="readable by others"):
        build({**base, "password_file": str(secret(tmp_path, 0o644))})
    with pytest.raises(ConfigError, match="password_file"):
        build(base)
    with pytest.raises(ConfigError, match="sendsms"):
        build({**base, "sendsms": "ftp://x", "password_file": str(secret(tmp_path))})
    with pytest.raises(ConfigError, match="batch"):
        build({**base, "password_file": str(secret(tmp_path)), "batch": 0})
    assert stat.S_IMODE((tmp_path / "pw").stat().st_mode) == 0o600


@pytest.mark.parametrize("bad", ["13080", ":13080", "host:", "host:99999", "host:port"])
def test_a_listen_address_must_be_host_and_port(bad: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        listen_address(bad)


def test_links_in_the_policy() -> None:
    link = "https://x.example.cn/r"
    assert parse_enforcement(None, {"link": link}).sms_links == {"*": 50.0}
    rules = parse_enforcement(None, {"link": link, "sms_links": {"smsc-a": 80, "smsc-b": 20}})
    assert rules.sms_links == {"smsc-a": 80.0, "smsc-b": 20.0}
    for bad, says in (({}, "at least one link"), ({"a": 0}, "parts per second"), ({"*": 5, "a": 5}, "cannot be")):
        with pytest.raises(EnforcementError, match=r"notices\.sms_links") as caught:
            parse_enforcement(None, {"link": link, "sms_links": bad})
        assert says in str(caught.value)


def test_the_pacer_keeps_each_link_to_its_rate() -> None:
    pacer = Pacer({"a": 30.0, "b": 10.0})
    booked: dict[str, int] = {"a": 0, "b": 0}
    now, horizon = 0.0, 0.0
    for _ in range(400):
        link, wait = pacer.reserve(2, now)
        booked[link] += 2
        horizon = max(horizon, now + wait)
        now += wait  # a caller that waits as told
    # 800 parts at 40 parts a second take 20 s, split 3:1 as the rates are.
    assert horizon == pytest.approx(20.0, abs=0.2)
    assert booked["a"] / booked["b"] == pytest.approx(3.0, rel=0.05)


def test_an_idle_link_saves_up_no_burst() -> None:
    pacer = Pacer({"*": 10.0})
    assert pacer.reserve(1, 100.0) == ("*", 0.0)
    assert pacer.reserve(1, 100.0) == ("*", pytest.approx(0.1))
    assert pacer.reserve(3, 500.0) == ("*", 0.0)  # idle for minutes: starts now, not earlier
    assert pacer.reserve(1, 500.0)[1] == pytest.approx(0.3)


@given(
    rates=st.dictionaries(st.sampled_from("abcd"), st.floats(0.5, 500), min_size=1),
    parts=st.lists(st.integers(1, 6), min_size=1, max_size=200),
)
def test_no_link_is_ever_handed_more_than_its_rate(rates: dict[str, float], parts: list[int]) -> None:
    pacer = Pacer(rates)
    starts: dict[str, list[tuple[float, int]]] = {name: [] for name in rates}
    now = 0.0
    for n in parts:
        link, wait = pacer.reserve(n, now)
        starts[link].append((now + wait, n))
        now += wait * 0.5  # a caller that does not wait its whole turn still cannot go early
    for name, booked in starts.items():
        for (t1, n1), (t2, _) in itertools.pairwise(booked):
            assert t2 - t1 >= n1 / rates[name] - 1e-9
