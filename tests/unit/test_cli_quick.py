"""The queue commands started without Typer's option parsing: they are called with exactly what Typer
would call them with, and every command line the quick path does not read goes to Typer."""

from __future__ import annotations

import functools
import gc
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from scanner import db
from scanner.cli import app as app_module
from scanner.cli import notices as notices_cli
from scanner.cli import quick
from scanner.cli.app import app, main

MORNING = "2026-12-01T10:00:00+08:00"
GROUPS = {"notices": notices_cli.notices_app}
runner = CliRunner()


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("REALNAME_DATABASE_URL", "REALNAME_NOW", "REALNAME_DEBUG", "_REALNAME_COMPLETE"):
        monkeypatch.delenv(name, raising=False)
    yield
    gc.unfreeze()  # a quick command run here froze the test process's objects


def _typer_call(args: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keyword arguments Typer calls the command with (the commands replaced by recorders)."""
    seen: dict[str, Any] = {}
    for info in notices_cli.notices_app.registered_commands:

        @functools.wraps(info.callback)  # type: ignore[arg-type]
        def record(**kwargs: Any) -> None:
            seen.update(kwargs)

        monkeypatch.setattr(info, "callback", record)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return seen


READ = [
    ["notices", "claim"],
    ["notices", "claim", "--n", "1", "--consumer", "gw", "--now", MORNING],
    ["notices", "claim", "--n=1000", "--lease", "10", "--channel", "call", "--policy", "p.toml", "--database", "x"],
    ["notices", "claim", "--consumer=", "--lease=600", "--channel=letter", "--n", "007"],
    ["notices", "ack", "--now", MORNING],
    ["notices", "nack", "--policy=a=b.toml"],
    ["notices", "receipt", "--database", "sqlite:///y.db", "--now", "2026-12-01"],
    ["notices", "stats"],
]


@pytest.mark.parametrize("args", READ, ids=" ".join)
@pytest.mark.parametrize("env", [{}, {"REALNAME_NOW": MORNING, "REALNAME_DATABASE_URL": "sqlite:///env.db"}])
def test_the_quick_path_calls_the_command_as_typer_does(
    args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    call = quick.parse(args, GROUPS)
    assert call is not None
    expected = _typer_call(args, monkeypatch)
    assert call.kwargs == expected
    assert [type(v) for v in call.kwargs.values()] == [type(v) for v in expected.values()]
    assert call.command.__name__ == f"notices_{args[1]}"


LEFT_TO_TYPER = [
    ["notices"],
    ["notices", "nope"],
    ["notices", "claim", "--help"],
    ["notices", "claim", "-h"],
    ["notices", "claim", "extra"],
    ["notices", "claim", "--n", "0"],
    ["notices", "claim", "--n", "1001"],
    ["notices", "claim", "--n", "+1"],
    ["notices", "claim", "--n", "١"],
    ["notices", "claim", "--lease", "9"],
    ["notices", "claim", "--channel", "fax"],
    ["notices", "claim", "--channel", "SMS"],
    ["notices", "claim", "--consumer"],
    ["notices", "claim", "--consumer", "-x"],
    ["notices", "claim", "--consumer", "a", "--consumer", "b"],
    ["notices", "claim", "--cosumer", "a"],
    ["notices", "stats", "--policy="],
    ["--debug", "notices", "stats"],
    ["cases", "summary"],
    [],
]


@pytest.mark.parametrize("args", LEFT_TO_TYPER, ids=" ".join)
def test_what_the_quick_path_does_not_read_goes_to_typer(args: list[str]) -> None:
    assert quick.parse(args, GROUPS) is None


@pytest.mark.parametrize("name", ["REALNAME_DEBUG", "_REALNAME_COMPLETE"])
def test_global_settings_in_the_environment_go_to_typer(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "1")
    assert quick.parse(["notices", "stats"], GROUPS) is None


def test_an_exit_ends_the_program_with_its_code() -> None:
    def command() -> None:
        raise typer.Exit(3)

    with pytest.raises(SystemExit) as info:
        quick.run(quick.Call(command, {}))
    assert info.value.code == 3


def _main(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["realname", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_main_answers_the_same_on_both_paths(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(engine.url)
    quick_calls: list[str] = []
    quick_run = quick.run

    def counted(call: quick.Call) -> None:
        quick_calls.append(call.command.__name__)
        quick_run(call)

    monkeypatch.setattr(quick, "run", counted)
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"id": 1, "token": "t"}\n'))
    ack = ["notices", "ack", "--now", MORNING, "--database", url]
    quick_ack = _main(ack, monkeypatch, capsys)
    stats = ["notices", "stats", "--now", MORNING, "--database", url]
    quick_stats = _main(stats, monkeypatch, capsys)
    assert gc.get_freeze_count() > 0 and not db._ENGINES  # connections closed, the rest left to the exit
    monkeypatch.setattr(quick, "parse", lambda args, groups: None)  # Typer reads every command line
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"id": 1, "token": "t"}\n'))
    assert _main(ack, monkeypatch, capsys) == quick_ack
    assert _main(stats, monkeypatch, capsys) == quick_stats
    assert quick_calls == ["notices_ack", "notices_stats"]
    assert quick_ack[0] == 1 and "missing field 'gateway_message_id'" in quick_ack[1]
    assert quick_stats[0] == 0 and '"by_channel": {}' in quick_stats[1]


def test_a_database_error_on_the_quick_path_is_one_masked_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'q.db'}"
    code, out, err = _main(["notices", "stats", "--database", url], monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert "error: database:" in err and "does not exist" in err and "Traceback" not in err
    assert app_module.DEBUG is False


def test_a_queue_command_loads_neither_pydantic_nor_sqlmodel_once_its_policy_was_validated(
    engine: Engine, tmp_path: Path
) -> None:
    realname = Path(sys.executable).with_name("realname")
    command = [sys.executable, "-X", "importtime", str(realname), "notices", "stats", "--database", str(engine.url)]
    env = {**os.environ, "REALNAME_CACHE_DIR": str(tmp_path / "cache")}

    def loaded() -> set[str]:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        assert '"by_channel"' in done.stdout
        return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}

    assert "pydantic" in loaded()  # the first time, the whole policy is validated
    heavy = {"pydantic", "sqlmodel", "scanner.models", "alembic", "rich", "typer._adapters", "checks.policy"}
    assert loaded() & heavy == set()
