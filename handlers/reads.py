"""Where a REST read runs: on the event loop when it is local and bounded, else in a worker thread.

A hop to a worker thread costs more CPU than a small indexed SQLite read itself; SQLite reads are
local and never wait for a lock (WAL), so a bounded one runs inline. PostgreSQL reads cross the
network, and an unbounded read may scan, so those go to a thread and never stall the loop. Those
threads are few: on 2 cores, many reads at once in many threads only take turns at the interpreter.
A slow read holds one of them; others wait their turn. The measurements behind both choices are in
bench/RESULTS.md ("Design choices and their measurements").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from handlers.thread_limits import ThreadLimit
from storage.database import is_postgres

T = TypeVar("T")
_readers = ThreadLimit(2, "reads")


async def run_read(read: Callable[[], T], *, bounded: bool) -> T:
    """Run `read` (a database read) on the loop if it is `bounded` and the database is local."""
    if bounded and not is_postgres():
        return read()
    return await _readers.run(read)
