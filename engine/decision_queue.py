"""Group commit for incoming incidents: one thread decides whatever has queued up in one transaction.

Under load, webhook deliveries arrive faster than one transaction each can be committed; threads
taking turns at the database writer mostly wait for each other. Here the deliveries that arrived
while the previous batch was being decided are decided together (one commit), in arrival order,
and each caller's future gets its own outcomes. With no load a batch is one delivery: no waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from engine.errors import InvalidInput
from engine.submissions import Submission, SubmitRequest
from storage.batches import BatchWorker
from storage.database import db_connection

log = logging.getLogger(__name__)

MAX_INCIDENTS_PER_TRANSACTION = (
    500  # incidents per transaction: a longer one would hold the writer lock too long
)
Outcomes = list[Submission | InvalidInput]


@dataclass
class _Delivery:
    requests: Sequence[SubmitRequest]
    done: Future[Outcomes]


class DecisionQueue:
    """Behind ResolutionService.decide: `decide_now` takes a batch's requests in one transaction."""

    def __init__(self, decide_now: Callable[[Sequence[SubmitRequest]], Outcomes]) -> None:
        self._decide_now = decide_now
        self._worker: BatchWorker[_Delivery] = BatchWorker(
            "decision-queue",
            self._decide,
            max_size=MAX_INCIDENTS_PER_TRANSACTION,
            size=lambda d: len(d.requests),
        )

    def decide(self, requests: Sequence[SubmitRequest]) -> Future[Outcomes]:
        """Queue one delivery's incidents; the future holds an outcome per request, in order."""
        delivery = _Delivery(requests, Future())
        self._worker.put(delivery)
        return delivery.done

    def stop(self, timeout: float = 30.0) -> None:
        """Decide what was queued, then let the thread end (a later delivery starts another);
        waits at most `timeout` seconds."""
        self._worker.stop(timeout)

    def _decide(self, batch: list[_Delivery]) -> None:
        requests = [request for delivery in batch for request in delivery.requests]
        try:
            with db_connection():
                outcomes = self._decide_now(requests)
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
