"""Scale figures for the rescan: workers, Dask, the measurement cache, memory.

    .venv/bin/python bench/rescan_scale.py [--faces DIR] [--rejudge 1000000] [--skip-dask]

Prints one block of figures (nothing is asserted; the tests do that):

1. photos per second measuring real photos with 1 and 2 local workers, and the ratio;
2. a Dask LocalCluster of 2 workers against the local pool of 2 on the same base;
3. re-judging a generated base of ``--rejudge`` subscribers from the measurement
   cache (a policy change that only moves thresholds), subscribers per second,
   against the full rescan's subscribers per second;
4. the driver's peak RSS rescanning 10,000 and 100,000 subscribers.

Run it on a quiet machine: the figures are ratios measured in one run.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from synthetic_base import measurement_pool, write_base  # noqa: E402

from checks.idcard import check_character  # noqa: E402
from scanner import db  # noqa: E402
from scanner.importer import import_file  # noqa: E402
from scanner.policyfile import load_policy  # noqa: E402
from scanner.rescan import rescan  # noqa: E402


def real_photo_base(folder: Path, faces: Path, photos: int) -> Path:
    """Subscribers whose two photos are distinct real photos of the face set (no file shared)."""
    with (faces / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        files = sorted(r["file"] for r in csv.DictReader(fh))
    files = files[: photos - photos % 2]
    rows = ["account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo"]
    for i in range(len(files) // 2):
        body = f"4201021980{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
        rows.append(
            f"A{i:05d},139{i:08d},测试,{body + check_character(body)},长期,2015-03-02,consumer,"
            f"{faces / files[2 * i]},{faces / files[2 * i + 1]},"
        )
    path = folder / "real.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def timed_rescan(csv_path: Path, folder: Path, name: str, **kwargs: object) -> tuple[float, dict]:
    engine = db.open_engine(f"sqlite:///{folder / (name + '.db')}")
    import_file(engine, csv_path)
    started = time.perf_counter()
    run = rescan(engine, load_policy(), **kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - started, run.totals


def peak_rss_mb(url: str) -> float:
    code = (
        "import resource, sys\n"
        "from scanner.cli import app\n"
        "try:\n"
        f"    app(['rescan', '--database', {url!r}, '--workers', '1', '--quiet'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--photos", type=int, default=300, help="distinct real photos for the speed figures")
    parser.add_argument("--rejudge", type=int, default=1_000_000, help="subscribers in the re-judge base")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = real_photo_base(work, args.faces, args.photos)
        one, t1 = timed_rescan(base, work, "w1", workers=1)
        two, t2 = timed_rescan(base, work, "w2", workers=2)
        photos = t1["photos"]
        print(f"real photos: {photos} distinct, {t1['subscribers']} subscribers")
        print(f"  1 worker : {one:6.1f} s wall, {photos / one:5.2f} photos/s")
        print(f"  2 workers: {two:6.1f} s wall, {photos / two:5.2f} photos/s   ratio 2/1 = {one / two:.2f}")
        figures.update(photos_per_s_1=photos / one, photos_per_s_2=photos / two, ratio_2_over_1=one / two)
        if not args.skip_dask:
            dask, _ = timed_rescan(base, work, "dask", cluster="local:2")
            print(
                f"  Dask LocalCluster 2 workers: {dask:6.1f} s wall, {photos / dask:5.2f} photos/s   "
                f"local pool / Dask = {dask / two:.2f}x the time"
            )
            figures.update(dask_photos_per_s=photos / dask, dask_time_over_pool=dask / two)
        full_subs_per_s = t2["subscribers"] / two

        url = f"sqlite:///{work / 'rejudge.db'}"
        pool = measurement_pool(args.faces)
        started = time.perf_counter()
        write_base(db.open_engine(url), args.rejudge, pool)
        print(f"generated {args.rejudge} subscribers with cached measurements in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        run = rescan(db.open_engine(url), load_policy(), workers=2, page_size=5000)
        took = time.perf_counter() - started
        totals = run.totals
        assert totals["unreadable_photos"] == 0 and totals["measured_photos"] == 0, totals
        rate = totals["subscribers"] / took
        print(
            f"re-judge from the cache: {totals['subscribers']} subscribers in {took:.1f} s = {rate:,.0f}/s "
            f"(full rescan with 2 workers: {full_subs_per_s:.2f}/s; ratio {rate / full_subs_per_s:,.0f})"
        )
        figures.update(rejudge_seconds=took, rejudge_per_s=rate, rejudge_over_full=rate / full_subs_per_s)

        for n in (10_000, 100_000):
            url = f"sqlite:///{work / f'rss{n}.db'}"
            write_base(db.open_engine(url), n, pool)
            figures[f"rss_mb_{n}"] = rss = peak_rss_mb(url)
            print(f"peak RSS of the driver, rescan of {n:>7,} subscribers: {rss:.0f} MB")
        print(f"  ratio 100k / 10k = {figures['rss_mb_100000'] / figures['rss_mb_10000']:.2f}")  # type: ignore[operator]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
