"""The face index kept beside the database, brought up to date with the measurements stored.

Every measurement of the current extractor that found a face carries the face's SFace feature. The
index (``scanner.faceindex.vectors``) holds them labelled by measurement id, in a file beside the
database; the database's ``face_index`` row names that file (a uuid) and how far the faces were
searched, and ``face_pair`` holds the pairs of faces found within the index's radius.

``sync`` adds the faces measured since the file was written and searches them, and only them, for
their neighbours: the base is not searched again every run. It rebuilds the index (every face added
and searched) when there is none, when the file is missing or unreadable, or when the policy's bound
is wider than the radius the pairs were recorded within. The file is written before the database
row that records it, so a process killed in between leaves faces in the file that the row says are
not yet searched; the next ``sync`` searches them without adding them twice.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine, make_url

from checks.face import decode_feature
from checks.photo import EXTRACTOR_VERSION
from scanner.db import dialect_insert
from scanner.faceindex.vectors import DIM, EF_SEARCH, EF_SEARCH_NEW, FaceVectors, Labels, Matrix, pairs_within
from scanner.tables import FACE_INDEX_STATE, FACE_PAIR, MEASUREMENT
from scanner.utctime import utcnow

ENV_PATH = "REALNAME_FACE_INDEX"
READ_BATCH = 20_000
RECHECK = 1000
STATE_ID = 1

Note = Callable[[str], None]
# A measurement's SFace feature (base64), read out of its JSON values by the database.
SFACE_FEATURE = MEASUREMENT.c["values"]["sface_feature"].as_string()


@dataclass(frozen=True)
class SyncResult:
    rebuilt: bool
    added: int  # faces added to the index
    searched: int  # faces searched for their neighbours
    new_pairs: int
    faces: int  # faces in the index now
    file_bytes: int | None  # None where the index is kept in memory only
    seconds: float


def index_folder(engine: Engine) -> Path | None:
    """Where the index files live: ``REALNAME_FACE_INDEX``, else beside a SQLite file
    (``realname.db.faces``), else ``./realname-faces`` for a server; None for an in-memory SQLite
    database (the index is then rebuilt by every run)."""
    chosen = os.environ.get(ENV_PATH)
    if chosen:
        return Path(chosen)
    url = make_url(str(engine.url))
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return Path(url.database + ".faces")
    return Path(f"realname-faces-{url.host or 'local'}-{url.port or 'default'}-{url.database or 'db'}")


def _file(folder: Path, name: str) -> Path:
    return folder / f"{name}.hnsw"


def faces_after(conn: Connection, after: int, batch: int = READ_BATCH) -> Iterator[tuple[Labels, Matrix]]:
    """(measurement ids, SFace features) of the current extractor's measurements with a face and an id
    over ``after``, in id order, ``batch`` at a time."""
    last = after
    while True:
        rows = conn.execute(
            select(MEASUREMENT.c.id, SFACE_FEATURE)
            .where(MEASUREMENT.c.id > last, MEASUREMENT.c.extractor_version == EXTRACTOR_VERSION)
            .order_by(MEASUREMENT.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        last = int(rows[-1][0])
        kept = [(int(i), f) for i, f in rows if f]
        if kept:
            labels = np.array([i for i, _ in kept], dtype=np.int64)
            vectors = np.stack([decode_feature(f) for _, f in kept]).astype(np.float32).reshape(-1, DIM)
            yield labels, vectors
        if len(rows) < batch:
            return


def _insert_pairs(conn: Connection, pairs: dict[tuple[int, int], float]) -> None:
    if not pairs:
        return
    rows = [{"measurement_a": a, "measurement_b": b, "distance": d} for (a, b), d in sorted(pairs.items())]
    for start in range(0, len(rows), 10_000):
        conn.execute(dialect_insert(conn, FACE_PAIR).on_conflict_do_nothing(), rows[start : start + 10_000])


def _max_measurement(conn: Connection) -> int:
    top = conn.execute(select(MEASUREMENT.c.id).order_by(MEASUREMENT.c.id.desc()).limit(1)).scalar()
    return int(top or 0)


def sync(engine: Engine, bound: float, note: Note | None = None) -> SyncResult:
    """Bring the index and ``face_pair`` up to date with the stored measurements, recording the pairs
    within ``bound`` (SFace cosine distance) of each face searched."""
    started = time.perf_counter()
    folder = index_folder(engine)
    with engine.connect() as conn:
        state = conn.execute(select(FACE_INDEX_STATE).where(FACE_INDEX_STATE.c.id == STATE_ID)).first()
        top = _max_measurement(conn)
    vectors: FaceVectors | None = None
    if state is not None and folder is not None and bound <= state.radius + 1e-9:
        path = _file(folder, state.uuid)
        if path.exists():
            try:
                vectors = FaceVectors.load(path)
            except RuntimeError as exc:  # faiss: a truncated or foreign file
                if note:
                    note(f"face index {path}: unreadable ({exc}); rebuilding it")
    rebuilt = vectors is None
    if rebuilt:
        name, radius, searched_to, vectors = uuid.uuid4().hex, bound, 0, FaceVectors()
        if note and state is not None:
            note("face index: rebuilding it from every stored face (a whole-base search)")
    else:
        assert state is not None
        name, radius, searched_to = state.uuid, float(state.radius), int(state.searched_to)
    assert vectors is not None
    held = vectors.labels()
    # Measurement ids are handed out before their rows commit, so a row of a concurrent writer (an
    # online re-verification) may land below ids already read: the last RECHECK ids are read again
    # and whatever of them the index lacks is taken.
    start = 0 if rebuilt else max(0, min(int(held.max()) if len(held) else 0, searched_to) - RECHECK)
    added = searched = 0
    pending: list[tuple[Labels, Matrix]] = []
    with engine.connect() as conn:
        for labels, feats in faces_after(conn, start):
            fresh = ~np.isin(labels, held)
            vectors.add(labels[fresh], feats[fresh])
            added += int(fresh.sum())
            wanted = fresh | (labels > searched_to)
            if wanted.any():
                pending.append((labels[wanted], feats[wanted]))
    pairs: dict[tuple[int, int], float] = {}
    effort = EF_SEARCH if rebuilt else EF_SEARCH_NEW
    for labels, feats in pending:  # searched once every new face is in: pairs among them are found too
        pairs_within(labels, *vectors.search(feats, effort), radius, into=pairs)
        searched += len(labels)
    size = None
    if folder is not None and (added or rebuilt):
        size = vectors.save(_file(folder, name))
    elif folder is not None:
        size = _file(folder, name).stat().st_size
    with engine.begin() as conn:
        if rebuilt:
            conn.execute(delete(FACE_PAIR))
        _insert_pairs(conn, pairs)
        values = {
            "uuid": name,
            "searched_to": max(searched_to, top),
            "radius": radius,
            "faces": vectors.count,
            "updated_at": utcnow(),
        }
        if state is None:
            conn.execute(insert(FACE_INDEX_STATE).values(id=STATE_ID, **values))
        else:
            conn.execute(update(FACE_INDEX_STATE).where(FACE_INDEX_STATE.c.id == STATE_ID).values(**values))
    if rebuilt and folder is not None and state is not None and state.uuid != name:
        _file(folder, state.uuid).unlink(missing_ok=True)  # the file the database named before
    return SyncResult(rebuilt, added, searched, len(pairs), vectors.count, size, time.perf_counter() - started)
