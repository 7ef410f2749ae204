"""Where photo measurements run: this process, a local process pool, or a Dask cluster.

Every executor offers ``map`` (ordered results, for calibration) and ``run``
(results in completion order, for the rescan). In ``run`` a task is *lost*
when its worker dies (a crash in a native library, the OOM killer) or when it
takes longer than ``timeout`` seconds; a lost task is retried once, and if it
is lost again ``on_lost(task, reason)`` stands in for its result. Only the
task that was running in the dead or stopped worker is charged. Task
functions catch their own errors, so an ordinary exception never reaches
here.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_ATTEMPTS = 2  # a lost task is retried once


class Executor(Protocol):
    workers: int

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], *, timeout: float | None, on_lost: Callable[[T, str], R]
    ) -> Iterator[R]: ...

    def close(self) -> None: ...


class _Closing:
    def close(self) -> None:
        return None

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess(_Closing):
    """Runs everything in the calling process (one worker). It cannot stop a
    task that hangs or survive one that crashes the interpreter: library and
    test use only."""

    workers = 1

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return map(fn, items)

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], *, timeout: float | None, on_lost: Callable[[T, str], R]
    ) -> Iterator[R]:
        return map(fn, items)


def _reason(kind: str, detail: str, timeout: float | None) -> str:
    if kind == "timeout":
        return f"timed out twice (over {timeout:g} s each)"
    return f"the worker crashed twice while measuring it ({detail})"


# Native libraries in the checks (YuNet's OpenMP, OpenCV, BLAS) start a thread
# per core in every process; with one worker process per core those threads
# fight over the cores (2 workers on 2 cores measured 0.93x the photos per second
# of 1). One thread each lets the processes scale. (Dask's nanny already starts
# its workers this way: distributed.nanny.pre-spawn-environ.)
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def single_threaded_worker() -> None:
    """Worker initializer: runs before the task modules (and their native libraries)
    are imported, and loads the checks' models while the driver reads its first page."""
    for key, value in SINGLE_THREADED.items():
        os.environ.setdefault(key, value)
    import cv2

    cv2.setNumThreads(1)
    from checks.face import load_models

    load_models()


class LocalPool(_Closing):
    """Worker processes on this machine (pebble): a task that hangs past its
    timeout has its worker stopped and replaced; a worker that dies is replaced."""

    def __init__(self, workers: int) -> None:
        from pebble import ProcessPool

        self.workers = workers
        # spawn: workers start clean, without the parent's database connections.
        self._pool = ProcessPool(
            max_workers=workers, context=multiprocessing.get_context("spawn"), initializer=single_threaded_worker
        )

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        futures = deque(self._pool.schedule(fn, args=[item]) for item in items)
        while futures:
            yield futures.popleft().result()

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], *, timeout: float | None, on_lost: Callable[[T, str], R]
    ) -> Iterator[R]:
        from pebble import ProcessExpired

        source = iter(items)
        in_flight: dict[Any, tuple[T, int]] = {}  # future -> (item, attempt)
        limit = 4 * self.workers

        def fill() -> None:
            for item in itertools.islice(source, max(0, limit - len(in_flight))):
                in_flight[self._pool.schedule(fn, args=[item], timeout=timeout)] = (item, 1)

        fill()
        while in_flight:
            future = _first_done(list(in_flight))
            item, attempt = in_flight.pop(future)
            try:
                yield future.result()
            except FutureTimeout:
                yield from self._retry_or_lose(fn, item, attempt, "timeout", "", timeout, on_lost, in_flight)
            except ProcessExpired as exc:
                detail = f"exit code {exc.exitcode}"
                yield from self._retry_or_lose(fn, item, attempt, "crash", detail, timeout, on_lost, in_flight)
            fill()

    def _retry_or_lose(
        self,
        fn: Callable[[T], R],
        item: T,
        attempt: int,
        kind: str,
        detail: str,
        timeout: float | None,
        on_lost: Callable[[T, str], R],
        in_flight: dict[Any, tuple[T, int]],
    ) -> Iterator[R]:
        if attempt >= MAX_ATTEMPTS:
            yield on_lost(item, _reason(kind, detail, timeout))
        else:
            in_flight[self._pool.schedule(fn, args=[item], timeout=timeout)] = (item, attempt + 1)

    def close(self) -> None:
        self._pool.close()
        self._pool.join()


