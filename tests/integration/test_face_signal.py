"""One face under several ID numbers, on SQLite and PostgreSQL, with real photos from ../shared/faces.

A person's photo, re-saved at another size (as a second enrolment would reuse it), is registered under
another person's ID number. The faces are first measured by the run that must find them, so the
finding comes from the run's last step (``scanner.scan.sameface``); later runs take new faces into the
index kept beside the database without searching the base again, and a lost index file is rebuilt.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import cv2
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from checks.idcard import check_character
from notices.review import ReviewRules
from scanner import db
from scanner.audit.verify import verify
from scanner.faceindex.store import index_folder
from scanner.importer import import_file
from scanner.policyfile import load_policy
from scanner.review.detail import item_detail
from scanner.review.items import sync_items
from scanner.scan.rescan import Progress, rescan
from scanner.tables import FACE_INDEX_STATE, FACE_PAIR, FINDING, REVIEW_ITEM, SUBSCRIBER

pytestmark = [pytest.mark.faces]

TODAY = dt.date(2026, 12, 4)
HEADER = "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo"


def _number(seventeen: str) -> str:
    return seventeen + check_character(seventeen)


P1, P2, P3, P4 = (
    _number(s) for s in ("11010519800101001", "11010519810202002", "31011519900303003", "44030519950404004")
)


def _identities(faces: Path, wanted: int) -> list[list[Path]]:
    """Photos of ``wanted`` identities with three or more photos, from sources other than the AFDB crops."""
    by_identity: dict[str, list[Path]] = {}
    with (faces / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["file"].startswith("identities/") and "/afdb_" not in row["file"]:
                by_identity.setdefault(row["identity"], []).append(faces / row["file"])
    chosen = [sorted(files) for _name, files in sorted(by_identity.items()) if len(files) >= 3]
    assert len(chosen) >= wanted, "the face set has too few identities with three photos"
    return chosen[:wanted]


def _copy(photo: Path, out: Path, scale: float) -> Path:
    """The photo re-saved smaller as JPEG: another file of the same capture."""
    image = cv2.imread(str(photo))
    assert image is not None
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out), small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out


def _write(path: Path, rows: list[tuple[str, str, Path, Path]]) -> Path:
    lines = [HEADER]
    for i, (account, number, portrait, live) in enumerate(rows):
        lines.append(f"{account},1391234{i:04d},张三,{number},长期,2016-03-01,consumer,{portrait},{live},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _same_face(engine: Engine, run_id: int) -> dict[str, dict[str, Any]]:
    """account -> the FACE_UNDER_OTHER_ID evidence of its finding in a run (accounts without one left out)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(SUBSCRIBER.c.account_id, FINDING.c.evidence)
            .join(SUBSCRIBER, SUBSCRIBER.c.id == FINDING.c.subscriber_id)
            .where(FINDING.c.run_id == run_id)
        ).all()
    return {a: e for a, ev in rows for e in ev if e["code"] == "FACE_UNDER_OTHER_ID"}


def _state(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(FACE_INDEX_STATE)).one()


def _audit_clean(engine: Engine) -> None:
    with engine.connect() as conn:
        result = verify(conn)
    assert result.intact and result.runs_checked, result


@pytest.fixture
def people(faces_dir: Path, tmp_path: Path) -> dict[str, Any]:
    x, y, z, w = _identities(faces_dir, 4)
    return {
        "x": x,
        "y": y,
        "z": z,
        "w": w,
        "x_copy": _copy(x[1], tmp_path / "x_live_again.jpg", 0.8),
        "z_copy": _copy(z[1], tmp_path / "z_live_again.jpg", 0.7),
    }


def _first_base(tmp_path: Path, p: dict[str, Any]) -> Path:
    return _write(
        tmp_path / "base.csv",
        [
            ("S1", P1, p["x"][0], p["x"][1]),  # person 1
            ("S2", P1, p["x"][0], p["x"][1]),  # person 1's second number: the same photos, rightly
            ("S3", P2, p["y"][0], p["x_copy"]),  # person 1's live photo again, under person 2's ID
            ("S4", P3, p["z"][0], p["z"][1]),
        ],
    )


