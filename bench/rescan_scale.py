"""Scale figures for the rescan: workers, Dask, the measurement cache, memory.

    .venv/bin/python bench/rescan_scale.py [--faces DIR] [--rejudge 1000000] [--skip-dask]

Prints one block of figures (nothing is asserted; the tests do that):

1. photos per second measuring real photos with 1 and 2 local workers (runs in the
   order 1, 2, Dask, Dask, 2, 1; each figure the mean of its two), and the ratio: from the
   first shard written to the last (a long run's rate) and on the wall (starting
   the worker processes and loading their models included);
2. a Dask LocalCluster of 2 workers against the local pool of 2 on the same base;
3. re-judging a generated base of ``--rejudge`` subscribers from the measurement
   cache (a policy change that only moves thresholds), subscribers per second,
   against the full rescan's subscribers per second;
4. peak RSS of ``realname rescan`` (and of its largest worker process) on generated
   bases of 10,000 and 100,000 subscribers.

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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Shards of 50 subscribers (100 photos) in the speed runs, so that the rate after
# the first shard leaves out starting the workers and loading their models.
SPEED_PAGE = 50
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy.engine import Engine  # noqa: E402
from synthetic_base import measurement_pool, write_base  # noqa: E402

from checks.idcard import check_character  # noqa: E402
from scanner import db  # noqa: E402
from scanner.importer import import_file  # noqa: E402
from scanner.policyfile import load_policy  # noqa: E402
from scanner.scan.rescan import rescan  # noqa: E402


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


@dataclass
class Timed:
    wall: float  # seconds, starting the workers included
    steady: float  # photos per second from the first shard written to the last
    totals: dict


def timed_rescan(csv_path: Path, folder: Path, name: str, **kwargs: object) -> Timed:
    """A rescan of the base, timed by its own progress reports (one per shard)."""
    engine = db.open_engine(f"sqlite:///{folder / (name + '.db')}")
    import_file(engine, csv_path, photo_roots=["/"])  # the photos are the face set's, wherever it is
    marks: list[tuple[float, int]] = []
    started = time.perf_counter()
    run = rescan(
        engine,
        load_policy(),
        page_size=SPEED_PAGE,
        on_progress=lambda p: marks.append((time.perf_counter(), p.photos_done)),
        **kwargs,  # type: ignore[arg-type]
    )
    wall = time.perf_counter() - started
    (t0, done0), (t1, done1) = marks[0], marks[-1]
    return Timed(wall, (done1 - done0) / (t1 - t0), run.totals)


def settle(engine: Engine) -> None:
    """Write the generated base out of SQLite's write-ahead log into the database
    file, as a base that was not written a minute ago would be."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def peak_rss_mb(url: str) -> tuple[float, float]:
    """Peak RSS (MB) of a ``realname rescan`` process and of its largest worker process."""
    code = (
        "import resource, sys\n"
        "from scanner.cli.app import app\n"
        "try:\n"
        f"    app(['rescan', '--database', {url!r}, '--quiet'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(me, kids)\n"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    me, kids = out.stdout.strip().splitlines()[-1].split()
    return int(me) / 1024.0, int(kids) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument(
        "--photos", type=int, default=400, help="distinct real photos for the speed figures (the face set has 401)"
    )
    parser.add_argument("--rejudge", type=int, default=1_000_000, help="subscribers in the re-judge base")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = real_photo_base(work, args.faces, args.photos)
        # The order 1, 2, Dask, Dask, 2, 1 cancels a drift in the machine's speed
        # (a shared virtual machine's varies by 10-20% over minutes); each figure
        # is the mean of its two runs.
        order: list[tuple[str, dict[str, object]]] = [
            ("1", {"workers": 1}),
            ("2", {"workers": 2}),
            ("dask", {"cluster": "local:2"}),
        ]
        if args.skip_dask:
            order.pop()
        runs: dict[str, list[Timed]] = {name: [] for name, _ in order}
        for i, (name, kwargs) in enumerate([*order, *reversed(order)]):
            runs[name].append(timed_rescan(base, work, f"{name}-{i}", **kwargs))
        totals = runs["1"][0].totals
        photos = totals["photos"]
        wall = {name: sum(r.wall for r in rs) / 2 for name, rs in runs.items()}
        steady = {name: sum(r.steady for r in rs) / 2 for name, rs in runs.items()}
        print(f"real photos: {photos} distinct, {totals['subscribers']} subscribers; runs: {', '.join(runs)}, reversed")
        labels = {"1": "1 worker ", "2": "2 workers", "dask": "Dask LocalCluster, 2 workers"}
        for name in runs:
            print(
                f"  {labels[name]}: {wall[name]:6.1f} s wall, {photos / wall[name]:5.2f} photos/s; after the first "
                f"shard {steady[name]:5.2f} photos/s ({', '.join(f'{r.steady:.2f}' for r in runs[name])})"
            )
        print(
            f"  ratio 2/1 workers: {steady['2'] / steady['1']:.2f} after the first shard, "
            f"{wall['1'] / wall['2']:.2f} on the wall (starting the workers included)"
        )
        figures.update(
            photos_per_s_1=steady["1"],
            photos_per_s_2=steady["2"],
            ratio_2_over_1=steady["2"] / steady["1"],
            wall_ratio_2_over_1=wall["1"] / wall["2"],
        )
        if "dask" in runs:
            print(
                f"  Dask / local pool of 2: {steady['dask'] / steady['2']:.2f} the photos per second after the "
                f"first shard, {wall['dask'] / wall['2']:.2f}x the wall time"
            )
            figures.update(dask_photos_per_s=steady["dask"], dask_over_pool=steady["dask"] / steady["2"])
        full_subs_per_s = totals["subscribers"] / wall["2"]

        url = f"sqlite:///{work / 'rejudge.db'}"
        pool = measurement_pool(args.faces)
        started = time.perf_counter()
        engine = db.open_engine(url)
        write_base(engine, args.rejudge, pool)
        settle(engine)
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
            engine = db.open_engine(url)
            write_base(engine, n, pool)
            settle(engine)
            driver, worker = peak_rss_mb(url)
            figures[f"rss_mb_{n}"], figures[f"worker_rss_mb_{n}"] = driver, worker
            print(f"peak RSS, rescan of {n:>7,} subscribers: driver {driver:.0f} MB, largest worker {worker:.0f} MB")
        print(f"  ratio 100k / 10k (driver) = {figures['rss_mb_100000'] / figures['rss_mb_10000']:.2f}")  # type: ignore[operator]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
