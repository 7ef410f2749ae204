"""Executors: ordered map, completion-order run, and lost tasks (crashes, hangs) retried once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import executor_tasks as tasks
import pytest

from scanner.scan.executors import InProcess, LocalPool, make_executor, parse_cluster


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalPool]:
    with LocalPool(2) as p:
        yield p


def lost(item: object, reason: str) -> str:
    return f"lost {item}: {reason}"


def test_map_keeps_order_and_run_returns_every_result_once(pool: LocalPool) -> None:
    assert list(pool.map(tasks.square, range(20))) == [x * x for x in range(20)]
    assert sorted(pool.run(tasks.square, range(50), timeout=30, on_lost=lost)) == sorted(x * x for x in range(50))
    assert list(InProcess().run(tasks.square, range(5), timeout=None, on_lost=lost)) == [0, 1, 4, 9, 16]


def test_a_task_that_crashes_its_worker_once_succeeds_on_the_retry(pool: LocalPool, tmp_path: Path) -> None:
    marker = str(tmp_path / "crashed")
    results = list(pool.run(tasks.crash_once, [(marker, 7)], timeout=30, on_lost=lost))
    assert results == [49]
    assert Path(marker).exists()  # it did crash once


def test_a_task_that_always_crashes_is_lost_and_the_others_complete(pool: LocalPool) -> None:
    results = list(pool.run(tasks.crash_on, [(5, x) for x in range(12)], timeout=30, on_lost=lost))
    lost_ones = [r for r in results if isinstance(r, str)]
    assert len(results) == 12 and len(lost_ones) == 1
    assert "crashed twice" in lost_ones[0] and "exit code 11" in lost_ones[0] and "(5, 5)" in lost_ones[0]
    assert sorted(r for r in results if isinstance(r, int)) == sorted(x * x for x in range(12) if x != 5)


def test_a_task_that_hangs_is_stopped_retried_once_and_lost(pool: LocalPool) -> None:
    results = list(pool.run(tasks.sleep_on, [(2, x, 60.0) for x in range(4)], timeout=1.0, on_lost=lost))
    lost_ones = [r for r in results if isinstance(r, str)]
    assert lost_ones == ["lost (2, 2, 60.0): timed out twice (over 1 s each)"]
    assert sorted(r for r in results if isinstance(r, int)) == [0, 1, 9]


def test_run_pulls_items_lazily(pool: LocalPool) -> None:
    pulled = []

    def items() -> Iterator[int]:
        for x in range(10_000):
            pulled.append(x)
            yield x

    results = pool.run(tasks.square, items(), timeout=30, on_lost=lost)
    first = next(results)
    assert first in {x * x for x in range(8)}
    assert len(pulled) <= 4 * pool.workers + 1  # bounded in flight, not the whole iterator
    assert sum(1 for _ in results) == 9_999


def test_cluster_arguments_are_checked() -> None:
    assert parse_cluster("local:3") == ("local", 3)
    assert parse_cluster("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "http://x:8786", "tcp://"):
        with pytest.raises(ValueError, match="--cluster"):
            parse_cluster(bad)
    with pytest.raises(ValueError, match="cannot be combined"):
        make_executor(2, "local:2")
