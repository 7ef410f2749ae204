"""`realname report --format csv|json|html` as an officer and a regulator meet it: files that open in
Excel and a browser, numbers masked unless an officer reveals them on the record."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from report_base import FORMULA_NAME, SCRIPT_NAME, ReportBase, build, full_numbers
from sqlalchemy import select
from typer.testing import CliRunner

from scanner.cli.app import app
from scanner.db import open_engine
from scanner.report.export import CSV_COLUMNS, neutralise
from scanner.tables import AUDIT_EVENT

runner = CliRunner()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> ReportBase:
    return build(tmp_path_factory.mktemp("report"))


def _report(base: ReportBase, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["report", *args, "--database", base.url])
    assert result.exit_code == code, result.output
    return result.output


def _audit(base: ReportBase) -> list[dict[str, object]]:
    with open_engine(base.url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.id))]


def test_neutralise_makes_formulas_text_and_leaves_numbers() -> None:
    for cell in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    assert neutralise("张三") == "张三" and neutralise(-0.25) == -0.25 and neutralise(None) is None


def test_csv_opens_in_excel_with_chinese_text_and_no_formula(base: ReportBase) -> None:
    out = base.folder / "run.csv"
    _report(base, "2", "--format", "csv", "-o", str(out))
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte order mark: Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_account = {r["account_id"]: r for r in rows}
    assert set(by_account) == {"R1", "R2", "R3", "R4", "R5"}
    assert by_account["R1"]["name"] == "张三" and by_account["R1"]["region"] == "北京市"
    assert by_account["R3"]["name"] == "'" + FORMULA_NAME
    assert by_account["R4"]["name"] == "'+SUM(A1:A2)"
    for row in rows:
        assert not any(str(v).startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())
    r1 = by_account["R1"]
    assert r1["verdict"] == "fail" and "NO_FACE" in r1["reasons"]
    # The photo named by its folder and file (the folder is the test's own).
    assert f"NO_FACE [id_portrait: {base.folder.name}/grey.jpg] face_count=0" in r1["evidence"]
    assert r1["policy_name"] == "default" and len(r1["policy_sha256"]) == 64
    assert r1["case_state"] == "notifying" and r1["notice_channel"] in ("sms", "call")
    assert full_numbers(raw.decode("utf-8-sig"), base) == []

    shown = _report(base, "2", "--format", "csv", "--verdict", "fail", "--limit", "1")  # to standard output
    assert shown.startswith("\ufeffrun_id,account_id,") and len(shown.splitlines()) == 2

    gb = base.folder / "run-gb.csv"
    _report(base, "2", "--format", "csv", "--encoding", "gb18030", "-o", str(gb))
    text = gb.read_bytes().decode("gb18030")
    assert "张三" in text and not text.startswith("\ufeff")


def test_json_is_the_versioned_schema_with_masked_numbers(base: ReportBase) -> None:
    out = _report(base, "--format", "json")
    data = json.loads(out)
    assert data["schema"] == "realname-scanner/report/2" and data["run"]["id"] == 2
    rows = {r["account_id"]: r for r in data["subscribers"]}
    assert rows["R2"]["name"] == SCRIPT_NAME and rows["R2"]["msisdn"] == "139****5678"
    ev = next(e for e in rows["R1"]["evidence"] if e["code"] == "NO_FACE")
    assert ev["photo_kind"] in ("id_portrait", "live") and ev["photo_file"] == f"{base.folder.name}/grey.jpg"
    assert ev["measure"] == "face_count" and ev["threshold"] is not None
    assert rows["R1"]["case"]["state"] == "notifying"
    assert rows["R1"]["last_notice"]["receipt"]["stat"] in ("DELIVRD", "UNDELIV", None)
    assert full_numbers(out, base) == []
    assert len(json.loads(_report(base, "--format", "json", "--limit", "2"))["subscribers"]) == 2


def test_html_is_one_offline_page_with_masked_numbers(base: ReportBase) -> None:
    out = base.folder / "run.html"
    _report(base, "--format", "html", "-o", str(out))
    page = out.read_text(encoding="utf-8")
    assert full_numbers(page, base) == []
    assert "<script" not in page.lower().replace("&lt;script", "")  # no script, the name escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"<link\b|@import|url\((?!#)", page, re.I)  # url(#clip) names a part of the page
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert page.count("<figure") == page.count("<svg") >= 4
    for heading in ("Failing subscribers", "Findings by reason", "By join year", "By region", "Change since"):
        assert heading in page
    assert "北京市" in page and "NO_FACE" in page and "照片中找不到人脸。" in page


def test_reveal_needs_an_officer_and_a_reason_and_is_on_the_record(base: ReportBase) -> None:
    assert "--reveal needs --officer NAME and --reason TEXT" in _report(base, "--format", "csv", "--reveal", code=2)
    _report(base, "--format", "csv", "--reveal", "--officer", "Wang Li", code=2)
    before = len(_audit(base))
    out = _report(base, "--format", "json", "--reveal", "--officer", "Wang Li", "--reason", "court order 17")
    assert "13012349990" in out and "11010519491231002X" in out
    (row,) = _audit(base)[before:]
    assert row["actor"] == "Wang Li" and row["action"] == "report_reveal" and row["subject"] == "run:2"
    assert row["detail"] == {"format": "json", "output": "stdout", "reason": "court order 17"}


def test_every_export_to_a_file_is_on_the_record(base: ReportBase) -> None:
    before = len(_audit(base))
    out = base.folder / "export.html"
    _report(base, "1", "--format", "html", "-o", str(out), "--officer", "Li Na")
    (row,) = _audit(base)[before:]
    assert row["action"] == "report_export" and row["actor"] == "Li Na" and row["subject"] == "run:1"
    assert row["detail"] == {"format": "html", "output": str(out)}
    diff = base.folder / "diff.json"
    _report(base, "--diff", "1", "2", "--format", "json", "-o", str(diff), "--officer", "Li Na")
    (row,) = _audit(base)[before + 1 :]
    assert row["action"] == "report_export" and row["subject"] == "runs:1,2"
    _report(base, "--diff", "1", "2")  # to the screen: not an export
    assert len(_audit(base)) == before + 2


def test_table_is_the_default_and_text_still_works(base: ReportBase) -> None:
    table = _report(base, "--format", "table")
    assert table == _report(base, "--format", "text") == _report(base)
    assert "NO_FACE" in table and full_numbers(table, base) == []
    assert "--reveal applies to" in _report(base, "--reveal", "--officer", "x", "--reason", "y", code=2)
