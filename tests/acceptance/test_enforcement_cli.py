"""Enforcement through the `realname` command, as an officer, the SMS system and a subscriber meet it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from scanner.cli.app import app

runner = CliRunner()
DAY0 = "2026-12-03T10:00"  # Shanghai time


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _run(url: str, *args: str, input: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--database", url], input=input)
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else result.output  # a failure's message is on standard error


@pytest.fixture
def failing_base(tmp_path: Path) -> str:
    """Two subscribers with no photos on file (NO_PHOTO), rescanned once."""
    (tmp_path / "base.csv").write_text(
        "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo\n"
        "C1,13012349990,张三,11010519491231002X,长期,2003-06-18,consumer,,,\n"
        "C2,13912345678,李四,420102198001011232,2030-01-01,2015-03-02,consumer,,,\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'e.db'}"
    _run(url, "import", str(tmp_path / "base.csv"), "--keep-invalid-id")
    _run(url, "rescan", "--workers", "1", "--quiet", "--as-of", "2026-12-01")
    return url


def test_the_sms_system_drives_the_queue_with_json_lines(failing_base: str) -> None:
    url = failing_base
    out = _run(url, "cases", "advance", "--now", DAY0)
    assert "run 1 applied, 2 opened" in out and "13012349990" not in out
    assert "0 opened" in _run(url, "cases", "advance", "--now", DAY0)  # idempotent

    claimed = _lines(_run(url, "notices", "claim", "--n", "10", "--consumer", "gw-a", "--now", DAY0))
    assert {c["msisdn"] for c in claimed} == {"13012349990", "13912345678"}  # the gateway gets full numbers
    assert all("****" in c["text"] and c["msisdn"] not in c["text"] for c in claimed)
    assert all(c["segments"] >= 1 for c in claimed)
    night = _lines(_run(url, "notices", "claim", "--now", "2026-12-03T22:00", "--channel", "call"))
    assert night == []  # outside the send window

    acks = "".join(
        json.dumps({"id": c["id"], "token": c["token"], "gateway_message_id": f"m{c['id']}"}) + "\n" for c in claimed
    )
    answers = _lines(_run(url, "notices", "ack", "--now", DAY0, input=acks))
    assert [a["status"] for a in answers] == ["submitted"] * len(claimed)
    stale = _lines(_run(url, "notices", "ack", input=acks.replace(claimed[0]["token"], "0" * 32), code=1))
    assert "claim token does not match" in stale[0]["error"]

    receipts = (
        json.dumps(
            {"gateway_message_id": f"m{claimed[0]['id']}", "stat": "DELIVRD", "done_at": "2026-12-03T10:05+08:00"}
        )
        + "\n"
        + json.dumps({"gateway_message_id": f"m{claimed[1]['id']}", "stat": "UNDELIV", "error": "absent"})
        + "\n"
    )
    results = _lines(_run(url, "notices", "receipt", "--now", DAY0, input=receipts))
    assert [r["result"] for r in results] == ["delivered", "undelivered"]
    again = _lines(_run(url, "notices", "receipt", "--now", DAY0, input=receipts))
    assert [r["result"] for r in again] == ["unchanged", "unchanged"]  # gateways resend receipts
    bad = _lines(_run(url, "notices", "receipt", input='{"gateway_message_id": "x", "stat": "LOST"}\n', code=1))
    assert "not an SMPP stat" in bad[0]["error"]

    stats = _lines(_run(url, "notices", "stats", "--now", DAY0))[0]
    assert stats["by_channel"]["sms"] == {"delivered": 1, "undelivered": 1}
    assert stats["by_channel"]["call"] == {"queued": 1}  # C1 is 76: an agent calls at the first stage

    shown = _run(url, "cases", "show", "13012349990")
    assert "130****9990" in shown and "13012349990" not in shown and "history intact" in shown
    data = _lines(_run(url, "cases", "show", "C2", "--format", "json"))[0]
    assert data["cases"][0]["notices"][0]["status"] == "undelivered"


def test_holds_suspensions_and_exemption_through_the_cli(failing_base: str, tmp_path: Path) -> None:
    url = failing_base
    _run(url, "cases", "advance", "--now", DAY0)
    added = _lines(
        _run(
            url,
            "holds",
            "add",
            "--scope",
            "region:420100",
            "--reason",
            "lockdown",
            "--until",
            "2026-12-20",
            "--officer",
            "Li",
            "--now",
            DAY0,
        )
    )[0]
    assert added["until"] == "2026-12-20T16:00:00+00:00"  # the end of 20 December in Shanghai
    assert added["covers"] == "湖北省 武汉市"
    args = ("--reason", "x", "--until", "2026-12-20", "--officer", "Li")
    unknown = _run(url, "holds", "add", "--scope", "region:999999", *args, code=2)
    assert "999999 is not a region code" in " ".join(unknown.split())
    _run(url, "cases", "advance", "--now", "2026-12-03T10:10")
    c2 = _lines(_run(url, "cases", "show", "C2", "--format", "json"))[0]["cases"][0]
    assert c2["state"] == "on_hold" and c2["notices"][0]["status"] == "cancelled"
    listed = _lines(_run(url, "holds", "list", "--now", DAY0))
    assert [h["status"] for h in listed] == ["active"]
    _run(
        url,
        "holds",
        "lift",
        str(added["hold_id"]),
        "--reason",
        "reopened",
        "--officer",
        "Li",
        "--now",
        "2026-12-05T09:00",
    )
    assert _lines(_run(url, "holds", "list", "--now", "2026-12-05T09:01")) == []
    assert len(_lines(_run(url, "holds", "list", "--all", "--now", "2026-12-05T09:01"))) == 1
    assert "release 1" in _run(url, "cases", "advance", "--now", "2026-12-05T09:05")
    c2 = _lines(_run(url, "cases", "show", "C2", "--format", "json"))[0]["cases"][0]
    assert c2["state"] == "notifying" and [n["status"] for n in c2["notices"]] == ["cancelled", "queued"]

    refused = _run(url, "suspensions", "approve", "1", "--officer", "Wang", code=2)
    assert "only an eligible case can be approved" in refused
    assert _lines(_run(url, "suspensions", "list")) == []
    exported = _lines(_run(url, "suspensions", "export", "-o", str(tmp_path / "bss.csv"), "--officer", "Wang"))
    assert exported[0] == {
        "exported": 0,
        "file": str(tmp_path / "bss.csv"),
        "batch": None,
        "cases_marked_exported": False,
    }
    assert "case_id,account_id" in (tmp_path / "bss.csv").read_text(encoding="utf-8")
    again = _run(url, "suspensions", "export", "-o", str(tmp_path / "bss.csv"), "--officer", "Wang", code=2)
    assert "exists: choose another file, or --force" in " ".join(again.split())
    done = _lines(
        _run(url, "cases", "exempt", "1", "--reason", "deceased [ticket 88] [/oops] \x1b[2J", "--officer", "[b]Wang")
    )
    assert done[0]["state"] == "exempted" and done[0]["notices_cancelled"] == 2
    # An officer's words are shown as written: brackets are not markup, escape sequences not commands.
    shown = " ".join(_run(url, "cases", "show", "C1").split())
    assert "[ticket 88] [/oops]" in shown and "[b]Wang" in shown
    assert "\x1b" not in shown and "\\x1b[2J" in shown
    summary = _lines(_run(url, "cases", "summary"))[0]
    assert summary["by_state"] == {"exempted": 1, "notifying": 1}


@pytest.mark.faces
def test_remediation_with_new_photos_resolves_the_case(failing_base: str, faces_dir: Path, tmp_path: Path) -> None:
    url = failing_base
    _run(url, "cases", "advance", "--now", DAY0)
    # Two captures of one person (face distance 0.33: a match).
    portrait, live = faces_dir / "identities" / "obama" / "01.jpg", faces_dir / "identities" / "obama" / "03.jpg"
    missing = _run(
        url, "remediate", "C1", "--live", str(faces_dir / "nope.jpg"), "--id-portrait", str(portrait), code=1
    )
    assert "UNREADABLE_PHOTO" in missing and "nope.jpg" in missing
    # The portrait passed off as the live photo: copied as it is, or saved again at half size.
    copied = tmp_path / "selfie.jpg"
    shutil.copyfile(portrait, copied)
    resaved = tmp_path / "selfie-small.jpg"
    with Image.open(portrait) as im:
        im.resize((im.width // 2, im.height // 2)).save(resaved, quality=70)
    for fake in (copied, resaved):
        out = _run(url, "remediate", "C1", "--live", str(fake), "--id-portrait", str(portrait), code=1)
        assert "LIVE_IS_COPY" in out and "face_likeness" in out and "fail" in out, out
        assert "resolved" not in out and "confirmation" not in out
    assert "notifying" in _run(url, "cases", "show", "C1")
    out = _run(url, "remediate", "C1", "--live", str(live), "--id-portrait", str(portrait), "--now", "2026-12-03T11:00")
    assert "pass" in out and "case 1 resolved" in out and "confirmation SMS queued" in out
    data = _lines(_run(url, "cases", "show", "C1", "--format", "json"))[0]
    assert data["cases"][0]["state"] == "resolved"
    assert [r["verdict"] for r in data["remediations"]] == ["fail", "fail", "fail", "pass"]
    copy_reason = data["remediations"][1]["evidence"][0]
    assert copy_reason["code"] == "LIVE_IS_COPY" and copy_reason["value"] >= copy_reason["threshold"]
    claimed = _lines(_run(url, "notices", "claim", "--n", "10", "--now", "2026-12-03T11:01"))
    mine = [c for c in claimed if c["msisdn"] == "13012349990"]
    assert [c["template"] for c in mine] == ["confirmation"]  # no reminder after the resolution


def test_the_example_consumer_sends_and_acknowledges(failing_base: str) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    _run(failing_base, "cases", "advance", "--now", DAY0)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "REALNAME_NOW": DAY0}
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "sms_consumer.py"), "--once", "--database", failing_base],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "2 sent, 0 given back" in done.stderr
    assert "13012349990" not in done.stderr + done.stdout
    stats = _lines(_run(failing_base, "notices", "stats", "--now", DAY0))[0]
    assert stats["by_channel"]["sms"] == {"submitted": 2}
