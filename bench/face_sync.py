"""What keeping the face index up to date costs a run, with the database: a rebuild, and new faces.

Writes N measurement rows shaped like real ones (about 2 KB of values each, the SFace feature
synthetic, 2% of them a second capture of another at a distance up to 0.3) straight to the table,
then times ``scanner.faceindex.store.sync``: once from nothing (every feature read from the
database, added and searched: what a first run or a lost index file costs), then again after 1% new
measurements (what a run adds), then with nothing new (what every run pays to look). SQLite (a
temporary file) and PostgreSQL (a new schema in the local ``test`` database, dropped afterwards).

    .venv/bin/python bench/face_sync.py [--faces 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from face_index import synthetic  # bench/ is on the path when this script runs
from queue_load import pg_schema
from sqlalchemy import func, insert, select

from checks.face import encode_feature
from checks.photo import EXTRACTOR_VERSION
from scanner.db import dispose_engines, open_engine, write_engine_for
from scanner.faceindex.store import sync
from scanner.tables import FACE_PAIR, MEASUREMENT

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
FILLER = "x" * 1500  # the rest of a measurement's values, about as long as the real ones


def seed(url: str, features: np.ndarray, first: int) -> None:
    engine = write_engine_for(url)
    for start in range(0, len(features), 20_000):
        rows = [
            {
                "id": first + start + i,
                "photo_sha256": f"{first + start + i:064x}",
                "extractor_version": EXTRACTOR_VERSION,
                "values": {"face_count": 1, "sface_feature": encode_feature(f), "notes": FILLER},
                "descriptor": None,
                "created_at": T0,
            }
            for i, f in enumerate(features[start : start + 20_000])
        ]
        with engine.begin() as conn:
            conn.execute(insert(MEASUREMENT), rows)


def measure(name: str, url: str, features: np.ndarray, index_dir: Path) -> None:
    os.environ["REALNAME_FACE_INDEX"] = str(index_dir)
    engine = open_engine(url)
    new = len(features) // 100
    began = time.perf_counter()
    seed(url, features[:-new], 1)
    seeded = time.perf_counter() - began
    first = sync(engine, 0.2)
    seed(url, features[-new:], len(features) - new + 1)
    added = sync(engine, 0.2)
    idle = sync(engine, 0.2)
    with engine.connect() as conn:
        pairs = conn.execute(select(func.count()).select_from(FACE_PAIR)).scalar_one()
    print(
        f"{name}: {len(features) - new:,} measurements (written in {seeded:.0f} s) | "
        f"rebuild {first.seconds:.1f} s ({first.searched:,} faces searched, {first.new_pairs:,} pairs, "
        f"file {first.file_bytes or 0:,} bytes) | {new:,} new: {added.seconds:.1f} s "
        f"({added.added:,} added, {added.searched:,} searched, {added.new_pairs:,} new pairs) | "
        f"nothing new: {idle.seconds:.2f} s | pairs stored {pairs:,}",
        flush=True,
    )
    dispose_engines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    n = parser.parse_args().faces
    features, _planted = synthetic(n, 0.02, np.random.default_rng(7))
    with tempfile.TemporaryDirectory() as folder:
        measure("SQLite", f"sqlite:///{Path(folder) / 'base.db'}", features, Path(folder) / "faces")
    with pg_schema() as url, tempfile.TemporaryDirectory() as folder:
        if url is not None:
            measure("PostgreSQL", url, features, Path(folder) / "faces")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
