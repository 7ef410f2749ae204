"""`realname report --diff RUN_A RUN_B` as a compliance officer meets it: tables, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from diff_runs import Person, add_people, add_run
from typer.testing import CliRunner

from scanner.cli.app import app

runner = CliRunner()
PEOPLE = [Person(1, "420102", 2003), Person(2, "110105", 2012), Person(3, "440305", 2018), Person(4, "420102", 2020)]


@pytest.fixture
def url(tmp_path: Path) -> str:
    from scanner.db import open_engine

    url = f"sqlite:///{tmp_path / 'diff.db'}"
    engine = open_engine(url)
    add_people(engine, PEOPLE)
    add_run(engine, 1, {1: ("pass", []), 2: ("fail", ["BLURRY"]), 3: ("pass", []), 4: ("review", ["HEAD_COVERED"])})
    add_run(
        engine,
        2,
        {1: ("fail", ["MOUTH_NOSE_OCCLUDED"]), 2: ("pass", []), 3: ("fail", ["FACE_MISMATCH"]), 4: ("pass", [])},
        mode="preview",
    )
    return url


def test_text_shows_the_matrix_the_breakdowns_and_masked_subscribers(url: str) -> None:
    result = runner.invoke(app, ["report", "--diff", "1", "2", "--database", url], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Run 1 -> run 2: 2 newly failing, 2 newly passing" in out
    assert "policy next 2026.11-2" in out and "preview" in out
    for heading in ("Verdict in run A (rows) -> run B (columns)", "Newly failing: 2 subscribers", "by new reason"):
        assert heading in out
    assert "Newly passing: 2 subscribers" in out and "by reason gone" in out
    assert "MOUTH_NOSE_OCCLUDED" in out and "湖北省 (42)" in out and "广东省 (44)" in out and "2003" in out
    assert "139****0001" in out
    for person in PEOPLE:
        assert person.msisdn not in out and person.id_number not in out


def test_limit_caps_each_list_and_says_how_many_more(url: str) -> None:
    result = runner.invoke(app, ["report", "--diff", "1", "2", "--limit", "1", "--database", url])
    assert result.exit_code == 0, result.output
    assert "Newly failing: 1 of 2 subscribers" in result.output
    assert "... 1 more not shown" in result.output


def test_json_to_standard_output_and_to_a_file(url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--diff", "1", "2", "--format", "json", "--database", url])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema"] == "realname-scanner/diff/1"
    assert data["counts"]["newly_failing"] == 2 and data["counts"]["newly_passing"] == 2
    assert data["newly_failing"]["by_region"] == {"广东省 (44)": 1, "湖北省 (42)": 1}
    assert data["list_limit"] == 1000  # --limit is for the text tables only

    out = tmp_path / "diff.json"
    written = runner.invoke(app, ["report", "--diff", "1", "2", "--format", "json", "-o", str(out), "--database", url])
    assert written.exit_code == 0 and written.output == ""
    assert json.loads(out.read_text(encoding="utf-8")) == data


def test_text_to_a_file(url: str, tmp_path: Path) -> None:
    out = tmp_path / "diff.txt"
    result = runner.invoke(app, ["report", "--diff", "1", "2", "-o", str(out), "--database", url])
    assert result.exit_code == 0 and result.output == ""
    assert "Newly failing: 2 subscribers" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--diff", "1", "8"], "no scan run with id 8"),
        (["--diff", "9", "2"], "no scan run with id 9"),
        (["--diff", "2", "2"], "two different runs"),
        (["1", "--diff", "1", "2"], "not both"),
        (["--diff", "1", "2", "--verdict", "fail"], "--verdict does not apply to --diff"),
        (["--diff", "1", "2", "--format", "csv"], "--diff is written as a table or json"),
        (["--diff", "1", "2", "--format", "xml"], "'xml' is not one of 'table', 'text', 'csv', 'json', 'html'"),
    ],
)
def test_errors_exit_2_and_say_what_is_wrong(url: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["report", *args, "--database", url])
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # typer draws its errors in a box


def test_diff_needs_two_run_ids(url: str) -> None:
    result = runner.invoke(app, ["report", "--diff", "1", "--database", url])
    assert result.exit_code == 2
    assert "--diff" in result.output
