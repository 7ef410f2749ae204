"""Time and peak RSS of ``realname report`` as csv, json and html on generated bases.

    make bench-report        # = .venv/bin/python bench/report_scale.py --sizes 100000 1000000

For each size: a base generated as for the scale benchmark (``bench/synthetic_base.py``: every photo
already measured), re-judged from the measurement cache twice (2 workers, pages of 5,000: the report
shows the change since the run before), its failing
subscribers' cases opened and their first notices queued by ``cases advance``, and those notices
answered in bulk (four in five delivered, written straight to the notice table: the gateway is not
what is measured). Then each format is written to a file by a fresh ``realname report`` process;
its wall time, its peak RSS and the file's size are printed, one JSON line per size at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import text  # noqa: E402
from synthetic_base import measurement_pool, write_base  # noqa: E402

from scanner import db  # noqa: E402
from scanner.policyfile import load_policy  # noqa: E402
from scanner.scan.rescan import rescan  # noqa: E402

FORMATS = ("csv", "json", "html")


def measured(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``realname`` command. It is started by a small process
    of its own: a process forked from this one would count this one's memory as its own peak."""
    code = (
        "import os, subprocess, sys, time\n"
        "started = time.perf_counter()\n"
        "child = subprocess.Popen(sys.argv[1:])\n"
        "_, status, usage = os.wait4(child.pid, 0)\n"
        "print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))\n"
    )
    realname = str(ROOT / ".venv" / "bin" / "realname")
    out = subprocess.run([sys.executable, "-c", code, realname, *args], capture_output=True, text=True, check=True)
    took, rss, exit_code = out.stdout.split()
    if exit_code != "0":
        raise RuntimeError(f"realname {' '.join(args)} ended with {exit_code}: {out.stderr}")
    return float(took), int(rss) / 1024.0


def prepare(url: str, n: int, pool: list[dict[str, object]]) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    engine = db.open_engine(url)
    with engine.connect() as conn:
        generated = conn.exec_driver_sql("SELECT count(*) FROM subscriber").scalar()
    if generated == 0:
        write_base(engine, n, pool)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        timings["generate_s"] = time.perf_counter() - started
    elif generated != n:
        raise SystemExit(f"{url} holds {generated} subscribers, not {n}: remove it first")
    started = time.perf_counter()
    run = rescan(db.open_engine(url), load_policy(), workers=2, page_size=5000)
    assert run.totals["unreadable_photos"] == 0 and run.totals["measured_photos"] == 0, run.totals
    timings["rejudge_s"] = time.perf_counter() - started
    rescan(db.open_engine(url), load_policy(), workers=2, page_size=5000)  # the run before the one reported
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "realname"), "cases", "advance", "--now", "2026-12-07T10:00", "--database", url],
        check=True,
        capture_output=True,
    )
    timings["advance_s"] = time.perf_counter() - started
    with db.open_engine(url).begin() as conn:
        conn.execute(
            text(
                "UPDATE notice SET status = CASE WHEN id % 5 = 0 THEN 'undelivered' ELSE 'delivered' END, "
                "receipt_stat = CASE WHEN id % 5 = 0 THEN 'UNDELIV' ELSE 'DELIVRD' END, "
                "gateway_message_id = 'gw' || id, submitted_at = not_before, final_at = not_before "
                "WHERE status = 'queued'"
            )
        )
    timings["verdicts"] = run.totals["verdicts"]  # type: ignore[assignment]
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the bases here (default: a temporary folder); a base already generated there is used again",
    )
    args = parser.parse_args()
    pool = measurement_pool(args.faces)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            url = f"sqlite:///{work / f'report{n}.db'}"
            figures: dict[str, object] = {"subscribers": n, **prepare(url, n, pool)}
            print(f"{n:,} subscribers: {figures}", flush=True)
            for fmt in FORMATS:
                out = work / f"report{n}.{fmt}"
                took, rss = measured(["report", "--format", fmt, "--output", str(out), "--database", url])
                size = out.stat().st_size / 1e6
                figures[fmt] = {"seconds": round(took, 1), "peak_rss_mb": round(rss), "file_mb": round(size, 2)}
                print(f"  --format {fmt:4}: {took:6.1f} s, peak RSS {rss:5.0f} MB, file {size:8.2f} MB", flush=True)
                out.unlink()
            print(json.dumps(figures), flush=True)
            if args.workdir is None:
                Path(work / f"report{n}.db").unlink()


if __name__ == "__main__":
    main()