def _first_done(futures: list[Any]) -> Any:
    from concurrent.futures import FIRST_COMPLETED, wait

    done, _ = wait(futures, return_when=FIRST_COMPLETED)
    return next(iter(done))


class DaskExecutor(_Closing):
    """Tasks on a Dask distributed cluster. Workers read photos through their
    path or fsspec URL; only task descriptions and measurements travel.

    A worker that dies while running a task makes the scheduler retry it on
    another worker until ``distributed.scheduler.allowed-failures`` is
    exceeded (1 for the LocalCluster started here, so: retried once), then
    the task is lost. A task still unfinished ``timeout`` seconds after it
    started running is cancelled and resubmitted once, then lost; Dask cannot
    stop a running task, so the worker thread stays busy until the call returns.
    """

    def __init__(self, address: str | None = None, local_workers: int | None = None) -> None:
        import dask
        from distributed import Client, LocalCluster

        self._cluster = None
        if local_workers is not None:
            # A worker holds only the task it runs (saturation 1.0), so a crash
            # charges that task alone; allowed-failures 1: retried once.
            settings = {
                "distributed.scheduler.allowed-failures": 1,
                "distributed.scheduler.worker-saturation": 1.0,
            }
            with dask.config.set(settings):
                self._cluster = LocalCluster(
                    n_workers=local_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,
                )
            self._client = Client(self._cluster)
        else:
            self._client = Client(address, timeout=30)
        from scanner.scan.daskplugin import SingleThreadedChecks

        self._client.register_plugin(SingleThreadedChecks())
        threads = sum(self._client.nthreads().values())
        self.workers = max(1, threads)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        futures = [self._client.submit(fn, item, pure=False) for item in items]
        for future in futures:
            yield future.result()

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], *, timeout: float | None, on_lost: Callable[[T, str], R]
    ) -> Iterator[R]:
        from distributed import KilledWorker, wait

        source = iter(items)
        in_flight: dict[Any, tuple[T, int, float]] = {}  # future -> (item, attempt, submitted at)
        limit = 4 * self.workers

        def submit(item: T, attempt: int) -> None:
            in_flight[self._client.submit(fn, item, pure=False)] = (item, attempt, time.monotonic())

        def fill() -> None:
            for item in itertools.islice(source, max(0, limit - len(in_flight))):
                submit(item, 1)

        fill()
        while in_flight:
            try:
                done = wait(list(in_flight), timeout=1.0, return_when="FIRST_COMPLETED").done
            except TimeoutError:  # nothing finished within the second: look at the allowances, wait again
                done = set()
            for future in done:
                item, attempt, _ = in_flight.pop(future)
                try:
                    yield future.result()
                except KilledWorker as exc:
                    yield on_lost(item, _reason("crash", f"Dask: {exc}", timeout))
            if timeout is not None:
                # Queued tasks wait for a free worker: the allowance is one timeout per
                # round of tasks ahead of this one, plus its own.
                rounds = 1 + len(in_flight) / max(1, self.workers)
                now = time.monotonic()
                for future, (item, attempt, at) in list(in_flight.items()):
                    if now - at > timeout * rounds:
                        del in_flight[future]
                        future.cancel()
                        if attempt >= MAX_ATTEMPTS:
                            yield on_lost(item, _reason("timeout", "", timeout))
                        else:
                            submit(item, attempt + 1)
            fill()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def parse_cluster(value: str) -> tuple[str, int | str]:
    """``local:N`` -> ("local", N); ``tcp://HOST:PORT`` or ``tls://...`` -> ("address", value)."""
    if value.startswith("local:"):
        count = value.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--cluster {value!r}: local:N needs a worker count of at least 1, e.g. local:4")
        return "local", int(count)
    if value.startswith(("tcp://", "tls://")) and len(value) > len("tcp://"):
        return "address", value
    raise ValueError(f"--cluster {value!r}: expected tcp://HOST:PORT (a Dask scheduler) or local:N")


def make_executor(workers: int | None, cluster: str | None = None) -> Executor:
    if cluster is not None:
        if workers is not None:
            raise ValueError("--workers and --cluster cannot be combined (a cluster has its own workers)")
        kind, value = parse_cluster(cluster)
        if kind == "local":
            return DaskExecutor(local_workers=int(value))
        return DaskExecutor(address=str(value))
    n = default_workers() if workers is None else workers
    if n < 1:
        raise ValueError("workers must be at least 1")
    return LocalPool(n)
