"""A thread limit holds across event loops running at once in different threads (which one shared
anyio limiter does not survive: it hangs), and the work sees the caller's context variables."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from handlers.thread_limits import ThreadLimit
from tests.conftest import eventually

caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="nobody")


def test_loops_at_once_keep_to_the_limit_together_and_do_not_hang():
    limit = ThreadLimit(2, "test-limit")
    lock = threading.Lock()
    gate = threading.Event()  # the work waits here until the test has seen the pool full
    busy = most = 0
    finished: list[int] = []

    def work() -> None:
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
        gate.wait(10)
        with lock:
            busy -= 1

    async def many() -> None:
        await asyncio.gather(*(limit.run(work) for _ in range(4)))

    def in_own_loop(loop_number: int) -> None:
        asyncio.run(many())
        finished.append(loop_number)

    threads = [threading.Thread(target=in_own_loop, args=(n,), daemon=True) for n in range(3)]
    for thread in threads:
        thread.start()
    eventually(lambda: busy == 2)
    gate.set()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(finished) == [0, 1, 2]
    assert most == 2


def test_the_work_runs_with_the_callers_context_variables():
    limit = ThreadLimit(1, "test-context")

    async def ask() -> str:
        caller.set("U0ME")
        return await limit.run(caller.get)

    assert asyncio.run(ask()) == "U0ME"
