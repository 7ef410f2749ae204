"""`build_diff` on both database back ends: the keyset pages over both runs' findings give the same answer."""

from __future__ import annotations

import json

import pytest
from diff_runs import Person, add_people, add_run

from scanner import db
from scanner.scan import diff as diff_module
from scanner.scan.diff import build_diff

VERDICTS = ("pass", "review", "fail")


def test_diff_pages_through_both_runs(any_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = db.open_engine(any_url)
    people = [Person(i, ("420102", "110105", "440305")[i % 3], 2003 + i % 5) for i in range(1, 41)]
    add_people(engine, people)
    # Run A: verdicts cycle pass, review, fail; run B shifts them by one. Every seventh subscriber is only
    # in A, every eleventh only in B, every thirteenth in neither.
    run_a, run_b = {}, {}
    for p in people:
        if p.id % 13 == 0:
            continue
        if p.id % 11:
            run_a[p.id] = (VERDICTS[p.id % 3], [] if p.id % 3 == 0 else ["BLURRY"])
        if p.id % 7:
            run_b[p.id] = (VERDICTS[(p.id + 1) % 3], [] if (p.id + 1) % 3 == 0 else ["BLURRY", "NO_FACE"])
    add_run(engine, 1, run_a)
    add_run(engine, 2, run_b, mode="preview")
    monkeypatch.setattr(diff_module, "PAGE", 6)

    d = build_diff(engine, 1, 2, list_limit=4)

    union = set(run_a) | set(run_b)
    assert d["subscribers"] == len(union) == sum(d["counts"].values())
    assert d["counts"]["only_in_a"] == len(set(run_a) - set(run_b))
    assert d["counts"]["only_in_b"] == len(set(run_b) - set(run_a))
    both = set(run_a) & set(run_b)
    expected_failing = [i for i in sorted(both) if run_b[i][0] == "fail"]
    assert d["counts"]["newly_failing"] == len(expected_failing)
    assert d["newly_failing"]["by_reason"] == {"NO_FACE": len(expected_failing)}  # BLURRY was already there
    assert [s["account_id"] for s in d["lists"]["newly_failing"]["subscribers"]] == [
        f"ACC{i:05d}" for i in expected_failing[:4]
    ]
    assert d["lists"]["newly_failing"]["subscribers"][0]["reasons_b"] == ["BLURRY", "NO_FACE"]
    text = json.dumps(d, ensure_ascii=False)
    assert not any(p.msisdn in text or p.id_number in text for p in people)
