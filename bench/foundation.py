"""Foundation figures: demo rescan speed, face-found rate and face-match rates on the face set.

    .venv/bin/python bench/foundation.py [--faces DIR] [--workers N]

Prints one block of figures; nothing here is asserted (the tests do that).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from checks.face import decode_feature, face_cosine
from scanner import db
from scanner.demo import build_demo_base
from scanner.importer import import_file
from scanner.policyfile import load_policy
from scanner.scan.executors import make_executor
from scanner.scan.measuretask import PhotoTask, measure_task
from scanner.scan.rescan import rescan

ROOT = Path(__file__).resolve().parents[1]


def demo_speed(faces: Path, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        base = build_demo_base(faces, work)
        engine = db.open_engine(f"sqlite:///{work / 'bench.db'}")
        import_file(engine, base.csv_path, keep_invalid_id=True, photo_roots=base.photo_roots)
        t1 = time.perf_counter()
        run = rescan(engine, load_policy(), workers=workers)
        t2 = time.perf_counter()
    totals = run.totals
    print(f"demo base: {base.subscribers} subscribers, built and imported in {t1 - t0:.1f} s")
    print(
        f"demo rescan ({workers} workers): {totals['photos']} photo references in {t2 - t1:.1f} s wall "
        f"= {totals['photos'] / (t2 - t1):.2f} photos/s; verdicts {totals['verdicts']}"
    )


def face_set_rates(faces: Path, workers: int) -> None:
    with (faces / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (faces / r["file"]).is_file()]
    # dlib's descriptor only where the dlib figures below read it: the other photos are
    # measured as under the default policy (SFace), which does not ask for it.
    tasks = [PhotoTask(i, str(faces / r["file"]), dlib=r["file"].startswith("identities/")) for i, r in enumerate(rows)]
    pool = make_executor(workers)
    t0 = time.perf_counter()
    try:
        outcomes = {o.photo_id: o for o in pool.map(measure_task, tasks)}
    finally:
        pool.close()
    elapsed = time.perf_counter() - t0
    print(
        f"face set: {len(rows)} photos measured in {elapsed:.1f} s "
        f"= {len(rows) / elapsed:.2f} photos/s ({workers} workers)"
    )
    for label, with_dlib in (("default policy", False), ("with dlib's descriptor", True)):
        per_photo = [o.seconds for o in outcomes.values() if tasks[o.photo_id].dlib == with_dlib]
        print(
            f"  worker time per photo, {label} ({len(per_photo)} photos): median "
            f"{np.median(per_photo) * 1000:.0f} ms, p90 {np.percentile(per_photo, 90) * 1000:.0f} ms"
        )

    def found(prefix: str) -> tuple[int, int]:
        ids = [i for i, r in enumerate(rows) if r["file"].startswith(prefix) and r["attributes"] == "clear"]
        hit = sum(1 for i in ids if (outcomes[i].measurement or {}).get("face_count", 0) >= 1)
        return hit, len(ids)

    total_hit = total_n = 0
    for prefix in ("identities/", "occlusion/no_mask/"):
        hit, n = found(prefix)
        total_hit, total_n = total_hit + hit, total_n + n
        print(f"  face found, clear {prefix:20s} {hit}/{n} = {hit / n:.3f}")
    print(f"  face found, clear single-face photos: {total_hit}/{total_n} = {total_hit / total_n:.3f}")

    enc = [
        (r["identity"], np.asarray(outcomes[i].measurement["descriptor"]))
        for i, r in enumerate(rows)
        if r["file"].startswith("identities/") and outcomes[i].measurement and outcomes[i].measurement["descriptor"]
    ]
    genuine, impostor = [], []
    for (ia, ea), (ib, eb) in itertools.combinations(enc, 2):
        (genuine if ia == ib else impostor).append(float(np.linalg.norm(ea - eb)))
    g, m = np.array(genuine), np.array(impostor)
    match = load_policy().policy.checks.match.dlib
    print(f"  face match on identities/: {len(g)} genuine pairs, {len(m)} impostor pairs")
    for t in (0.35, 0.40, 0.45, 0.50, 0.55, 0.60):
        print(
            f"    distance <= {t:.2f}: genuine accepted {np.mean(g <= t):.3f}, impostor accepted {np.mean(m <= t):.4f}"
        )
    if match is not None:
        lo, hi = match.match_max_distance, match.mismatch_above_distance
        print(
            f"  dlib bands of the default policy (match <= {lo}, mismatch > {hi}): genuine match "
            f"{np.mean(g <= lo):.3f} / review {np.mean((g > lo) & (g <= hi)):.3f} / mismatch {np.mean(g > hi):.3f}; "
            f"impostor match {np.mean(m <= lo):.4f} / review {np.mean((m > lo) & (m <= hi)):.4f} "
            f"/ mismatch {np.mean(m > hi):.4f}"
        )
    sface_rates(rows, outcomes)


def sface_rates(rows: list[dict[str, str]], outcomes: dict[int, Any]) -> None:
    """The same pairs by SFace's cosine (larger is more alike), against the default policy's SFace bands."""
    feats = [
        (r["identity"], decode_feature(outcomes[i].measurement["sface_feature"]))
        for i, r in enumerate(rows)
        if r["file"].startswith("identities/")
        and outcomes[i].measurement
        and outcomes[i].measurement.get("sface_feature")
    ]
    genuine, impostor = [], []
    for (ia, fa), (ib, fb) in itertools.combinations(feats, 2):
        (genuine if ia == ib else impostor).append(face_cosine(fa, fb))
    g, m = np.array(genuine), np.array(impostor)
    print(f"  SFace on identities/: {len(g)} genuine pairs, {len(m)} impostor pairs")
    for t in (0.30, 0.35, 0.40, 0.45, 0.50):
        print(f"    cosine >= {t:.2f}: genuine accepted {np.mean(g >= t):.3f}, impostor accepted {np.mean(m >= t):.4f}")
    bands = load_policy().policy.checks.match.sface
    if bands is None:
        return
    hi, lo = bands.match_min_cosine, bands.mismatch_below_cosine
    print(
        f"  SFace bands of the default policy (match >= {hi}, mismatch < {lo}): genuine match "
        f"{np.mean(g >= hi):.3f} / review {np.mean((g < hi) & (g >= lo)):.3f} / mismatch {np.mean(g < lo):.3f}; "
        f"impostor match {np.mean(m >= hi):.4f} / review {np.mean((m < hi) & (m >= lo)):.4f} "
        f"/ mismatch {np.mean(m < lo):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--faces", type=Path, default=Path(os.environ.get("REALNAME_FACES_DIR", ROOT.parent / "shared" / "faces"))
    )
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    if not (args.faces / "manifest.csv").is_file():
        sys.exit(f"face set not found at {args.faces}")
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    demo_speed(args.faces, args.workers)
    face_set_rates(args.faces, args.workers)


if __name__ == "__main__":
    main()
