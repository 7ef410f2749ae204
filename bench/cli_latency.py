"""How long a queue command takes from the shell: the SMS system calls ``realname notices claim`` in a loop.

    .venv/bin/python bench/cli_latency.py [--runs N]

Makes a migrated SQLite database with a few due notices in a temporary folder, then runs, as separate
processes, ``realname notices claim``, ``notices stats``, ``cases summary`` and ``--help`` ``--runs``
times each (after one warm-up run), and prints the median and the slowest wall time of each. Then
prints the modules that take longest to import for ``notices claim`` (``python -X importtime``).
Target: a queue command answers in at most 0.5 s. Nothing is asserted here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_load import seed

REALNAME = Path(sys.executable).with_name("realname")
NOW = ["--now", "2026-12-01T10:00:00+08:00"]


def _timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(REALNAME), *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _slowest_imports(args: list[str], env: dict[str, str], top: int = 12) -> list[tuple[float, str]]:
    code = f"import sys; sys.argv = ['realname', *{args!r}]\nfrom scanner.cli.app import main\nmain()"
    done = subprocess.run(
        [sys.executable, "-P", "-X", "importtime", "-c", code], env=env, capture_output=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _self, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            if cumulative.isdigit():
                rows.append((int(cumulative) / 1e6, name))
    # Top-level packages only (no leading spaces in the name column), slowest first.
    firsts = [(t, n) for t, n in rows if not n.startswith(" ")]
    return sorted(firsts, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'latency.db'}"
        seed(url, 20)
        env = {**os.environ, "REALNAME_DATABASE_URL": url}
        commands = {
            "notices claim --n 1": ["notices", "claim", "--n", "1", "--consumer", "bench", *NOW],
            "notices stats": ["notices", "stats", *NOW],
            "cases summary": ["cases", "summary"],
            "--help": ["--help"],
        }
        print(f"{opts.runs} runs each, separate processes, after one warm-up run")
        for label, args in commands.items():
            _timed(args, env)
            times = [_timed(args, env) for _ in range(opts.runs)]
            print(f"  {label:22s} median {statistics.median(times):.3f} s   slowest {max(times):.3f} s")
        print("slowest imports of `notices claim` (cumulative seconds, top-level modules):")
        for seconds, name in _slowest_imports(commands["notices claim --n 1"], env):
            print(f"  {seconds:6.3f}  {name}")


if __name__ == "__main__":
    main()
