"""What the audit trail costs: ``realname audit verify`` on a large base, and the notice queue's
claims and acks per second without and with the audit rows.

    .venv/bin/python bench/audit_verify.py [--subscribers 1000000] [--before 66c7d25] [--notices 10000]

1. Generates a base of ``--subscribers`` subscribers whose photos are already measured
   (``bench/synthetic_base.py``), re-judges it from the measurement cache (2 reading processes,
   pages of 5,000, as ``make bench-scale`` does), runs ``cases advance`` once (a case and a first
   notice for every failing subscriber: an audit row for each history line and each notice), then
   times ``realname audit verify`` in its own process: wall time and peak RSS (``/usr/bin/time``).
2. Runs ``bench/queue_load.py`` (8 consumers, claim 50 -> ack each) on the commit ``--before`` (its
   ``scanner``, ``checks``, ``notices`` and ``bench`` taken with ``git archive``, put first on
   ``PYTHONPATH``) and on the working tree, alternately twice, and prints acks/s of each.

Nothing is asserted: the tests do that. SQLite is a temporary file; PostgreSQL the local server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def build_and_scan(url: str, n: int, faces: Path) -> dict[str, Any]:
    from rescan_scale import settle
    from synthetic_base import measurement_pool, write_base

    from scanner import db
    from scanner.enforce.advance import advance
    from scanner.policyfile import load_policy
    from scanner.scan.rescan import rescan

    figures: dict[str, Any] = {"subscribers": n}
    started = time.perf_counter()
    engine = db.open_engine(url)
    write_base(engine, n, measurement_pool(faces))
    settle(engine)
    figures["generate s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    run = rescan(db.open_engine(url), load_policy(), workers=2, page_size=5000)
    figures["rescan s"] = round(time.perf_counter() - started, 1)
    assert run.totals["unreadable_photos"] == 0 and run.totals["measured_photos"] == 0, run.totals
    started = time.perf_counter()
    summary = advance(db.write_engine_for(url), load_policy().enforcement, run.finished_at or run.started_at)
    figures["cases advance s"] = round(time.perf_counter() - started, 1)
    figures["cases opened"] = summary.opened
    figures["notices queued"] = summary.queued
    db.dispose_engines()
    return figures


def time_verify(url: str) -> dict[str, Any]:
    """``realname audit verify`` in its own process: wall seconds, peak RSS, what it printed."""
    realname = Path(sys.executable).with_name("realname")
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS_KB=%M", str(realname), "audit", "verify", "--database", url],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    rss = re.search(r"MAXRSS_KB=(\d+)", done.stderr)
    return {
        "verify exit": done.returncode,
        "verify s": round(wall, 1),
        "verify peak RSS MB": round(int(rss.group(1)) / 1024) if rss else None,
        "verify said": done.stdout.strip().splitlines(),
    }


def queue_rates(pythonpath: Path | None, script: Path, notices: int) -> dict[str, str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [sys.executable, str(script), "--notices", str(notices)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=str(pythonpath or ROOT),
    )
    rows = {}
    for line in done.stdout.splitlines():
        for name in ("acks/s", "claims/s", "active s", "exactly once"):
            if line.startswith(name + " "):
                rows[name] = " / ".join(line[len(name) :].split())  # sqlite / postgresql
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    parser.add_argument("--before", default="66c7d25", help="The commit before the audit trail.")
    parser.add_argument("--notices", type=int, default=10_000)
    parser.add_argument("--skip-queue", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_verify:
            url = f"sqlite:///{work / 'base.db'}"
            figures.update(build_and_scan(url, args.subscribers, args.faces))
            print(json.dumps(figures), flush=True)
            figures.update(time_verify(url))
            print(json.dumps(figures, ensure_ascii=False), flush=True)
            (work / "base.db").unlink()
        if not args.skip_queue:
            before = work / "before"
            before.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.before, "scanner", "checks", "notices", "bench"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            for round_no in (1, 2):
                for name, path in (("before", before), ("after", None)):
                    script = (path or ROOT) / "bench" / "queue_load.py"
                    rates = queue_rates(path, script, args.notices)
                    figures[f"queue {name} {round_no}"] = rates
                    print(f"queue {name} {round_no} (sqlite / postgresql): {rates}", flush=True)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
