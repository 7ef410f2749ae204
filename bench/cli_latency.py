"""How long a queue command takes from the shell: the SMS system calls ``realname notices claim`` in a loop.

    .venv/bin/python bench/cli_latency.py [--runs N] [--against OTHER/.venv/bin/realname]

Makes a migrated SQLite database with due notices in a temporary folder, then runs, as separate
processes, the queue commands (``notices claim --n 1``, which hands out one notice each time,
``notices stats``, and ``ack``, ``nack`` and ``receipt`` with one request line each), ``cases summary``
and ``--help``, ``--runs`` times each after one warm-up run, and prints the median and the slowest
wall time of each and the median CPU time (user and system) of the process: the CPU time moves less
when other work shares the machine. Policies validated in full are remembered in a cache folder of the
benchmark's own, which the warm-up run fills; ``claim, policy not validated before`` starts each run
with an empty one (the first command after a policy edit or a new installation). Then prints where
the import time of ``notices claim`` goes, by package (``python -X importtime``).

With ``--against``, each command is also run by another installation's ``realname`` (a checkout of
an earlier commit set up with ``make setup``), alternately with this one, on the same database.
Target: a queue command answers in at most 0.5 s. Nothing is asserted here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_load import seed

REALNAME = Path(sys.executable).with_name("realname")
# Ten in the morning in Shanghai, tomorrow: the send window is open and every notice seeded now is due.
TOMORROW = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(days=1)).replace(hour=10, minute=0)
NOW = ["--now", TOMORROW.isoformat(timespec="minutes")]
NOTICES = 400  # one is claimed per run of `notices claim`

ACK = {"id": 10**9, "token": "bench", "gateway_message_id": "bench-1"}  # no such notice: an error line, exit 1
NACK = {"id": 10**9, "token": "bench", "error": "bench"}
RECEIPT = {"gateway_message_id": "bench-unknown", "stat": "DELIVRD"}  # no such gateway id: "unknown"
COMMANDS: dict[str, tuple[list[str], dict[str, object] | None, int]] = {
    "notices claim --n 1": (["notices", "claim", "--n", "1", "--consumer", "bench", *NOW], None, 0),
    "notices stats": (["notices", "stats", *NOW], None, 0),
    "notices ack": (["notices", "ack", *NOW], ACK, 1),
    "notices nack": (["notices", "nack", *NOW], NACK, 1),
    "notices receipt": (["notices", "receipt", *NOW], RECEIPT, 0),
    "cases summary": (["cases", "summary"], None, 0),
    "--help": (["--help"], None, 0),
}


def _timed(
    program: Path, args: list[str], request: dict[str, object] | None, code: int, env: dict[str, str]
) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    line = (json.dumps(request) + "\n").encode() if request else b""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(program), *args], env=env, input=line, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != code:
        raise SystemExit(f"{program} {' '.join(args)}: exit {done.returncode}\n{done.stderr.decode()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _summary(times: list[tuple[float, float]]) -> str:
    walls = [wall for wall, _ in times]
    cpu = statistics.median(c for _, c in times)
    return f"median {statistics.median(walls):.3f} s  slowest {max(walls):.3f} s  cpu {cpu:.3f} s"


def _slowest_imports(args: list[str], env: dict[str, str], top: int = 10) -> list[tuple[float, str]]:
    """Import time by package (each module's own time, added up by its top-level package; the
    standard library's modules together), slowest first, after the total."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(REALNAME), *args], env=env, capture_output=True, text=True
    )
    by_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            own, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            if own.isdigit():
                package = name.split(".")[0]
                if package in sys.stdlib_module_names or package.startswith("_sysconfigdata"):
                    package = "(standard library)"
                by_package[package] = by_package.get(package, 0.0) + int(own) / 1e6
    ranked = sorted(((t, n) for n, t in by_package.items()), reverse=True)
    return [(sum(by_package.values()), "(all imports)"), *ranked[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--against", type=Path, help="another installation's realname, run alternately")
    opts = parser.parse_args()
    programs = {"this": REALNAME, **({"other": opts.against} if opts.against else {})}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'latency.db'}"
        seed(url, NOTICES)
        env = {**os.environ, "REALNAME_DATABASE_URL": url, "REALNAME_CACHE_DIR": str(Path(folder) / "cache")}
        print(f"{opts.runs} runs each, separate processes, after one warm-up run; load {os.getloadavg()[0]:.1f}")
        for label, (args, request, code) in COMMANDS.items():
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in programs}
            for program in programs.values():
                _timed(program, args, request, code, env)
            for _ in range(opts.runs):
                for name, program in programs.items():
                    times[name].append(_timed(program, args, request, code, env))
            for name, measured in times.items():
                print(f"  {label:34s} {name + ': ' if opts.against else ''}{_summary(measured)}")
        args, request, code = COMMANDS["notices claim --n 1"]
        cold: dict[str, list[tuple[float, float]]] = {name: [] for name in programs}
        for run in range(opts.runs):
            for name, program in programs.items():
                fresh = {**env, "REALNAME_CACHE_DIR": str(Path(folder) / f"cold-{name}-{run}")}
                cold[name].append(_timed(program, args, request, code, fresh))
        for name, measured in cold.items():
            label = "claim, policy not validated before"
            print(f"  {label:34s} {name + ': ' if opts.against else ''}{_summary(measured)}")
        print(f"load {os.getloadavg()[0]:.1f}")
        print("imports of `notices claim` (seconds, python -X importtime), by package:")
        for seconds, name in _slowest_imports(COMMANDS["notices claim --n 1"][0], env):
            print(f"  {seconds:6.3f}  {name}")


if __name__ == "__main__":
    main()
