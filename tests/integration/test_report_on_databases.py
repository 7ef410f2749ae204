"""The report's counts are GROUP BYs the database computes: the same answers on SQLite and PostgreSQL
(reasons unnested from their JSON lists with each database's own function)."""

from __future__ import annotations

import json

from diff_runs import Person, add_people, add_run
from typer.testing import CliRunner

from scanner.cli.app import app
from scanner.db import open_engine
from scanner.report import aggregates
from scanner.report.html import report_context
from scanner.report.rows import iter_rows

PEOPLE = [
    Person(1, "420102", 2003),
    Person(2, "110105", 2003),
    Person(3, "440305", 2018),
    Person(4, "420102", 2020),
    Person(5, "999999", 2020),  # a region code no table knows
]


def _base(url: str) -> None:
    engine = open_engine(url)
    add_people(engine, PEOPLE)
    add_run(engine, 1, {1: ("fail", ["NO_PHOTO"]), 2: ("pass", []), 3: ("review", ["HEAD_COVERED"]), 4: ("pass", [])})
    add_run(
        engine,
        2,
        {
            1: ("fail", ["NO_PHOTO", "FACE_MATCH_UNCERTAIN"]),
            2: ("fail", ["BLURRY"]),
            3: ("review", ["HEAD_COVERED"]),
            4: ("pass", []),
            5: ("fail", ["NO_PHOTO"]),
        },
    )
    result = CliRunner().invoke(app, ["cases", "advance", "--now", "2026-12-07T10:00", "--database", url])
    assert result.exit_code == 0, result.output


def test_counts_by_reason_year_region_and_the_ladder(any_url: str) -> None:
    _base(any_url)
    engine = open_engine(any_url)
    with engine.connect() as conn:
        assert aggregates.by_verdict(conn, 2) == {"fail": 3, "review": 1, "pass": 1}
        assert aggregates.by_reason(conn, 2) == {
            "NO_PHOTO": {"fail": 2},
            "BLURRY": {"fail": 1},
            "FACE_MATCH_UNCERTAIN": {"fail": 1},
            "HEAD_COVERED": {"review": 1},
        }
        years = aggregates.by_join_year(conn, 2)
        assert {y: s.verdicts for y, s in years.items()} == {
            2003: {"fail": 2},
            2018: {"review": 1},
            2020: {"pass": 1, "fail": 1},
        }
        assert years[2003].fail_rate == 1.0
        provinces = {p: s.verdicts for p, s in aggregates.by_province(conn, 2).items()}
        assert provinces == {
            "湖北省": {"fail": 1, "pass": 1},
            "北京市": {"fail": 1},
            "unknown (99)": {"fail": 1},
            "广东省": {"review": 1},
        }
        funnel = aggregates.funnel(conn, 2)
        assert funnel["flagged"] == 3 and funnel["suspended"] == 0
        assert funnel["notified"] == 0  # queued, not sent yet
        delivery = aggregates.delivery(conn, 2)
        assert sum(d.pending for d in delivery.values()) >= 3 and all(d.rate is None for d in delivery.values())


def test_rows_and_the_page_context(any_url: str) -> None:
    _base(any_url)
    engine = open_engine(any_url)
    rows = list(iter_rows(engine, 2, {"fail"}, page=2))  # pages of two: the keyset carries on
    assert [r["account_id"] for r in rows] == ["ACC00001", "ACC00002", "ACC00005"]
    assert rows[0]["region"] == "湖北省" and rows[0]["msisdn"] == "139****0001"
    assert rows[0]["case"]["state"] in ("open", "notifying") and rows[0]["last_notice"]["status"] == "queued"
    json.dumps(rows, ensure_ascii=False)
    ctx = report_context(engine, 2, limit=1)
    assert ctx["failing"]["total"] == 3 and len(ctx["failing"]["rows"]) == 1 and ctx["failing"]["more"] == 2
    assert ctx["diff"]["run_a"]["id"] == 1 and ctx["diff"]["counts"]["newly_failing"] == 1
    assert ctx["diff"]["counts"]["only_in_b"] == 1
    assert set(ctx["charts"]) >= {"reasons", "years", "provinces", "funnel", "delivery"}
