"""A generated subscriber base whose photos are already measured, for scale benchmarks.

Every subscriber has an ID portrait and a live photo; every photo has its own
sha256 and its own stored measurement (by the current extractor), made from a
pool of real measurements of ``../shared/faces`` with the descriptor moved a
little, so distances and verdicts vary as in a real base. The photo files
themselves do not exist: a rescan of this base must judge from the
measurement cache alone (a photo it tried to read would be UNREADABLE_PHOTO,
which the benchmark checks it never is).

    .venv/bin/python bench/synthetic_base.py DB_URL N   # write N subscribers
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from checks.idcard import check_character
from checks.photo import EXTRACTOR_VERSION, measure_photo
from scanner import db
from scanner.photos import decode_photo, read_photo
from scanner.tables import MEASUREMENT, PHOTO, SUBSCRIBER

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ("110101", "310104", "420102", "440305", "510104", "330106", "320102", "370102", "610113", "500103")
BATCH = 20_000


def measurement_pool(faces: Path, n: int = 60) -> list[dict[str, Any]]:
    """Real measurements of ``n`` face-set photos (identities and occlusion folders)."""
    with (faces / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        files = sorted(r["file"] for r in csv.DictReader(fh) if r["file"].startswith(("identities/", "occlusion/")))
    pool = []
    for name in files[:: max(1, len(files) // n)][:n]:
        m = measure_photo(decode_photo(read_photo(str(faces / name))), dlib=True)
        pool.append(m.to_dict())
    return pool


def write_base(engine: Engine, n: int, pool: list[dict[str, Any]], seed: int = 7) -> None:
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    today = dt.date(2026, 11, 22)
    with engine.begin() as conn:
        for start in range(0, n, BATCH):
            count = min(BATCH, n - start)
            subs, photos, measurements = [], [], []
            for i in range(start, start + count):
                sid = i + 1
                birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
                body = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
                subs.append(
                    {
                        "id": sid,
                        "account_id": f"A{sid:09d}",
                        "msisdn": f"13{rng.randrange(10**9):09d}",
                        "name": "测试",
                        "id_number": body + check_character(body),
                        "id_legacy": False,
                        "id_expires_on": today + dt.timedelta(days=rng.randrange(-200, 3650)),
                        "joined_on": dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 21)),
                        "segment": "enterprise" if rng.random() < 0.05 else "consumer",
                        "region_code": body[:6],
                        "source": "synthetic",
                        "created_at": dt.datetime.now(dt.UTC),
                        "updated_at": dt.datetime.now(dt.UTC),
                    }
                )
                pick = rng.randrange(len(pool))
                person = pool[pick]
                for k, kind in enumerate(("id_portrait", "live")):
                    sha = hashlib.sha256(f"{sid}:{kind}".encode()).hexdigest()
                    photos.append(
                        {
                            "id": 2 * sid - 1 + k,
                            "subscriber_id": sid,
                            "kind": kind,
                            "uri": f"/synthetic/{sid}/{kind}.jpg",
                            "sha256": sha,
                        }
                    )
                    values = {key: v for key, v in person.items() if key != "descriptor"}
                    if kind == "live":
                        # A new capture is not the portrait's pixels: its face signature is another
                        # photo's, or every live photo would be LIVE_IS_COPY of its portrait.
                        other = pool[(pick + 1 + rng.randrange(len(pool) - 1)) % len(pool)]
                        values["face_signature"] = other.get("face_signature")
                    descriptor = None
                    if person["descriptor"] is not None:
                        d = np.asarray(person["descriptor"]) + nprng.normal(0.0, 0.02, 128)
                        descriptor = d.astype(np.float64).tobytes()
                    measurements.append(
                        {
                            "photo_sha256": sha,
                            "extractor_version": EXTRACTOR_VERSION,
                            "values": values,
                            "descriptor": descriptor,
                            "created_at": dt.datetime.now(dt.UTC),
                        }
                    )
            conn.execute(insert(SUBSCRIBER), subs)
            conn.execute(insert(PHOTO), photos)
            conn.execute(insert(MEASUREMENT), measurements)


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    faces = Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT.parent / "shared" / "faces"
    write_base(db.open_engine(url), n, measurement_pool(faces))


if __name__ == "__main__":
    main()
