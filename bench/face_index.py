"""The face index at base scale: recall against exact search, build and search time, size.

Real SFace features of ``identities/`` in ``../shared/faces`` (measured here) are planted among
synthetic ones. The synthetic features are unit vectors with a shared direction, so that two of
them have the cosine real different persons have (median ~0.08, spread ~0.09). A share of them get
a second capture at a known distance between 0 and 0.3, spread evenly: the pairs the bound must
find. Then, with the settings of ``scanner.faceindex.vectors`` (or those given):

* the index is built (every face added) and every face searched (the whole-base search a rebuild
  does), timed;
* the pairs within the bound are compared with exact search (``--exact``: every pair by brute force,
  quadratic) or with the pairs planted (their distance is known by construction; random synthetic
  features never come that close);
* a tenth of the faces is held back, then added and searched alone (a run's new faces), and the
  pairs involving them compared too;
* the index's file size and the process's peak memory are printed.

    .venv/bin/python bench/face_index.py --faces 100000 --exact
    .venv/bin/python bench/face_index.py --faces 1000000
    .venv/bin/python bench/face_index.py --faces 100000 --exact --sweep   # other HNSW settings too
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from checks.face import decode_feature
from scanner.faceindex import vectors as fv
from scanner.faceindex.vectors import DIM, FaceVectors, exact_pairs, pairs_within, unit_rows
from scanner.scan.executors import make_executor
from scanner.scan.measuretask import PhotoTask, measure_task

BOUND = 0.20


def real_features(faces: Path) -> np.ndarray:
    photos = sorted((faces / "identities").glob("*/*"))
    pool = make_executor(None)
    try:
        outcomes = list(pool.map(measure_task, [PhotoTask(i, str(p)) for i, p in enumerate(photos)]))
    finally:
        pool.close()
    found = [o.measurement["sface_feature"] for o in outcomes if o.measurement and o.measurement.get("sface_feature")]
    return unit_rows(np.stack([decode_feature(f) for f in found]))


def synthetic(
    n: int, planted_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, dict[tuple[int, int], float]]:
    """``n`` unit vectors, the last ones second captures of earlier ones at known distances."""
    twins = int(n * planted_share)
    base = rng.standard_normal((n, DIM), dtype=np.float32)
    shared = rng.standard_normal(DIM).astype(np.float32)
    shared *= 0.3 * np.sqrt(DIM) / np.linalg.norm(shared)
    base += shared
    out = unit_rows(base)
    planted: dict[tuple[int, int], float] = {}
    targets = np.linspace(0.0, 0.3, twins)
    for j, d in enumerate(targets):
        source, twin = j, n - twins + j
        noise = rng.standard_normal(DIM).astype(np.float32)
        noise -= (noise @ out[source]) * out[source]
        noise /= np.linalg.norm(noise)
        cos = 1.0 - d
        out[twin] = cos * out[source] + np.sqrt(max(0.0, 1.0 - cos * cos)) * noise
        if d <= BOUND:
            planted[(source, twin)] = float(d)
    return unit_rows(out), planted


def recall(found: dict[tuple[int, int], float], truth: dict[tuple[int, int], float]) -> str:
    hit = sum(1 for key in truth if key in found)
    return f"{hit}/{len(truth)} = {hit / len(truth):.2%}" if truth else "no pairs"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(
    vectors: np.ndarray, labels: np.ndarray, truth: dict[tuple[int, int], float], setting: tuple[int, int, int, int]
) -> None:
    m, efc, efs, k = setting
    label = f"M={m} efConstruction={efc} efSearch={efs} k={k}"
    t0 = time.perf_counter()
    index = FaceVectors(m=m, ef_construction=efc, ef_search=efs, k=k)
    held = len(vectors) // 10
    index.add(labels[:-held], vectors[:-held])
    t_first = time.perf_counter() - t0
    t1 = time.perf_counter()
    index.add(labels[-held:], vectors[-held:])
    t_add = time.perf_counter() - t1
    t2 = time.perf_counter()
    d_new, n_new = index.search(vectors[-held:], max(efs, fv.EF_SEARCH_NEW))
    t_new = time.perf_counter() - t2
    new_pairs = pairs_within(labels[-held:], d_new, n_new, BOUND)
    new_labels = set(labels[-held:].tolist())
    new_truth = {k: v for k, v in truth.items() if k[0] in new_labels or k[1] in new_labels}
    t3 = time.perf_counter()
    found: dict[tuple[int, int], float] = {}
    for start in range(0, len(vectors), 50_000):
        pairs_within(labels[start : start + 50_000], *index.search(vectors[start : start + 50_000]), BOUND, into=found)
    t_all = time.perf_counter() - t3
    with tempfile.TemporaryDirectory() as tmp:
        size = index.save(Path(tmp) / "faces.hnsw")
    extra = len(set(found) - set(truth))
    print(
        f"{label}: {len(vectors):,} faces | build {t_first + t_add:.1f} s "
        f"(first 90% {t_first:.1f} s, last 10% added {t_add:.1f} s) | "
        f"whole-base search {t_all:.1f} s ({len(vectors) / t_all:,.0f} faces/s) | "
        f"recall {recall(found, truth)} (+{extra} not in the truth) | "
        f"new 10% searched alone (efSearch {max(efs, fv.EF_SEARCH_NEW)}) {t_new:.1f} s, "
        f"recall {recall(new_pairs, new_truth)} | "
        f"file {size / 1e6:.0f} MB | peak RSS {peak_mb():,.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--exact", action="store_true", help="the truth by exact search (quadratic)")
    parser.add_argument("--sweep", action="store_true", help="also other HNSW settings")
    parser.add_argument("--faces-dir", type=Path, default=Path(os.environ.get("REALNAME_FACES_DIR", "../shared/faces")))
    args = parser.parse_args()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(2026)
    t0 = time.perf_counter()
    real = real_features(args.faces_dir)
    print(f"{len(real)} real SFace features measured in {time.perf_counter() - t0:.0f} s", flush=True)
    fake, planted = synthetic(args.faces - len(real), 0.02, rng)
    vectors = np.vstack([fake, real]).astype(np.float32)
    order = rng.permutation(len(vectors))  # real and planted faces arrive anywhere in the base
    vectors = vectors[order]
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    labels = np.arange(1, len(vectors) + 1, dtype=np.int64)

    def relabel(i: int) -> int:
        return int(labels[position[i]])

    truth_planted = {tuple(sorted((relabel(a), relabel(b)))): d for (a, b), d in planted.items()}
    real_labels = labels[position[len(fake) :]]
    real_pairs = exact_pairs(real_labels, vectors[position[len(fake) :]], BOUND)
    truth: dict[tuple[int, int], float] = {**truth_planted, **real_pairs}  # type: ignore[dict-item]
    print(f"pairs within {BOUND}: {len(truth_planted):,} planted, {len(real_pairs)} among the real features")
    if args.exact:
        t = time.perf_counter()
        truth = exact_pairs(labels, vectors, BOUND)
        print(f"exact search: {len(truth):,} pairs within {BOUND} in {time.perf_counter() - t:.0f} s", flush=True)
    settings = [(fv.HNSW_M, fv.EF_CONSTRUCTION, fv.EF_SEARCH, fv.K)]
    if args.sweep:
        settings += [(16, 100, 64, 8), (16, 100, 128, 16), (32, 100, 64, 16), (32, 100, 256, 32)]
    for setting in settings:
        run(vectors, labels, truth, setting)


if __name__ == "__main__":
    main()
