"""``scanner.scan.diff``: who newly fails and who newly passes between two runs, on a temporary SQLite database."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from diff_runs import Person, add_people, add_run, clear
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from scanner.scan import diff as diff_module
from scanner.scan.diff import CATEGORIES, DIFF_SCHEMA, build_diff, category, province_of
from scanner.scan.report import ReportError

HUBEI, BEIJING, GUANGDONG, NOWHERE = "420102", "110105", "440305", "990101"

PEOPLE = [
    Person(1, HUBEI, 2010),
    Person(2, HUBEI, 2012),
    Person(3, BEIJING, 2012),
    Person(4, GUANGDONG, 2003),
    Person(5, NOWHERE, 2003),
    Person(6, HUBEI, 2015),
    Person(7, BEIJING, 2015),
    Person(8, HUBEI, 2015),
    Person(9, HUBEI, 2015),
    Person(10, HUBEI, 2015),
    Person(11, HUBEI, 2015),
    Person(12, HUBEI, 2015),  # judged in neither run
]
RUN_A = {
    1: ("pass", []),
    2: ("review", ["FACE_MATCH_UNCERTAIN"]),
    3: ("review", ["ID_LEGACY_NUMBER"]),
    4: ("fail", ["BLURRY"]),
    5: ("review", ["HEAD_COVERED"]),
    6: ("pass", []),
    7: ("fail", ["FACE_MISMATCH"]),
    8: ("fail", ["ID_EXPIRED"]),
    9: ("pass", []),
    10: ("fail", ["NO_PHOTO"]),
}
RUN_B = {
    1: ("fail", ["MOUTH_NOSE_OCCLUDED", "BLURRY"]),  # newly failing, two new reasons
    2: ("fail", ["FACE_MATCH_UNCERTAIN", "FACE_MISMATCH"]),  # newly failing; FACE_MATCH_UNCERTAIN is not new
    3: ("fail", ["ID_LEGACY_NUMBER"]),  # newly failing with no new reason: the policy made it fail
    4: ("pass", []),  # newly passing: BLURRY gone
    5: ("pass", []),  # newly passing: HEAD_COVERED gone; ID number from no known province
    6: ("review", ["FACE_MATCH_UNCERTAIN"]),  # newly review
    7: ("review", ["FACE_MATCH_UNCERTAIN"]),  # fail to review
    8: ("fail", ["ID_EXPIRED", "BLURRY"]),  # unchanged verdict, one new reason
    9: ("pass", []),  # unchanged
    11: ("review", ["HEAD_COVERED"]),  # only in B
}


@pytest.fixture
def two_runs(engine: Engine) -> Engine:
    add_people(engine, PEOPLE)
    add_run(engine, 1, RUN_A)
    add_run(engine, 2, RUN_B, mode="preview")
    return engine


def test_every_category_and_transition_is_counted(two_runs: Engine) -> None:
    d = build_diff(two_runs, 1, 2)
    assert d["schema"] == DIFF_SCHEMA
    assert d["subscribers"] == 11  # subscriber 12 has no finding in either run
    assert d["counts"] == {
        "newly_failing": 3,
        "newly_passing": 2,
        "newly_review": 1,
        "fail_to_review": 1,
        "unchanged": 2,
        "only_in_a": 1,
        "only_in_b": 1,
    }
    assert d["transitions"] == {
        "pass": {"pass": 1, "review": 1, "fail": 1, "absent": 0},
        "review": {"pass": 1, "review": 0, "fail": 2, "absent": 0},
        "fail": {"pass": 1, "review": 1, "fail": 1, "absent": 1},
        "absent": {"pass": 0, "review": 1, "fail": 0, "absent": 0},
    }


def test_newly_failing_by_new_reason_join_year_and_province(two_runs: Engine) -> None:
    failing = build_diff(two_runs, 1, 2)["newly_failing"]
    assert failing == {
        "subscribers": 3,
        # FACE_MATCH_UNCERTAIN was already a reason of subscriber 2 in run A: not new
        "by_reason": {"BLURRY": 1, "FACE_MISMATCH": 1, "MOUTH_NOSE_OCCLUDED": 1},
        "no_reason_change": 1,  # subscriber 3: same code, now failing
        "by_join_year": {"2010": 1, "2012": 2},
        "by_region": {"湖北省 (42)": 2, "北京市 (11)": 1},
    }


def test_newly_passing_by_reason_gone(two_runs: Engine) -> None:
    d = build_diff(two_runs, 1, 2)
    assert d["newly_passing"] == {
        "subscribers": 2,
        "by_reason": {"BLURRY": 1, "HEAD_COVERED": 1},
        "no_reason_change": 0,
        "by_join_year": {"2003": 2},
        "by_region": {"unknown (99)": 1, "广东省 (44)": 1},
    }
    assert d["newly_review"]["by_reason"] == {"FACE_MATCH_UNCERTAIN": 1}
    assert d["unchanged_new_reasons"] == {"subscribers": 1, "by_reason": {"BLURRY": 1}}


def test_lists_show_masked_subscribers_and_the_preview_run_is_accepted(two_runs: Engine) -> None:
    d = build_diff(two_runs, 1, 2)
    assert d["run_b"]["mode"] == "preview" and d["run_a"]["mode"] == "enforce"
    assert d["warnings"] == []
    assert "unchanged" not in d["lists"]
    first = d["lists"]["newly_failing"]["subscribers"][0]
    assert first == {
        "account_id": "ACC00001",
        "msisdn": "139****0001",
        "id_number": PEOPLE[0].id_number[:3] + "*" * 11 + PEOPLE[0].id_number[-4:],
        "region": "湖北省 (42)",
        "join_year": 2010,
        "verdict_a": "pass",
        "verdict_b": "fail",
        "reasons_a": [],
        "reasons_b": ["MOUTH_NOSE_OCCLUDED", "BLURRY"],
    }
    assert [s["account_id"] for s in d["lists"]["newly_failing"]["subscribers"]] == ["ACC00001", "ACC00002", "ACC00003"]
    only_a = d["lists"]["only_in_a"]["subscribers"][0]
    assert (only_a["verdict_b"], only_a["reasons_b"]) == (None, None)


def test_no_full_phone_or_id_number_anywhere_in_the_json(two_runs: Engine) -> None:
    text = json.dumps(build_diff(two_runs, 1, 2), ensure_ascii=False)
    for person in PEOPLE:
        assert person.msisdn not in text
        assert person.id_number not in text
        assert person.id_number[6:14] not in text  # the birth date is never shown


def test_lists_are_bounded_while_counts_stay_exact(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    people = [Person(i, HUBEI if i % 2 else BEIJING, 2000 + i % 4) for i in range(1, 61)]
    add_people(engine, people)
    judged = [p.id for p in people if p.id % 5]  # every fifth subscriber is in neither run: gaps between pages
    add_run(engine, 1, {i: ("pass", []) for i in judged})
    add_run(engine, 2, {i: ("fail", ["BLURRY"]) for i in judged}, mode="preview")
    monkeypatch.setattr(diff_module, "PAGE", 7)
    d = build_diff(engine, 1, 2, list_limit=5)
    assert d["counts"]["newly_failing"] == len(judged) == 48
    assert d["newly_failing"]["by_reason"] == {"BLURRY": 48}
    assert sum(d["newly_failing"]["by_join_year"].values()) == 48
    assert d["newly_failing"]["by_region"] == {"北京市 (11)": 24, "湖北省 (42)": 24}
    listed = d["lists"]["newly_failing"]
    assert [s["account_id"] for s in listed["subscribers"]] == [
        "ACC00001",
        "ACC00002",
        "ACC00003",
        "ACC00004",
        "ACC00006",
    ]
    assert listed["not_listed"] == 43 and d["list_limit"] == 5


def test_warnings_for_different_as_of_dates_and_unfinished_runs(engine: Engine) -> None:
    add_people(engine, PEOPLE[:2])
    add_run(engine, 1, {1: ("pass", []), 2: ("pass", [])})
    add_run(engine, 2, {1: ("fail", ["ID_EXPIRED"])}, as_of=dt.date(2027, 6, 1), status="running", mode="preview")
    d = build_diff(engine, 1, 2)
    assert len(d["warnings"]) == 2
    assert "different dates" in d["warnings"][0] and "2027-06-01" in d["warnings"][0]
    assert "run 2 is running, not finished" in d["warnings"][1]
    assert d["counts"]["only_in_a"] == 1 and d["counts"]["newly_failing"] == 1


def test_unknown_runs_and_the_same_run_twice_are_errors(two_runs: Engine) -> None:
    with pytest.raises(ReportError, match="no scan run with id 9"):
        build_diff(two_runs, 1, 9)
    with pytest.raises(ReportError, match="no scan run with id 7"):
        build_diff(two_runs, 7, 2)
    with pytest.raises(ReportError, match="two different runs"):
        build_diff(two_runs, 2, 2)


def test_province_from_the_first_two_digits() -> None:
    assert province_of("42010219800101123X") == "湖北省 (42)"
    assert province_of("420999198001011234") == "湖北省 (42)"  # unknown county, known province
    assert province_of("110105491231002") == "北京市 (11)"  # 15-digit legacy number
    assert province_of("990101198001011234") == "unknown (99)"


def test_category_of_each_pair_of_verdicts() -> None:
    assert category("pass", "fail") == category("review", "fail") == "newly_failing"
    assert category("fail", "pass") == category("review", "pass") == "newly_passing"
    assert category("pass", "review") == "newly_review"
    assert category("fail", "review") == "fail_to_review"
    assert {category(v, v) for v in ("pass", "review", "fail")} == {"unchanged"}
    assert category("fail", None) == "only_in_a" and category(None, "pass") == "only_in_b"


VERDICT = st.sampled_from([None, "pass", "review", "fail"])
REASONS = st.lists(st.sampled_from(["BLURRY", "NO_FACE", "FACE_MISMATCH", "HEAD_COVERED"]), unique=True, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(VERDICT, REASONS, VERDICT, REASONS), min_size=1, max_size=25))
def test_categories_partition_the_union_and_match_the_transitions(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, pairs: list[tuple[str | None, list[str], str | None, list[str]]]
) -> None:
    clear(engine)
    monkeypatch.setattr(diff_module, "PAGE", 4)
    add_people(engine, [Person(i) for i in range(1, len(pairs) + 1)])
    add_run(engine, 1, {i: (va, ra) for i, (va, ra, _vb, _rb) in enumerate(pairs, 1) if va})
    add_run(engine, 2, {i: (vb, rb) for i, (_va, _ra, vb, rb) in enumerate(pairs, 1) if vb}, mode="preview")
    d = build_diff(engine, 1, 2, list_limit=3)

    union = sum(1 for va, _ra, vb, _rb in pairs if va or vb)
    counts, moves = d["counts"], d["transitions"]
    assert list(counts) == list(CATEGORIES)
    assert sum(counts.values()) == d["subscribers"] == union
    assert sum(n for row in moves.values() for n in row.values()) == union
    assert counts["unchanged"] == sum(moves[v][v] for v in ("pass", "review", "fail"))
    assert counts["newly_failing"] == moves["pass"]["fail"] + moves["review"]["fail"]
    assert counts["newly_passing"] == moves["review"]["pass"] + moves["fail"]["pass"]
    assert counts["newly_review"] == moves["pass"]["review"]
    assert counts["fail_to_review"] == moves["fail"]["review"]
    assert counts["only_in_a"] == sum(moves[v]["absent"] for v in moves)
    assert counts["only_in_b"] == sum(moves["absent"].values())
    for verdict in ("pass", "review", "fail"):  # each run's verdict counts are the matrix's row and column sums
        assert sum(moves[verdict].values()) == sum(1 for va, *_ in pairs if va == verdict)
        assert sum(row[verdict] for row in moves.values()) == sum(1 for *_, vb, _rb in pairs if vb == verdict)
    for name in ("newly_failing", "newly_passing", "newly_review"):
        part = d[name]
        assert part["subscribers"] == counts[name]
        assert sum(part["by_join_year"].values()) == sum(part["by_region"].values()) == counts[name]
    for name, listed in d["lists"].items():
        assert len(listed["subscribers"]) == min(3, counts[name])
        assert len(listed["subscribers"]) + listed["not_listed"] == counts[name]
