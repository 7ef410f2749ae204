"""The `realname` command as a user meets it: help, README coverage, exit codes, masked output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from policy_overlays import fixture_policy
from typer.main import get_command
from typer.testing import CliRunner

from checks.idcard import check_character
from scanner.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _commands() -> list[tuple[str, Any]]:
    """(name, command) for every leaf command, sub-commands as "group sub"."""
    root: Any = get_command(app)
    out: list[tuple[str, Any]] = []
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):
            out.extend((f"{name} {sub}", subcmd) for sub, subcmd in cmd.commands.items())
        else:
            out.append((name, cmd))
    return out


@pytest.mark.parametrize("name,command", _commands(), ids=[n for n, _ in _commands()])
def test_every_command_has_help_and_is_in_the_readme(name: str, command: Any) -> None:
    assert (command.help or "").strip(), f"`realname {name}` has no help text"
    for param in command.params:
        if param.param_type_name == "option":
            assert (param.help or "").strip(), f"`realname {name}` option {param.opts} has no help"
    assert f"realname {name}" in (ROOT / "README.md").read_text(encoding="utf-8")
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output


def _body(body17: str) -> str:
    return body17 + check_character(body17)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    Image.fromarray(np.full((126, 102, 3), 120, np.uint8)).save(tmp_path / "grey.jpg")
    lines = [
        "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo",
        f"C1,13012349990,张三,{_body('11010519491231002')},长期,2003-06-18,consumer,,,",
        f"C2,13912345678,李四,{_body('42010219800101123')},2030-01-01,2015-03-02,consumer,grey.jpg,grey.jpg,",
    ]
    (tmp_path / "base.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_import_rescan_report_through_the_cli(base: Path) -> None:
    url = f"sqlite:///{base / 'cli.db'}"
    result = runner.invoke(app, ["import", str(base / "base.csv"), "--database", url])
    assert result.exit_code == 0, result.output
    assert "2 new" in result.output

    again = runner.invoke(app, ["import", str(base / "base.csv"), "--database", url])
    assert again.exit_code == 0 and "2 unchanged" in again.output

    scan = runner.invoke(app, ["rescan", "--database", url, "--workers", "1", "--as-of", "2026-11-22", "--quiet"])
    assert scan.exit_code == 0, scan.output
    lines = [json.loads(line) for line in scan.output.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["started", "finished"]  # quiet: JSON lines only
    assert lines[-1]["run"] == 1 and lines[-1]["subscribers"] == 2 and lines[-1]["verdicts"]["fail"] == 2
    assert not [line for line in scan.output.splitlines() if line and not line.startswith("{")]

    preview = runner.invoke(app, ["rescan", "--database", url, "--workers", "1", "--preview"])
    assert preview.exit_code == 0, preview.output
    assert "run 2 (preview) finished: 2 subscribers" in preview.output
    # The hint names the database it was given, so the command works as printed.
    assert f"see it again with: realname report 2 --database {url}" in " ".join(preview.output.split())

    text = runner.invoke(app, ["report", "--database", url])
    assert text.exit_code == 0, text.output
    assert "130****9990" in text.output and "13012349990" not in text.output
    assert "NO_PHOTO" in text.output

    out = base / "report.json"
    js = runner.invoke(app, ["report", "1", "--format", "json", "-o", str(out), "--database", url])
    assert js.exit_code == 0, js.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {r["account_id"] for r in data["subscribers"]} == {"C1", "C2"}


def test_errors_exit_non_zero_and_name_the_problem(base: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{base / 'err.db'}"
    bad_policy = fixture_policy("unknown_key.toml", tmp_path)
    result = runner.invoke(app, ["rescan", "--policy", str(bad_policy), "--database", url])
    assert result.exit_code == 2
    assert "checks.clarity.min_sharpnes: unknown key" in result.output

    csv = base / "bad.csv"
    csv.write_text(
        (base / "base.csv").read_text(encoding="utf-8").replace("13912345678", "1391234567"), encoding="utf-8"
    )
    result = runner.invoke(app, ["import", str(csv), "--database", url])
    assert result.exit_code == 1
    assert "line 3 (account C2): msisdn" in result.output
    assert "nothing imported" in result.output
    assert "--skip-invalid" in result.output and "--keep-invalid-id" in result.output

    result = runner.invoke(app, ["report", "99", "--database", url])
    assert result.exit_code == 2 and "no scan run with id 99" in result.output


def test_text_from_files_is_shown_as_written_never_as_markup_or_terminal_commands(base: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{base / 'markup.db'}"
    rows = (base / "base.csv").read_text(encoding="utf-8").splitlines()
    # A segment cell with markup and an escape sequence (rejected, and named), and a photo path with them.
    bad = rows[1].replace(",consumer,", ",[/oops]\x1b[31m,")
    odd_photo = tmp_path / "[red]x\x1b[2J.jpg"
    good = rows[2].split(",")
    good[8] = str(odd_photo)
    csv = tmp_path / "odd.csv"
    csv.write_text("\n".join([rows[0], bad, ",".join(good)]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(csv), "--skip-invalid", "--database", url])
    assert result.exit_code == 0, result.output
    assert "'[/oops]\\x1b[31m' is not one of" in result.output and "\x1b" not in result.output
    assert runner.invoke(app, ["rescan", "--database", url, "--workers", "1", "--quiet"]).exit_code == 0
    out = tmp_path / "report.txt"
    assert runner.invoke(app, ["report", "--limit", "0", "-o", str(out), "--database", url]).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "[red]x" in text and "\\x1b" in text  # the path as written, its escape made visible
    assert "\x1b" not in text
