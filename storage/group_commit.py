"""Group commit for the small write transactions of many threads (the stages of concurrent runs).

Each caller hands over a function that writes; one thread runs whatever has queued up inside one
transaction, each function in a savepoint of its own (a failure undoes that function only), commits
once, and only then gives each caller its result. A run stage is therefore durable when its caller
goes on, as with a transaction of its own, but fifty stages cost one commit and one turn at the
database writer instead of fifty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from storage.batches import BatchWorker
from storage.database import db, unit_of_work, write_transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_GROUP = 200  # functions per transaction: more would hold the writer lock too long
Write = tuple[Callable[[], Any], Future[Any]]


class GroupCommitter:
    def __init__(self) -> None:
        self._worker: BatchWorker[Write] = BatchWorker("group-commit", self._commit, max_size=MAX_GROUP)

    def run(self, write: Callable[[], T]) -> T:
        """Run `write` in the next group; return its result once the group is committed."""
        if self._worker.in_worker():
            return write()  # already inside the group's transaction
        done: Future[T] = Future()
        self._worker.put((write, done))
        return done.result()

    @staticmethod
    def _commit(group: list[Write]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with unit_of_work(), write_transaction():
                for write, done in group:
                    try:
                        with db.atomic():  # a savepoint: a failing function undoes only itself
                            outcomes.append((done, write(), None))
                    except Exception as exc:
                        outcomes.append((done, None, exc))
        except Exception as exc:  # the commit itself failed: nothing of the group was written
            log.warning("a group of %d writes failed to commit: %s", len(group), exc)
            for _, done in group:
                done.set_exception(exc)
            return
        for done, result, error in outcomes:
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(error)
