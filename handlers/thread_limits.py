"""How many threads a kind of blocking work may use at once: a thread pool of its own per kind.

The event loop waits for the pool's future without a thread of its own. A hop this way costs about
30 us of CPU, anyio's `to_thread.run_sync` about 73 (bench/RESULTS.md); and a pool, unlike one anyio
CapacityLimiter shared by event loops running in different threads (several apps in one process, as
the tests serve them), can be waited on from any loop.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class ThreadLimit:
    """At most `threads` at once for this kind of work, started as needed, from whichever loop asks."""

    def __init__(self, threads: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in one of the pool's threads, with the caller's context variables (as anyio
        passes them); a waiting caller that is cancelled leaves the work to finish."""
        call = partial(contextvars.copy_context().run, work, *args)
        return await asyncio.wrap_future(self._pool.submit(call))
