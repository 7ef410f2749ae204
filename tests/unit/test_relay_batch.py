"""The relay's batcher: calls made one at a time leave in batches while the previous batch is out."""

from __future__ import annotations

import asyncio

import pytest

from scanner.relay.batch import Batcher


def test_items_gather_while_a_batch_is_out_and_each_gets_its_own_answer() -> None:
    calls: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0.05)
        return [2 * i for i in items]

    async def scenario() -> list[int]:
        batcher: Batcher[int, int] = Batcher(double, most=4)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0)  # the first call leaves alone
        rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 10)]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(scenario()) == [2 * i for i in range(10)]
    assert calls == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]


def test_a_failed_call_fails_every_caller_of_that_batch_and_the_next_batch_goes_on() -> None:
    async def flaky(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        if 1 in items:
            raise ConnectionError("database away")
        if 9 in items:
            return []  # a call that answers the wrong number of items
        return items

    async def scenario() -> list[object]:
        batcher: Batcher[int, int] = Batcher(flaky)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0)
        second = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.05)
        third = asyncio.create_task(batcher.submit(3))
        await asyncio.sleep(0.05)
        fourth = asyncio.create_task(batcher.submit(9))
        return list(await asyncio.gather(first, *second, third, fourth, return_exceptions=True))

    first, one, two, three, nine = asyncio.run(scenario())
    assert first == 0 and three == 3
    assert isinstance(one, ConnectionError) and isinstance(two, ConnectionError)
    assert isinstance(nine, RuntimeError) and "0 answers for 1 items" in str(nine)


def test_an_idle_batcher_answers_a_lone_call_at_once() -> None:
    async def echo(items: list[str]) -> list[str]:
        return items

    async def scenario() -> tuple[str, int]:
        batcher: Batcher[str, str] = Batcher(echo)
        answer = await asyncio.wait_for(batcher.submit("x"), 1)
        return answer, batcher.batches

    assert asyncio.run(scenario()) == ("x", 1)


@pytest.mark.parametrize("n", [1, 7, 250])
def test_order_is_kept_whatever_the_sizes(n: int) -> None:
    async def echo(items: list[int]) -> list[int]:
        await asyncio.sleep(0)
        return items

    async def scenario() -> list[int]:
        batcher: Batcher[int, int] = Batcher(echo, most=50)
        return await asyncio.gather(*(batcher.submit(i) for i in range(n)))

    assert asyncio.run(scenario()) == list(range(n))
