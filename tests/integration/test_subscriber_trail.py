"""``realname report --subscriber``: one subscriber's whole evidence trail, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

from diff_runs import Person, add_people, add_run
from sqlalchemy import update
from typer.testing import CliRunner

from scanner.cli.app import app
from scanner.db import open_engine, write_engine_for
from scanner.enforce.advance import advance
from scanner.enforce.holds import add_hold
from scanner.enforce.queue import SqlNoticeQueue
from scanner.policyfile import load_policy
from scanner.tables import FINDING

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
    out = " ".join(text.output.split())
    assert "MOUTH_NOSE_OCCLUDED [fail] The mouth and nose are covered" in out
    assert "complaint under review" in out and "DELIVRD" in out and "history intact" in out
    for p in people:
        assert p.msisdn not in text.output + result.output and p.id_number not in text.output + result.output

    missing = runner.invoke(app, ["report", "--subscriber", "ACC09999", "--database", any_url])
    assert missing.exit_code == 2 and "ACC09999: no subscriber with that account id or number" in missing.output
    both = runner.invoke(app, ["report", "1", "--subscriber", "ACC00001", "--database", any_url])
    assert both.exit_code == 2 and "give no run" in both.output
