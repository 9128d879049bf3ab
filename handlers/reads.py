"""Where a REST read runs: on the event loop when it is local and bounded, else in a worker thread.

A hop to a worker thread costs about half a millisecond of CPU under load on this stack (measured
on the audit trail: 1,360 vs 520 us a request), more than a small indexed SQLite read itself. SQLite
reads are local and never wait for a lock (WAL), so a bounded one runs inline; PostgreSQL reads
cross the network, and an unbounded read may scan, so those go to a thread and never stall the loop.
Those threads are few: on 2 cores, eight reads at once in eight threads only took turns at the
interpreter (PostgreSQL audit trail under 8 clients: p99 39 ms with the default 40 threads, 12 ms
with 2; a filtered page 59 -> 21-40 ms). A slow read holds one of them; others wait their turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio

from handlers.thread_limits import ThreadLimit
from storage.database import is_postgres

T = TypeVar("T")
_readers = ThreadLimit(2)


async def run_read(read: Callable[[], T], *, bounded: bool) -> T:
    """Run `read` (a database read) on the loop if it is `bounded` and the database is local."""
    if bounded and not is_postgres():
        return read()
    return await anyio.to_thread.run_sync(read, limiter=_readers.limiter())