def test_a_face_under_another_id_is_found_by_the_run_that_measures_it(
    any_url: str, tmp_path: Path, faces_dir: Path, people: dict[str, Any]
) -> None:
    engine = db.open_engine(any_url)
    roots = [str(faces_dir), str(tmp_path)]
    assert import_file(engine, _first_base(tmp_path, people), today=TODAY, photo_roots=roots).inserted == 4
    run = rescan(engine, load_policy(), as_of=TODAY, workers=1)
    found = _same_face(engine, run.id)
    assert set(found) == {"S1", "S2", "S3"}
    s3 = found["S3"]
    assert s3["severity"] == "review" and s3["photo_kind"] == "live" and s3["threshold"] == 0.2
    assert 0 <= s3["value"] <= 0.2 and s3["detail"].startswith("the same face as the live photo of account S")
    assert "139****" in s3["detail"] and "13912340" not in s3["detail"]  # the other number, masked
    assert "S3" in found["S1"]["detail"] and "S3" in found["S2"]["detail"]  # never each other: one person
    assert run.totals["reasons"]["FACE_UNDER_OTHER_ID"] == 3
    _audit_clean(engine)  # the findings rewritten at the end are the ones the run's digest covers

    # The review page shows the other account's photo beside the subscriber's own.
    now = dt.datetime(2026, 12, 4, 8, tzinfo=dt.UTC)
    sync_items(engine, now)
    with engine.connect() as conn:
        item_id = conn.execute(
            select(REVIEW_ITEM.c.id)
            .join(SUBSCRIBER, SUBSCRIBER.c.id == REVIEW_ITEM.c.subscriber_id)
            .where(SUBSCRIBER.c.account_id == "S1")
        ).scalar_one()
        detail = item_detail(conn, item_id, ReviewRules(), now)
    (other,) = [p for p in detail.photos if p.kind == "other_id"]
    assert other.owner is not None and other.owner.startswith("S3 (139****") and other.uri.endswith("x_live_again.jpg")
    assert other.measurement and other.measurement["face_box"]  # drawn like the subscriber's own

    # A second run judges from the measurement cache with the pairs known from the start: the same.
    state = _state(engine)
    again = rescan(engine, load_policy(), as_of=TODAY, workers=1, judge_processes=1, preview=True)
    assert _same_face(engine, again.id) == found
    assert _state(engine).uuid == state.uuid

    # New subscribers: their faces are added and searched alone, the base is not searched again.
    later = _write(
        tmp_path / "later.csv",
        [("S5", P4, people["w"][0], people["z_copy"]), ("S6", P3, people["z"][0], people["z"][1])],
    )
    assert import_file(engine, later, today=TODAY, photo_roots=roots).inserted == 2
    third = rescan(engine, load_policy(), as_of=TODAY, workers=1)
    after = _state(engine)
    assert after.uuid == state.uuid and after.faces > state.faces and after.searched_to > state.searched_to
    assert set(_same_face(engine, third.id)) == {"S1", "S2", "S3", "S4", "S5", "S6"}
    _audit_clean(engine)

    # The index file lost: rebuilt from the stored measurements, with the same pairs.
    folder = index_folder(engine)
    assert folder is not None
    for path in folder.glob("*.hnsw"):
        path.unlink()
    with engine.connect() as conn:
        pairs = set(conn.execute(select(FACE_PAIR.c.measurement_a, FACE_PAIR.c.measurement_b)).all())
    fourth = rescan(engine, load_policy(), as_of=TODAY, workers=1)
    assert _state(engine).uuid != state.uuid and _state(engine).faces == after.faces
    with engine.connect() as conn:
        assert set(conn.execute(select(FACE_PAIR.c.measurement_a, FACE_PAIR.c.measurement_b)).all()) == pairs
    assert _same_face(engine, fourth.id) == _same_face(engine, third.id)


class _Stop(Exception):
    pass


def test_an_interrupted_run_resumed_ends_with_the_same_findings(
    any_url: str, tmp_path: Path, faces_dir: Path, people: dict[str, Any]
) -> None:
    engine = db.open_engine(any_url)
    import_file(engine, _first_base(tmp_path, people), today=TODAY, photo_roots=[str(faces_dir), str(tmp_path)])

    def stop_after_a_page(progress: Progress) -> None:
        if progress.subscribers_done >= 2:
            raise _Stop

    with pytest.raises(_Stop):
        rescan(engine, load_policy(), as_of=TODAY, workers=1, page_size=2, on_progress=stop_after_a_page)
    with engine.connect() as conn:
        run_id = conn.execute(text("SELECT max(id) FROM scan_run")).scalar_one()
    resumed = rescan(engine, resume=run_id, workers=1)
    assert resumed.status == "finished" and set(_same_face(engine, resumed.id)) == {"S1", "S2", "S3"}
    assert resumed.totals["reasons"]["FACE_UNDER_OTHER_ID"] == 3
    _audit_clean(engine)
