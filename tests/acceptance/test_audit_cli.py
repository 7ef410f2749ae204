"""`realname audit verify` and `realname audit log` as an auditor meets them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from scanner.cli.app import app

runner = CliRunner()
DAY0 = "2026-12-03T10:00"  # Shanghai time


def _run(url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--database", url])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def enforced(tmp_path: Path) -> str:
    """Two failing subscribers rescanned, their cases opened and their first notices claimed."""
    (tmp_path / "base.csv").write_text(
        "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo\n"
        "C1,13012349990,张三,11010519491231002X,长期,2003-06-18,consumer,,,\n"
        "C2,13912345678,李四,420102198001011232,2030-01-01,2015-03-02,consumer,,,\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'a.db'}"
    _run(url, "import", str(tmp_path / "base.csv"), "--keep-invalid-id")
    _run(url, "rescan", "--workers", "1", "--quiet", "--as-of", "2026-12-01")
    _run(url, "cases", "advance", "--now", DAY0)
    _run(url, "notices", "claim", "--n", "10", "--consumer", "gw-a", "--now", DAY0)
    _run(url, "holds", "add", "--scope", "account:C2", "--reason", "called 13912345678 back", "--until", "2026-12-05",
         "--officer", "Wang Li", "--now", DAY0)  # fmt: skip
    return url


def test_verify_an_intact_log_then_a_changed_finding_and_an_anchor(enforced: str) -> None:
    out = _run(enforced, "audit", "verify")
    assert "audit log intact" in out and "runs checked: 1" in out and "case histories checked: 2" in out
    head = re.search(r"head: seq (\d+) digest ([0-9a-f]{64})", out)
    assert head is not None and int(head.group(1)) > 8
    assert "matches" in _run(enforced, "audit", "verify", "--anchor", f"{head.group(1)}:{head.group(2)}")
    wrong = _run(enforced, "audit", "verify", "--anchor", f"{head.group(1)}:{'0' * 64}", code=1)
    assert "the chain was rewritten" in wrong
    assert "SEQ:DIGEST" in _run(enforced, "audit", "verify", "--anchor", "12", code=2)

    engine = create_engine(enforced)
    with engine.begin() as conn:
        conn.execute(text("UPDATE finding SET reasons = '[]' WHERE subscriber_id = 2"))
    engine.dispose()
    out = _run(enforced, "audit", "verify", code=1)
    assert "run 1 ALTERED" in out and "shard(s) 0" in out and "NOT intact" in out
    report = json.loads(_run(enforced, "audit", "verify", "--format", "json", code=1))
    assert report["intact"] is False and report["runs_altered"][0]["run_id"] == 1


def test_log_by_subscriber_and_action_masks_numbers(enforced: str) -> None:
    out = _run(enforced, "audit", "log", "--subscriber", "13012349990")
    assert "notice.claim" in out and "case.start_ladder" in out and "C1 130****9990" in out
    assert "13012349990" not in out and "13912345678" not in out
    rows = [
        json.loads(line)
        for line in _run(enforced, "audit", "log", "--action", "notice.", "--format", "json").splitlines()
    ]
    assert {r["action"] for r in rows} == {"notice.queue", "notice.claim"}
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    hold = _run(enforced, "audit", "log", "--actor", "Wang Li")
    assert "hold.add" in hold and "139****5678" in hold and "13912345678" not in hold  # the reason's number masked
    assert len(_run(enforced, "audit", "log", "--limit", "3").splitlines()) == 3
    assert _run(enforced, "audit", "log", "--since", "2030-01-01") == ""
