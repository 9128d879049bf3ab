"""Group commit for incoming incidents: one thread decides whatever has queued up in one transaction.

Under load, webhook deliveries arrive faster than one transaction each can be committed; threads
taking turns at the database writer mostly wait for each other. Here the deliveries that arrived
while the previous batch was being decided are decided together (one commit), in arrival order,
and each caller's future gets its own outcomes. With no load a batch is one delivery: no waiting.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from engine.errors import InvalidInput
from engine.service import ResolutionService, Submission, SubmitRequest
from storage.database import unit_of_work

log = logging.getLogger(__name__)

MAX_BATCH = 500  # incidents per transaction: a longer one would hold the writer lock too long
Outcomes = list[Submission | InvalidInput]


@dataclass
class _Delivery:
    requests: Sequence[SubmitRequest]
    done: Future[Outcomes]


class DecisionQueue:
    def __init__(self, resolution: ResolutionService) -> None:
        self.resolution = resolution
        self._queue: queue.SimpleQueue[_Delivery] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def decide(self, requests: Sequence[SubmitRequest]) -> Future[Outcomes]:
        """Queue one delivery's incidents; the future holds an outcome per request, in order."""
        self._ensure_running()
        delivery = _Delivery(requests, Future())
        self._queue.put(delivery)
        return delivery.done

    def _ensure_running(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="decision-queue", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            size = len(batch[0].requests)
            while size < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                size += len(batch[-1].requests)
            self._decide(batch)

    def _decide(self, batch: list[_Delivery]) -> None:
        requests = [request for delivery in batch for request in delivery.requests]
        try:
            with unit_of_work():
                outcomes = self.resolution.submit_many(requests)
        except Exception as exc:
            if len(batch) > 1:  # one delivery's trouble must not fail the others: decide them apart
                log.warning("a batch of %d deliveries failed (%s); deciding each alone", len(batch), exc)
                for delivery in batch:
                    self._decide([delivery])
                return
            batch[0].done.set_exception(exc)
            return
        start = 0
        for delivery in batch:
            end = start + len(delivery.requests)
            delivery.done.set_result(outcomes[start:end])
            start = end
