"""The Dask worker plugin of the rescan (imported only when a cluster is used).

Every Dask worker, including one restarted after a crash, runs OpenCV on one
thread and loads the checks' models at start, as the local pool's workers do:
with one worker process per core, OpenCV's own thread pool in each of them made
2 Dask workers on 2 cores measure 0.73x the photos per second of 2 pool workers.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from scanner.scan.executors import single_threaded_worker


class SingleThreadedChecks(WorkerPlugin):
    name = "realname-single-threaded-checks"

    def setup(self, worker: Any) -> None:
        single_threaded_worker()
