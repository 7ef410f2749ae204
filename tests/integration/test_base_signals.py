"""Signals across the base, on SQLite and PostgreSQL: one ID on more numbers than the rules allow
(the 15- and 18-digit forms of one person counted together), in enforcing, preview and resumed runs,
through the reading processes too; and the migration that keys the subscribers already stored."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from policy_overlays import policy_with
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from checks.idcard import check_character, person_key
from scanner import db
from scanner.importer import import_file
from scanner.policyfile import load_policy
from scanner.scan.rescan import Progress, rescan
from scanner.tables import FINDING, SUBSCRIBER

TODAY = dt.date(2026, 12, 4)
SIX = "11010519491231002"  # six numbers: four under the 18-digit form, two under the 15-digit one
FIVE = "42010219800101123"  # five numbers: at the limit, not over it


def _base(folder: Path) -> Path:
    legacy = SIX[:6] + SIX[8:]  # the same person's first-generation number
    rows = ["account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo"]
    numbers = [SIX + check_character(SIX)] * 4 + [legacy] * 2 + [FIVE + check_character(FIVE)] * 5
    numbers.append("44030519900215456" + check_character("44030519900215456"))
    for i, number in enumerate(numbers, start=1):
        rows.append(f"S{i:02d},1391234{i:04d},张三,{number},长期,2016-03-0{1 + i % 9},consumer,,,")
    path = folder / "base.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _over(engine: Engine, run_id: int) -> dict[str, dict[str, Any]]:
    """account -> the ID_TOO_MANY_NUMBERS evidence of its finding in a run (accounts without one left out)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(SUBSCRIBER.c.account_id, FINDING.c.evidence, FINDING.c.verdict)
            .join(SUBSCRIBER, SUBSCRIBER.c.id == FINDING.c.subscriber_id)
            .where(FINDING.c.run_id == run_id)
        ).all()
    out = {}
    for account, evidence, _verdict in rows:
        found = [e for e in evidence if e["code"] == "ID_TOO_MANY_NUMBERS"]
        if found:
            out[account] = found[0]
    return out


SIX_ACCOUNTS = {f"S{i:02d}" for i in range(1, 7)}


def test_every_number_of_an_id_over_the_limit_is_flagged_for_review(any_url: str, tmp_path: Path) -> None:
    engine = db.open_engine(any_url)
    assert import_file(engine, _base(tmp_path), today=TODAY).inserted == 12
    run = rescan(engine, load_policy(), as_of=TODAY, workers=1)
    over = _over(engine, run.id)
    assert set(over) == SIX_ACCOUNTS
    evidence = over["S05"]  # a 15-digit number, counted with the 18-digit ones
    assert (evidence["value"], evidence["threshold"], evidence["comparison"]) == (6, 5, ">")
    assert evidence["severity"] == "review" and "6 numbers" in evidence["detail"]
    assert "1391234" not in json.dumps(evidence)

    preview = rescan(engine, load_policy(), as_of=TODAY, workers=1, preview=True, judge_processes=1)
    assert set(_over(engine, preview.id)) == SIX_ACCOUNTS  # judged in a reading process too


class _Stop(Exception):
    pass


def test_a_resumed_run_counts_again_and_a_policy_sets_the_limit(any_url: str, tmp_path: Path) -> None:
    engine = db.open_engine(any_url)
    import_file(engine, _base(tmp_path), today=TODAY)

    def stop_after_a_page(progress: Progress) -> None:
        if progress.subscribers_done >= 4:
            raise _Stop

    with pytest.raises(_Stop):
        rescan(engine, load_policy(), as_of=TODAY, workers=1, page_size=4, on_progress=stop_after_a_page)
    with engine.connect() as conn:
        run_id = conn.execute(text("SELECT max(id) FROM scan_run")).scalar_one()
    resumed = rescan(engine, resume=run_id, workers=1)
    assert resumed.status == "finished" and set(_over(engine, resumed.id)) == SIX_ACCOUNTS

    changes = {"checks.base.max_numbers_per_id": 4, "severity.ID_TOO_MANY_NUMBERS": "fail"}
    strict = load_policy(policy_with(tmp_path, changes))
    run = rescan(engine, strict, as_of=TODAY, workers=1)
    over = _over(engine, run.id)
    assert set(over) == SIX_ACCOUNTS | {f"S{i:02d}" for i in range(7, 12)}
    assert over["S07"]["severity"] == "fail" and over["S07"]["value"] == 5


def test_the_migration_keys_the_subscribers_already_stored(any_url: str) -> None:
    db.upgrade(any_url, "0008")
    engine = db.engine_for(any_url)
    legacy = SIX[:6] + SIX[8:]
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    numbers = [SIX + check_character(SIX), legacy, "not-a-number", FIVE + "x"]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscriber (account_id, msisdn, name, id_number, id_legacy, joined_on, segment, "
                "source, created_at, updated_at) "
                "VALUES (:a, '13900000000', 'x', :n, false, '2016-01-01', 'consumer', '', :t, :t)"
            ),
            [{"a": f"M{i}", "n": n, "t": now} for i, n in enumerate(numbers)],
        )
    db.dispose_engines()
    db.upgrade(any_url)
    with db.engine_for(any_url).connect() as conn:
        keys = dict(conn.execute(text("SELECT account_id, person_key FROM subscriber")).all())
    assert keys == {"M0": SIX, "M1": SIX, "M2": None, "M3": FIVE}
    assert [person_key(n) for n in numbers] == [SIX, SIX, None, FIVE]  # the migration and the importer agree
