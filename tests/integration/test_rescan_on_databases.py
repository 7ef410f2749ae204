"""Import, rescan and report on both database back ends, with photos generated here."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from PIL import Image

from checks.idcard import check_character
from scanner import db
from scanner.importer import import_file
from scanner.policyfile import load_policy
from scanner.scan.judging import JudgeSettings
from scanner.scan.readahead import read_and_judge
from scanner.scan.report import REPORT_SCHEMA, build_report
from scanner.scan.rescan import rescan

TODAY = dt.date(2026, 11, 22)


def _id(body17: str) -> str:
    return body17 + check_character(body17)


def _base(folder: Path) -> Path:
    photos = folder / "photos"
    photos.mkdir()
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)).save(photos / "noise.png")
    Image.fromarray(np.full((126, 102, 3), 128, np.uint8)).save(photos / "grey.jpg")
    (photos / "broken.jpg").write_bytes((photos / "grey.jpg").read_bytes()[:200])
    rows = [
        "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo",
        f"A1,13012349990,张三,{_id('11010519491231002')},长期,2003-06-18,consumer,,,",
        f"A2,13912345678,李四,{_id('42010219800101123')},2030-01-01,2015-03-02,consumer,photos/noise.png,photos/grey.jpg,",
        f"A3,18600001111,王五,{_id('44030519900215456')},2020-01-01,2018-07-09,enterprise,photos/grey.jpg,photos/broken.jpg,",
    ]
    csv = folder / "base.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return csv


def test_rescan_writes_findings_and_report(any_url: str, tmp_path: Path) -> None:
    engine = db.open_engine(any_url)
    imported = import_file(engine, _base(tmp_path), today=TODAY)
    assert imported.committed and imported.inserted == 3

    run = rescan(engine, load_policy(), as_of=TODAY, workers=1)
    assert run.status == "finished"
    assert run.totals["subscribers"] == 3 and run.totals["photos"] == 4
    assert run.totals["unreadable_photos"] == 1

    report = build_report(engine, run.id)
    assert report["schema"] == REPORT_SCHEMA
    by_account = {row["account_id"]: row for row in report["subscribers"]}
    assert by_account["A1"]["reasons"] == ["NO_PHOTO"]
    assert {e["photo_kind"] for e in by_account["A1"]["evidence"]} == {"id_portrait", "live"}
    assert "NO_FACE" in by_account["A2"]["reasons"]
    assert {"UNREADABLE_PHOTO", "ID_EXPIRED", "NO_FACE"} <= set(by_account["A3"]["reasons"])
    assert all(row["verdict"] == "fail" for row in report["subscribers"])

    text = json.dumps(report, ensure_ascii=False)
    for full in ("13012349990", "13912345678", "18600001111"):
        assert full not in text
    for body in ("11010519491231002", "42010219800101123", "44030519900215456"):
        assert body not in text
    assert by_account["A1"]["msisdn"] == "130****9990"
    assert run.policy_sha256 == load_policy().sha256


def _findings(engine: object, run_id: int) -> dict[int, tuple[str, list[str], str]]:
    from sqlalchemy import select

    from scanner.models import Finding

    with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            select(Finding.subscriber_id, Finding.verdict, Finding.reasons, Finding.evidence).where(  # type: ignore[call-overload]
                Finding.run_id == run_id
            )
        ).all()
    return {r[0]: (r[1], r[2], json.dumps(r[3], sort_keys=True)) for r in rows}


def test_reading_processes_open_the_same_database_and_judge_alike(any_url: str, tmp_path: Path) -> None:
    """Pages read and judged in worker processes (each opening the database by
    its URL, a PostgreSQL schema included) give the findings the driver gives."""
    engine = db.open_engine(any_url)
    assert import_file(engine, _base(tmp_path), today=TODAY).committed
    # First run: nothing is cached, every page goes back to the driver to be measured.
    first = rescan(engine, load_policy(), as_of=TODAY, workers=1, judge_processes=2, page_size=1)
    # Second run: the readers judge every page whose photos are all cached (the broken photo never is).
    second = rescan(engine, load_policy(), as_of=TODAY, workers=1, judge_processes=2, page_size=1)
    alone = rescan(engine, load_policy(), as_of=TODAY, workers=1, judge_processes=0, page_size=1)
    assert first.totals["measured_photos"] == 2 and second.totals["measured_photos"] == 0
    assert second.totals["cached_photos"] == 3 and second.totals["shards"] == 3
    a, b, c = (_findings(engine, r.id) for r in (first, second, alone))
    assert a == b == c and len(a) == 3
    # What a reader does with each page: A1 (no photo) and A2 are judged, A3 (a broken photo) goes back.
    settings = JudgeSettings(run_id=alone.id, policy=load_policy().policy, as_of=TODAY, preview=False)
    judged = [read_and_judge(engine, settings, n, n, n + 1) for n in range(3)]
    assert judged[0] is not None and judged[1] is not None and judged[2] is None
    assert judged[1].info.from_cache == 2 and json.loads(judged[1].judged.findings[0][2]) == a[2][1]
