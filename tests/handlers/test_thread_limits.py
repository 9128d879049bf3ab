"""A thread limit holds in each event loop, and loops running at once in different threads do not
hang each other (as one shared anyio limiter does)."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio

from handlers.thread_limits import ThreadLimit


def test_each_loop_keeps_to_the_limit_and_loops_at_once_do_not_hang():
    limit = ThreadLimit(1)
    lock = threading.Lock()
    busy: dict[int, int] = {}
    most: dict[int, int] = {}
    finished: list[int] = []

    def work(loop_number: int) -> None:
        with lock:
            busy[loop_number] = busy.get(loop_number, 0) + 1
            most[loop_number] = max(most.get(loop_number, 0), busy[loop_number])
        time.sleep(0.02)
        with lock:
            busy[loop_number] -= 1

    async def many(loop_number: int) -> None:
        calls = (anyio.to_thread.run_sync(work, loop_number, limiter=limit.limiter()) for _ in range(4))
        await asyncio.gather(*calls)

    def in_own_loop(loop_number: int) -> None:
        asyncio.run(many(loop_number))
        finished.append(loop_number)

    threads = [threading.Thread(target=in_own_loop, args=(n,), daemon=True) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(finished) == [0, 1, 2]
    assert most == {0: 1, 1: 1, 2: 1}
