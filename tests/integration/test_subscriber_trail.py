"""``realname report --subscriber``: one subscriber's whole evidence trail, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from diff_runs import Person, add_people, add_run
from sqlalchemy import select, update
from typer.testing import CliRunner

from scanner.cli.app import app
from scanner.cli.common import login
from scanner.db import open_engine, write_engine_for
from scanner.enforce.advance import advance
from scanner.enforce.holds import add_hold
from scanner.enforce.queue import SqlNoticeQueue
from scanner.policyfile import load_policy
from scanner.tables import AUDIT_EVENT, FINDING

runner = CliRunner()
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
MASK = {
    "code": "MOUTH_NOSE_OCCLUDED",
    "severity": "fail",
    "photo_kind": "live",
    "measure": "mouth_nose_skin_share",
    "value": 0.03,
    "threshold": 0.125,
    "comparison": "<",
    "detail": "",
}


def test_the_trail_holds_findings_notices_receipts_and_the_named_hold(any_url: str) -> None:
    open_engine(any_url)
    engine = write_engine_for(any_url)
    rules = load_policy().enforcement
    queue = SqlNoticeQueue(engine, rules)
    people = [Person(1, region="420102"), Person(2)]
    add_people(engine, people)
    add_run(engine, 1, {1: ("fail", ["MOUTH_NOSE_OCCLUDED"]), 2: ("pass", [])})
    with engine.begin() as conn:
        conn.execute(update(FINDING).where(FINDING.c.subscriber_id == 1).values(evidence=[MASK]))
    advance(engine, rules, T0)
    for notice in queue.claim(10, "gw", now=T0):
        queue.ack(notice.id, notice.claim_token, f"gw-{notice.id}", now=T0)
        queue.receipt(f"gw-{notice.id}", "DELIVRD", None, T0, now=T0)
    hold_id = add_hold(engine, "account:ACC00001", "complaint under review", T0 + dt.timedelta(days=9), "Li", T0)
    advance(engine, rules, T0 + dt.timedelta(hours=1))

    result = runner.invoke(app, ["report", "--subscriber", people[0].msisdn, "--format", "json", "--database", any_url])
    assert result.exit_code == 0, result.output
    trail = json.loads(result.output)
    assert trail["schema"] == "realname-scanner/trail/1" and not trail["revealed"]
    assert trail["subscriber"]["msisdn"] == "139****0001" and trail["subscriber"]["region"] == "湖北省"
    (finding,) = trail["findings"]
    assert finding["verdict"] == "fail" and finding["policy"]["version"] == "2026.11-1"
    assert finding["evidence"][0]["measure"] == "mouth_nose_skin_share"
    (case,) = trail["cases"]
    assert case["state"] == "on_hold" and case["history_intact"]
    assert [n["receipt"] for n in case["notices"] if n["status"] == "delivered"] == ["DELIVRD"]
    assert f"hold {hold_id} by Li: complaint under review" in case["history"][-1]["why"]
    assert trail["holds"] == [
        {
            "id": hold_id,
            "scope": "account:ACC00001",
            "reason": "complaint under review",
            "placed_by": "Li",
            "starts_at": trail["holds"][0]["starts_at"],
            "until": trail["holds"][0]["until"],
            "lifted_at": None,
            "lifted_by": None,
        }
    ]

    text = runner.invoke(
        app, ["report", "--subscriber", "ACC00001", "--lang", "en", "--database", any_url], env={"COLUMNS": "300"}
    )
    assert text.exit_code == 0, text.output
    out = " ".join(text.output.replace("│", " ").split())  # wrapped table cells read as one line
    assert "MOUTH_NOSE_OCCLUDED [fail] The mouth and nose are covered" in out
    assert "complaint under review" in out and "DELIVRD" in out and "history intact" in out
    for p in people:
        assert p.msisdn not in text.output + result.output and p.id_number not in text.output + result.output

    missing = runner.invoke(app, ["report", "--subscriber", "ACC09999", "--database", any_url])
    assert missing.exit_code == 2 and "ACC09999: no subscriber with that account id or number" in missing.output
    both = runner.invoke(app, ["report", "1", "--subscriber", "ACC00001", "--database", any_url])
    assert both.exit_code == 2 and "give no run" in both.output


def test_the_trail_as_a_page_and_a_reveal_on_the_record(any_url: str, tmp_path: Path) -> None:
    open_engine(any_url)
    engine = write_engine_for(any_url)
    person = Person(1)
    add_people(engine, [person])
    add_run(engine, 1, {1: ("fail", ["MOUTH_NOSE_OCCLUDED"])})
    with engine.begin() as conn:
        conn.execute(update(FINDING).values(evidence=[MASK]))
    advance(engine, load_policy().enforcement, T0)
    page = tmp_path / "trail.html"
    args = ["report", "--subscriber", "ACC00001", "--format", "html", "-o", str(page), "--database", any_url]
    assert runner.invoke(app, args).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "口鼻被遮挡（如口罩或手），无法核验。" in html and "history intact" in html
    assert person.msisdn not in html and person.id_number not in html and "139****0001" in html
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)  # nothing fetched

    refused = runner.invoke(app, ["report", "--subscriber", "ACC00001", "--reveal", "--database", any_url])
    assert refused.exit_code == 2 and "--reveal needs --officer NAME and --reason TEXT" in refused.output
    shown = runner.invoke(
        app,
        [
            *("report", "--subscriber", "ACC00001", "--format", "json", "--reveal", "--officer", "Wang Li"),
            *("--reason", "complaint 2026-88", "--database", any_url),
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["subscriber"]["msisdn"] == person.msisdn
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.id)).all()
    said = [(r.actor, r.action, r.subject) for r in rows if r.action.startswith("report_")]
    assert said == [
        (login(), "report_export", "subscriber:ACC00001"),
        ("Wang Li", "report_reveal", "subscriber:ACC00001"),
    ]
    assert rows[-1].detail["reason"] == "complaint 2026-88" and rows[-1].subscriber_id == 1
    # The trail holds the subscriber's rows of the one audit log (cases, notices), and the reveal shows in
    # `audit log --subscriber`.
    trail = json.loads(shown.output)
    assert {"case.open", "notice.queue"} <= {row["action"] for row in trail["audit"]}
    log = runner.invoke(app, ["audit", "log", "--subscriber", "ACC00001", "--format", "json", "--database", any_url])
    assert log.exit_code == 0, log.output
    assert "report_reveal" in [json.loads(line)["action"] for line in log.output.splitlines() if line.strip()]
