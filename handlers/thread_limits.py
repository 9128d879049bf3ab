"""How many threads a kind of blocking work may use at once, per event loop.

One anyio CapacityLimiter shared by event loops that run at the same time in different threads
(several apps in one process, as the tests serve them) can hang: a caller waiting in one loop is
woken from another loop's thread. Each loop here gets a limiter of its own.
"""

from __future__ import annotations

import asyncio
import weakref

import anyio


class ThreadLimit:
    """At most `threads` at once for this kind of work, in whichever event loop asks."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self) -> anyio.CapacityLimiter:
        """The running loop's limiter (call from inside the loop)."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.threads)
        return limiter
