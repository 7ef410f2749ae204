"""The Dask executor on a LocalCluster: the same results as the local pool, and lost tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import executor_tasks as tasks
import pytest

from scanner.scan.executors import DaskExecutor, LocalPool, make_executor
from scanner.scan.measuretask import PhotoTask, measure_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    ex = make_executor(None, "local:2")
    assert isinstance(ex, DaskExecutor) and ex.workers == 2
    with ex:
        yield ex


def lost(item: object, reason: str) -> str:
    return f"lost {item}: {reason}"


@pytest.mark.faces
def test_photos_measured_on_the_cluster_match_the_local_pool(cluster: DaskExecutor, faces_dir: Path) -> None:
    files = sorted((faces_dir / "identities").glob("*/*.jpg"))[:5]
    items = [PhotoTask(i, str(f)) for i, f in enumerate(files)]
    with LocalPool(1) as local:
        expected = list(local.map(measure_task, items))
    on_cluster = sorted(cluster.run(measure_task, items, timeout=120, on_lost=lost), key=lambda o: o.photo_id)
    assert [o.measurement for o in on_cluster] == [o.measurement for o in expected]
    assert [o.sha256 for o in on_cluster] == [o.sha256 for o in expected]
    assert [o.photo_id for o in cluster.map(measure_task, items)] == list(range(5))


def test_a_task_that_kills_its_dask_worker_is_lost_and_the_rest_complete(cluster: DaskExecutor) -> None:
    results = list(cluster.run(tasks.crash_on, [(3, x) for x in range(6)], timeout=60, on_lost=lost))
    lost_ones = [r for r in results if isinstance(r, str)]
    assert len(results) == 6 and len(lost_ones) == 1 and "crashed twice" in lost_ones[0]
    assert sorted(r for r in results if isinstance(r, int)) == [0, 1, 4, 16, 25]


def test_tasks_slower_than_the_poll_interval_are_waited_for(cluster: DaskExecutor) -> None:
    # Nothing finishes within the executor's 1 s poll: it must keep waiting, not fail.
    results = list(cluster.run(tasks.sleep_on, [(x, x, 2.5) for x in range(2)], timeout=60, on_lost=lost))
    assert sorted(results) == [0, 1]  # type: ignore[type-var]
