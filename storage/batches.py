"""One thread working through whatever has queued up, a batch at a time: the mechanism behind group
commit (engine/decision_queue.py for deliveries, storage/group_commit.py for run stages)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")


_STOP = object()  # queued by stop(): the thread ends when it comes to it


class BatchWorker(Generic[Item]):
    """Items put from any thread are handed to `process` in arrival order, in batches of what
    arrived while the previous batch was processed, up to `max_size` (measured by `size`)."""

    def __init__(
        self,
        name: str,
        process: Callable[[list[Item]], None],
        *,
        max_size: int,
        size: Callable[[Item], int] = lambda item: 1,
    ) -> None:
        self.name = name
        self._process = process
        self._max_size = max_size
        self._size = size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def put(self, item: Item) -> None:
        with self._start_lock:  # started on first use: an unused worker costs no thread
            if self._thread is None:
                self._queue = queue.SimpleQueue()  # its own: a stopping thread keeps the old one
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name=self.name)
                self._thread.daemon = True
                self._thread.start()
            self._queue.put(item)

    def stop(self, timeout: float | None = None) -> None:
        """Let the thread process what was put before, then end (a later `put` starts another)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(_STOP)
        thread.join(timeout)

    def _run(self, items: queue.SimpleQueue[Any]) -> None:
        while True:
            first = items.get()
            if first is _STOP:
                return
            batch = [first]
            size = self._size(first)
            stopping = False
            while size < self._max_size:
                try:
                    item = items.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                size += self._size(item)
            try:
                self._process(batch)  # answers its callers itself, errors included
            except Exception:
                log.exception("%s: a batch failed unexpectedly; its callers get no answer", self.name)
            if stopping:
                return
