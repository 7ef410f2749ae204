"""Cost of all photo checks against bare face_recognition, photo by photo.

    .venv/bin/python bench/checks_cost.py [--faces DIR] [--repeat N] [--limit N]

For every photo of the face set (decoded once, outside the timing), times:

- bare: ``face_recognition.face_locations`` (HOG, upsample 1, the library's
  default) and ``face_recognition.face_encodings`` (its default 5-point model)
  on the full-resolution image;
- checks: everything this project measures on one photo (``measure_photo``:
  detection, landmarks, descriptor, sharpness, exposure, occlusion) and the
  policy's verdict (``judge_photo``).

Each photo is timed ``--repeat`` times per side, interleaved, and the fastest
time of each side is kept (the least disturbed by other work on the machine).
Prints the ratio checks/bare over all photos and, photo by photo, over the
photos where bare face_recognition finds a face (target at most 1.2), and
bare/checks over photos of 1.5 megapixels and more (target at least 3).

Then the cost per photo against the 40 ms target (median over the photos, on
one core: OpenCV is held to one thread, as in the rescan's workers), with
decoding, and where the time goes: each step's CPU time (``time.thread_time``,
so other work on the machine inflates it less than wall time), median per photo.
The default policy's match model is SFace, so dlib's descriptor is not
measured; its cost is printed beside. Nothing is asserted here.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from checks import face as face_adapter
from checks import photo
from checks.judge import PhotoInput, judge_photo
from checks.photo import measure_photo
from scanner.photos import decode_photo, read_photo
from scanner.policyfile import load_policy

LARGE_PIXELS = 1_500_000
TARGET_MS = 40.0
# The steps of a measurement whose CPU time is recorded, as (module, function name, label).
STEPS = (
    (photo, "find_faces", "detection (YuNet, dlib fallbacks)"),
    (face_adapter, "landmarks", "dlib 5-point landmarks"),
    (face_adapter, "sface_feature", "SFace (YuNet landmarks, align, feature)"),
    (photo, "_measure_clarity", "clarity part"),
    (photo, "_measure_occlusion", "occlusion part"),
    (photo, "_measure_likeness", "likeness part"),
    (photo, "_measure_hands", "hands part (palm detector, hand landmark model)"),
    (face_adapter, "dlib_descriptor", "dlib descriptor (only when the policy asks)"),
)


def _bare_face_recognition() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation inside face_recognition_models
        import face_recognition
    return face_recognition


def _fastest(fn: Any, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=Path(os.environ.get("REALNAME_FACES_DIR", "../shared/faces")))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (0: all)")
    ap.add_argument("--cost-only", action="store_true", help="only the cost per photo, not the comparison")
    args = ap.parse_args()

    cv2.setNumThreads(1)  # one core, as in the rescan's workers
    policy = load_policy().policy
    with open(args.faces / "manifest.csv", newline="", encoding="utf-8") as fh:
        files = [row["file"] for row in csv.DictReader(fh)]
    if args.limit:
        files = files[: args.limit]
    if args.cost_only:
        cost_per_photo(args.faces, files, policy)
        return 0
    fr = _bare_face_recognition()

    def bare(rgb: np.ndarray[Any, Any]) -> int:
        locations = fr.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
        fr.face_encodings(rgb, locations)
        return len(locations)

    def checks(rgb: np.ndarray[Any, Any]) -> int:
        m = measure_photo(rgb)
        judge_photo(PhotoInput(kind="live", measurement=m), policy)
        return m.face_count

    # Load every model before timing.
    warm = decode_photo(read_photo(str(args.faces / files[0])))
    bare(warm)
    checks(warm)

    rows: list[tuple[str, int, float, float, int, int]] = []
    for name in files:
        try:
            rgb = decode_photo(read_photo(str(args.faces / name)))
        except Exception as exc:  # a broken file is skipped, and said so
            print(f"skipped {name}: {exc}", file=sys.stderr)
            continue
        t_bare, n_bare = _fastest(lambda rgb=rgb: bare(rgb), args.repeat)
        t_checks, n_checks = _fastest(lambda rgb=rgb: checks(rgb), args.repeat)
        rows.append((name, rgb.shape[0] * rgb.shape[1], t_bare, t_checks, n_bare, n_checks))

    def block(label: str, subset: list[tuple[str, int, float, float, int, int]]) -> None:
        if not subset:
            print(f"{label}: no photos")
            return
        bare_s = sum(r[2] for r in subset)
        checks_s = sum(r[3] for r in subset)
        per_photo = np.array([r[3] / r[2] for r in subset])
        print(f"{label}: {len(subset)} photos")
        bare_ms = np.median([r[2] for r in subset]) * 1000
        checks_ms = np.median([r[3] for r in subset]) * 1000
        print(f"  bare face_recognition  total {bare_s:8.2f} s  median {bare_ms:7.1f} ms")
        print(f"  all checks             total {checks_s:8.2f} s  median {checks_ms:7.1f} ms")
        print(f"  checks / bare (totals) {checks_s / bare_s:6.3f}")
        print(f"  bare / checks (totals) {bare_s / checks_s:6.3f}")
        print(
            "  checks / bare per photo: median "
            f"{np.median(per_photo):.3f}, p90 {np.percentile(per_photo, 90):.3f}, max {per_photo.max():.3f}"
        )
        print(
            f"  faces found: bare {sum(1 for r in subset if r[4])}, checks {sum(1 for r in subset if r[5])}"
            f" of {len(subset)}"
        )

    print(f"fastest of {args.repeat} runs per photo and side; decode not timed")
    block("all photos", rows)
    # Where bare face_recognition finds no face it skips the encoder, so its time there is
    # detection alone; the like-for-like comparison is on photos where it finds one.
    found = [r for r in rows if r[4]]
    block("photos where bare face_recognition finds a face", found)
    large = [r for r in rows if r[1] >= LARGE_PIXELS]
    block(f"photos of {LARGE_PIXELS / 1e6:.1f} MP and more", large)
    total_bare = sum(r[2] for r in rows)
    total_checks = sum(r[3] for r in rows)
    large_bare = sum(r[2] for r in large)
    large_checks = sum(r[3] for r in large)
    print()
    print(f"RATIO all checks / bare, all photos: {total_checks / total_bare:.3f} (target <= 1.2)")
    if found:
        per_photo = np.median([r[3] / r[2] for r in found])
        print(f"RATIO all checks / bare, median per photo where bare finds a face: {per_photo:.3f} (target <= 1.2)")
    if large:
        print(f"RATIO bare / all checks, >= 1.5 MP: {large_bare / large_checks:.3f} (target >= 3)")
    print()
    cost_per_photo(args.faces, files, policy)
    return 0


def _timed(fn: Any, spent: list[float]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent.append(time.thread_time() - t0)

    return wrapper


def cost_per_photo(faces: Path, files: list[str], policy: Any) -> None:
    """CPU time per photo of decoding and of all checks, and of each step, median over ``files``."""
    spent: dict[str, list[float]] = {label: [] for _m, _n, label in STEPS}
    originals = [(module, name, getattr(module, name)) for module, name, _label in STEPS]
    decode_s: list[float] = []
    checks_s: list[float] = []
    with_dlib_s: list[float] = []
    per_step: dict[str, list[float]] = {label: [] for label in spent}
    try:
        for module, name, label in STEPS:
            setattr(module, name, _timed(getattr(module, name), spent[label]))
        for name in files:
            try:
                data = read_photo(str(faces / name))
                t0 = time.thread_time()
                rgb = decode_photo(data)
                decode_s.append(time.thread_time() - t0)
            except Exception:
                continue
            before = {label: len(v) for label, v in spent.items()}
            t0 = time.thread_time()
            m = measure_photo(rgb)
            judge_photo(PhotoInput(kind="live", measurement=m), policy)
            checks_s.append(time.thread_time() - t0)
            for label, values in spent.items():
                per_step[label].append(sum(values[before[label] :]))
            if m.face_count:
                t0 = time.thread_time()
                measure_photo(rgb, dlib=True)
                with_dlib_s.append(time.thread_time() - t0)
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)
    ms = 1000.0
    print(f"cost per photo, CPU time on one thread, median over {len(checks_s)} photos (target {TARGET_MS:.0f} ms):")
    print(f"  decode                      {np.median(decode_s) * ms:7.1f} ms")
    p90 = np.percentile(checks_s, 90) * ms
    print(f"  all checks (default policy) {np.median(checks_s) * ms:7.1f} ms  p90 {p90:.1f}")
    both = np.array(decode_s) + np.array(checks_s)
    print(f"  decode + all checks         {np.median(both) * ms:7.1f} ms  p90 {np.percentile(both, 90) * ms:.1f}")
    if with_dlib_s:
        print(f"  all checks with dlib's descriptor (faces found) {np.median(with_dlib_s) * ms:7.1f} ms")
    print("  where the time goes (median per photo, steps that ran at least once):")
    for label, values in per_step.items():
        ran = [v for v in values if v > 0.0]
        if ran:
            print(f"    {label:45s} {np.median(values) * ms:7.1f} ms  (ran on {len(ran)} photos)")
    print(f"COST median all checks per photo: {np.median(checks_s) * ms:.1f} ms (target <= {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    sys.exit(main())
