"""End to end: build the demo base from the face set, import it, rescan it, read the report.

Each demo cohort must come out with the reason that explains it. Face match
and detection are statistical, so those cohorts are asserted as rates; the
ID-data and photo-presence cohorts are asserted exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from scanner import db
from scanner.demo import DemoBase, build_demo_base
from scanner.importer import import_file
from scanner.policyfile import load_policy
from scanner.scan.report import build_report
from scanner.scan.rescan import rescan

TODAY = dt.date(2026, 11, 22)

pytestmark = [pytest.mark.faces, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> tuple[Any, Any, DemoBase]:
    """The demo base built, imported and rescanned once for this module: (engine, run, base)."""
    work = tmp_path_factory.mktemp("demo")
    base = build_demo_base(faces_dir, work, today=TODAY)
    engine = db.open_engine(f"sqlite:///{work / 'realname.db'}")
    imported = import_file(engine, base.csv_path, keep_invalid_id=True, today=TODAY, photo_roots=base.photo_roots)
    assert imported.committed and imported.inserted == base.subscribers
    run = rescan(engine, load_policy(), as_of=TODAY, workers=2)
    assert run.status == "finished"
    return engine, run, base


@pytest.fixture(scope="module")
def outcome(demo: tuple[Any, Any, DemoBase]) -> dict[str, list[dict[str, Any]]]:
    engine, run, base = demo
    report = build_report(engine, run.id)
    with base.cohorts_path.open(newline="", encoding="utf-8") as fh:
        cohort_of = {r["account_id"]: r["cohort"] for r in csv.DictReader(fh)}
    by_cohort: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in report["subscribers"]:
        by_cohort[cohort_of[row["account_id"]]].append(row)
    print({c: len(rows) for c, rows in by_cohort.items()}, run.totals)
    return by_cohort


def _share(rows: list[dict[str, Any]], pred: Any) -> float:
    return sum(1 for r in rows if pred(r)) / len(rows)


def test_demo_has_about_200_subscribers_of_every_kind(outcome: dict[str, list[dict[str, Any]]]) -> None:
    total = sum(len(rows) for rows in outcome.values())
    assert 180 <= total <= 230
    for cohort in (
        "genuine",
        "impostor",
        "masked",
        "sunglasses",
        "no_face",
        "multi_face",
        "no_photo_2003",
        "id_expired",
        "id_invalid",
        "id_legacy",
        "unreadable",
        "id_many_numbers",
        "face_other_id",
    ):
        assert outcome[cohort], f"cohort {cohort} missing"


def test_exact_cohorts(outcome: dict[str, list[dict[str, Any]]]) -> None:
    (old,) = outcome["no_photo_2003"]
    assert old["reasons"] == ["NO_PHOTO"] and old["verdict"] == "fail"
    assert old["joined_on"] == "2003-06-18"
    for row in outcome["id_expired"]:
        assert "ID_EXPIRED" in row["reasons"] and row["verdict"] == "fail"
    for row in outcome["id_invalid"]:
        assert "ID_NUMBER_INVALID" in row["reasons"] and row["verdict"] == "fail"
    for row in outcome["id_legacy"]:
        assert "ID_LEGACY_NUMBER" in row["reasons"] and row["verdict"] != "pass"
    assert len(outcome["id_many_numbers"]) == 6
    for row in outcome["id_many_numbers"]:  # one person, six numbers: two under the 15-digit form
        (ev,) = [e for e in row["evidence"] if e["code"] == "ID_TOO_MANY_NUMBERS"]
        assert (ev["value"], ev["threshold"], ev["severity"]) == (6, 5, "review") and row["verdict"] != "pass"
    assert sum("ID_LEGACY_NUMBER" in row["reasons"] for row in outcome["id_many_numbers"]) == 2
    others = [r for c, rows in outcome.items() if c != "id_many_numbers" for r in rows]
    assert not any("ID_TOO_MANY_NUMBERS" in r["reasons"] for r in others)
    for row in outcome["unreadable"]:
        assert "UNREADABLE_PHOTO" in row["reasons"] and row["verdict"] == "fail"
        (ev,) = [e for e in row["evidence"] if e["code"] == "UNREADABLE_PHOTO"]
        assert ev["photo_kind"] == "live" and ev["detail"]


def test_one_face_under_two_id_numbers_is_found_across_the_base(outcome: dict[str, list[dict[str, Any]]]) -> None:
    """The planted pair (one person's live photo re-used under another person's ID) is found, each naming
    the other. So are impostors whose live photos show one stranger under several ID numbers. Elsewhere
    it fires only where a group photo of the face set shows a demo person's face (measured: one group
    photo, unknown_two_people.jpg, shows identities/obama at distance 0.038), naming that group photo's
    subscriber."""
    planted = outcome["face_other_id"]
    assert len(planted) == 2
    accounts = {r["account_id"] for r in planted}
    for row in planted:
        (ev,) = [e for e in row["evidence"] if e["code"] == "FACE_UNDER_OTHER_ID"]
        (other,) = accounts - {row["account_id"]}
        assert ev["severity"] == "review" and ev["value"] <= ev["threshold"] and other in ev["detail"]
        assert row["verdict"] == "review" and row["reasons"] == ["FACE_UNDER_OTHER_ID"]  # nothing else wrong
    impostors = outcome["impostor"]
    shared = _share(impostors, lambda r: "FACE_UNDER_OTHER_ID" in r["reasons"])
    print(f"impostors with a face under another ID: {shared:.1%}")
    assert shared >= 0.5  # 30 impostors' live photos come from 16 strangers
    group = {r["account_id"] for r in outcome["multi_face"]}
    for cohort, rows in outcome.items():
        if cohort in ("face_other_id", "impostor", "multi_face"):
            continue
        for row in rows:
            for ev in row["evidence"]:
                if ev["code"] == "FACE_UNDER_OTHER_ID":
                    assert any(account in ev["detail"] for account in group), (cohort, ev["detail"])


def test_genuine_pairs_are_not_rejected(outcome: dict[str, list[dict[str, Any]]]) -> None:
    rows = outcome["genuine"]
    mismatch = _share(rows, lambda r: "FACE_MISMATCH" in r["reasons"])
    passed = _share(rows, lambda r: r["verdict"] == "pass")
    print(f"genuine: {len(rows)} pairs, pass {passed:.1%}, FACE_MISMATCH {mismatch:.1%}")
    assert mismatch <= 0.20
    assert passed >= 0.30


def test_impostors_never_pass(outcome: dict[str, list[dict[str, Any]]]) -> None:
    rows = outcome["impostor"]
    passed = _share(rows, lambda r: r["verdict"] == "pass")
    flagged = _share(rows, lambda r: {"FACE_MISMATCH", "FACE_MATCH_UNCERTAIN"} & set(r["reasons"]))
    print(f"impostor: {len(rows)} pairs, pass {passed:.1%}, face-match reason {flagged:.1%}")
    assert passed <= 1 / 30
    assert flagged >= 0.9


def test_photos_without_a_usable_face(outcome: dict[str, list[dict[str, Any]]]) -> None:
    no_face = outcome["no_face"]
    assert _share(no_face, lambda r: r["verdict"] == "fail") == 1.0
    assert _share(no_face, lambda r: "NO_FACE" in r["reasons"]) >= 0.6
    multi = outcome["multi_face"]
    assert _share(multi, lambda r: r["verdict"] != "pass") == 1.0
    for cohort in ("masked", "sunglasses"):
        rows = outcome[cohort]
        not_passed = _share(rows, lambda r: r["verdict"] != "pass")
        print(f"{cohort}: {len(rows)}, not passed {not_passed:.1%}")
        assert not_passed >= 0.9


def test_every_reason_has_evidence(outcome: dict[str, list[dict[str, Any]]]) -> None:
    for rows in outcome.values():
        for row in rows:
            assert sorted({e["code"] for e in row["evidence"]}) == row["reasons"]
            for ev in row["evidence"]:
                if ev["measure"] and ev["threshold"] is not None:
                    assert ev["value"] is not None and ev["comparison"] in ("<", ">")
            assert "*" in row["msisdn"] and "*" in row["id_number"]


def test_no_report_file_of_the_demo_shows_a_full_number(demo: tuple[Any, Any, DemoBase], tmp_path: Path) -> None:
    from notices.reasons import reason_text
    from scanner.report.export import stream_csv, stream_json
    from scanner.report.html import write_html
    from scanner.report.rows import iter_rows

    engine, run, base = demo
    with base.csv_path.open(newline="", encoding="utf-8") as fh:
        numbers = [n for r in csv.DictReader(fh) for n in (r["msisdn"], r["id_number"]) if n]
    files = {name: tmp_path / f"demo.{name}" for name in ("csv", "json", "html")}
    with files["csv"].open("w", encoding="utf-8-sig", newline="") as fh:
        assert stream_csv(iter_rows(engine, run.id), fh) == run.totals["subscribers"]
    with files["json"].open("w", encoding="utf-8") as fh:
        stream_json({"run": {"id": run.id}}, iter_rows(engine, run.id), fh)
    with files["html"].open("w", encoding="utf-8") as fh:
        write_html(engine, run.id, fh, limit=1000)
    for name, path in files.items():
        text = path.read_text(encoding="utf-8-sig")
        shown = [n for n in numbers if n in text]
        assert shown == [], f"{name} shows {len(shown)} full numbers"
    page = files["html"].read_text(encoding="utf-8")
    for code in run.totals["reasons"]:
        assert code in page and reason_text(code).zh in page
    assert "2003" in page  # the subscriber who joined before photos were captured
