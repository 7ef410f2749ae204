"""A small base for report tests, through the commands an officer runs: subscribers with hostile names
(markup, a spreadsheet formula) and grey photos (no face: every one fails), imported, rescanned,
their cases opened and the first notices sent and answered as a gateway would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from checks.idcard import check_character
from scanner.cli.app import app

SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_NAME = "=cmd|' /C calc'!A0"
DAY = "2026-12-07T10:00"  # Shanghai time
runner = CliRunner()


def _id(body17: str) -> str:
    return body17 + check_character(body17)


@dataclass(frozen=True)
class ReportBase:
    url: str
    folder: Path
    msisdns: tuple[str, ...]
    id_numbers: tuple[str, ...]


def run(url: str, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, [*args, "--database", url], input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def build(folder: Path) -> ReportBase:
    Image.fromarray(np.full((126, 102, 3), 120, np.uint8)).save(folder / "grey.jpg")
    people = [
        ("R1", "13012349990", "张三", _id("11010519491231002"), "2003-06-18", "grey.jpg"),
        ("R2", "13912345678", SCRIPT_NAME, _id("42010219800101123"), "2008-03-02", "grey.jpg"),
        ("R3", "15800001111", FORMULA_NAME, _id("44030519900512004"), "2015-03-02", "grey.jpg"),
        ("R4", "18600002222", "+SUM(A1:A2)", _id("51010419850612005"), "2019-09-09", ""),
        ("R5", "17700003333", "李四", "420102800101123", "2021-01-05", "grey.jpg"),  # a legacy 15-digit number
    ]
    lines = ["account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo"]
    for account, msisdn, name, id_number, joined, photo in people:
        quoted = '"' + name.replace('"', '""') + '"'
        lines.append(f"{account},{msisdn},{quoted},{id_number},长期,{joined},consumer,{photo},{photo},")
    (folder / "base.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    url = f"sqlite:///{folder / 'report.db'}"
    run(url, "import", str(folder / "base.csv"), "--keep-invalid-id")
    run(url, "rescan", "--workers", "1", "--quiet", "--as-of", "2026-12-01")
    run(url, "cases", "advance", "--now", DAY)
    claimed = [
        json.loads(line)
        for line in run(url, "notices", "claim", "--n", "10", "--consumer", "gw", "--now", DAY).splitlines()
        if line.startswith("{")
    ]
    acks = "".join(
        json.dumps({"id": c["id"], "token": c["token"], "gateway_message_id": f"m{c['id']}"}) + "\n" for c in claimed
    )
    run(url, "notices", "ack", "--now", DAY, input=acks)
    receipts = "".join(
        json.dumps({"gateway_message_id": f"m{c['id']}", "stat": "UNDELIV" if i == 0 else "DELIVRD"}) + "\n"
        for i, c in enumerate(claimed)
    )
    run(url, "notices", "receipt", "--now", DAY, input=receipts)
    run(url, "rescan", "--workers", "1", "--quiet", "--as-of", "2026-12-08")  # a second run: a change to show
    return ReportBase(url, folder, tuple(p[1] for p in people), tuple(p[3] for p in people))


def full_numbers(text: str, base: ReportBase) -> list[str]:
    """Every phone or ID number of the base that ``text`` shows in full."""
    return [n for n in (*base.msisdns, *base.id_numbers) if n in text]
