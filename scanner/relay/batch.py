"""Calls that arrive one at a time leave in batches: while one batch is with the database, the next
gathers. The relay acknowledges notices and applies delivery reports this way (``ack_many``,
``receipt_many``: one transaction and one audit append for many), so a busy relay makes few
transactions and an idle one answers each call at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """``await batcher.submit(item)`` gives ``item``'s answer from ``call``, which takes a list of at
    most ``most`` items and answers each, in order."""

    def __init__(self, call: Callable[[list[In]], Awaitable[Sequence[Out]]], most: int = 200) -> None:
        self.call = call
        self.most = most
        self.batches = 0  # how many calls were made, for the status line and the tests
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
                self.batches += 1
                try:
                    answers = await self.call([item for item, _ in batch])
                    if len(answers) != len(batch):
                        raise RuntimeError(f"{len(answers)} answers for {len(batch)} items")
                except Exception as exc:  # every caller of this batch gets the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._draining = None
