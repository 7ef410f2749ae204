"""The face index kept beside the database, on SQLite and PostgreSQL: new faces added and searched
alone, a row committed late below the ids already read, a process killed between the file and the
database row, a wider bound and a damaged file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from checks.face import encode_feature
from checks.photo import EXTRACTOR_VERSION
from scanner import db
from scanner.faceindex.store import index_folder, sync
from scanner.faceindex.vectors import DIM, unit_rows
from scanner.tables import FACE_INDEX_STATE, FACE_PAIR, MEASUREMENT

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def engine(any_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("REALNAME_FACE_INDEX", str(tmp_path / "faces"))
    return db.open_engine(any_url)


def _features(n: int, seed: int = 3) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).standard_normal((n, DIM)))


def _twin(feature: np.ndarray, distance: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    noise -= (noise @ feature) * feature
    noise /= np.linalg.norm(noise)
    cos = 1.0 - distance
    return cos * feature + np.sqrt(1 - cos * cos) * noise


def _store(engine: Engine, rows: dict[int, np.ndarray | None]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(MEASUREMENT),
            [
                {
                    "id": i,
                    "photo_sha256": f"{i:064x}",
                    "extractor_version": EXTRACTOR_VERSION,
                    "values": {
                        "face_count": 0 if f is None else 1,
                        "sface_feature": None if f is None else encode_feature(f),
                    },
                    "created_at": T0,
                }
                for i, f in rows.items()
            ],
        )


def _pairs(engine: Engine) -> dict[tuple[int, int], float]:
    with engine.connect() as conn:
        rows = conn.execute(select(FACE_PAIR.c.measurement_a, FACE_PAIR.c.measurement_b, FACE_PAIR.c.distance))
        return {(a, b): d for a, b, d in rows}


def _state(engine: Engine) -> tuple[str, int, float, int]:
    with engine.connect() as conn:
        row = conn.execute(select(FACE_INDEX_STATE)).one()
    return row.uuid, row.searched_to, row.radius, row.faces


def test_new_faces_are_added_and_searched_alone(engine: Engine) -> None:
    base = _features(50)
    rows: dict[int, np.ndarray | None] = {i + 1: f for i, f in enumerate(base)}
    rows[51] = None  # a photo without a face
    rows[60] = _twin(base[2], 0.1, 1)  # a second capture of face 3
    _store(engine, rows)
    first = sync(engine, 0.2)
    assert first.rebuilt and (first.added, first.searched, first.faces) == (51, 51, 51)
    assert _pairs(engine).keys() == {(3, 60)} and _pairs(engine)[(3, 60)] == pytest.approx(0.1, abs=1e-4)
    name, searched_to, radius, faces = _state(engine)
    assert (searched_to, radius, faces) == (60, 0.2, 51)

    _store(engine, {55: _twin(base[6], 0.15, 2), 61: _twin(base[9], 0.3, 3)})  # 55: committed late, below 60
    later = sync(engine, 0.2)
    assert not later.rebuilt and (later.added, later.faces) == (2, 53)
    assert _pairs(engine).keys() == {(3, 60), (7, 55)}  # 61 is 0.3 away: not a pair
    assert _state(engine)[:2] == (name, 61)
    idle = sync(engine, 0.2)
    assert (idle.added, idle.searched, idle.new_pairs) == (0, 0, 0)


def test_a_file_ahead_of_the_database_is_searched_again_without_adding_twice(engine: Engine) -> None:
    base = _features(30)
    _store(engine, {i + 1: f for i, f in enumerate(base)})
    sync(engine, 0.2)
    _store(engine, {40: _twin(base[0], 0.05, 4)})
    sync(engine, 0.2)
    with engine.begin() as conn:  # as if killed after the file was written, before the row
        conn.execute(update(FACE_INDEX_STATE).values(searched_to=30))
        conn.execute(FACE_PAIR.delete())
    again = sync(engine, 0.2)
    assert (again.rebuilt, again.added, again.searched, again.faces) == (False, 0, 1, 31)
    assert _pairs(engine).keys() == {(1, 40)}


def test_a_wider_bound_or_a_damaged_file_rebuilds_the_index(engine: Engine) -> None:
    base = _features(30)
    _store(engine, {i + 1: f for i, f in enumerate(base)} | {31: _twin(base[4], 0.25, 5)})
    sync(engine, 0.2)
    assert _pairs(engine) == {}
    name = _state(engine)[0]
    assert sync(engine, 0.1).rebuilt is False  # narrower: the pairs recorded within 0.2 still serve
    wider = sync(engine, 0.3)
    assert wider.rebuilt and _pairs(engine).keys() == {(5, 31)}
    new_name = _state(engine)[0]
    folder = index_folder(engine)
    assert folder is not None and new_name != name
    assert [p.name for p in folder.glob("*.hnsw")] == [f"{new_name}.hnsw"]  # the old file is gone
    (folder / f"{new_name}.hnsw").write_bytes(b"not an index")
    notes: list[str] = []
    repaired = sync(engine, 0.3, notes.append)
    assert repaired.rebuilt and repaired.faces == 31 and _pairs(engine).keys() == {(5, 31)}
    assert notes and "unreadable" in notes[0]
