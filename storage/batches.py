"""One thread working through whatever has queued up, a batch at a time: the mechanism behind group
commit (engine/decision_queue.py for deliveries, storage/group_commit.py for run stages)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")


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
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def put(self, item: Item) -> None:
        with self._start_lock:  # started on first use: an unused worker costs no thread
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._queue.put(item)

    def in_worker(self) -> bool:
        """True when called from the worker's own thread (from inside `process`)."""
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            size = self._size(batch[0])
            while size < self._max_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                size += self._size(batch[-1])
            try:
                self._process(batch)  # answers its callers itself, errors included
            except Exception:
                log.exception("%s: a batch failed unexpectedly; its callers get no answer", self.name)
