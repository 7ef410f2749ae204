"""Task functions for executor tests. Imported as a top-level module (its folder
is put on sys.path), so spawned workers and Dask workers can unpickle them."""

from __future__ import annotations

import os
import time
from pathlib import Path


def square(x: int) -> int:
    return x * x


def crash_once(arg: tuple[str, int]) -> int:
    """Kills its worker the first time it sees ``marker`` missing, then succeeds."""
    marker, x = arg
    path = Path(marker)
    if not path.exists():
        path.write_text("crashed", encoding="utf-8")
        os._exit(3)
    return x * x


def crash_on(arg: tuple[int, int]) -> int:
    bad, x = arg
    if x == bad:
        os._exit(11)
    return x * x


def sleep_on(arg: tuple[int, int, float]) -> int:
    slow, x, seconds = arg
    if x == slow:
        time.sleep(seconds)
    return x * x
