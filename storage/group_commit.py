"""Group commit for the small write transactions of many threads (the stages of concurrent runs).

Each caller hands over a function that writes; one thread runs whatever has queued up inside one
transaction (should one function fail, the group is applied again with each function in a savepoint
of its own, so a failure undoes that function only), commits once, and only then gives each caller
its result. A run stage is therefore durable when its caller goes on, as with a transaction of its
own, but fifty stages cost one commit and one turn at the database writer instead of fifty.

`WriteAhead` lets one caller go on without waiting for each write: its writes are applied in the
order given, and it waits (`durable`) only where it must, before doing something outside the
database that the rows have to show first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from storage import deferred_writes
from storage.batches import BatchWorker
from storage.database import db, db_connection, in_write_transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_GROUP = 200  # functions per transaction: more would hold the writer lock too long
Write = tuple[Callable[[], Any], Future[Any]]
WriteResult = tuple[Future[Any], Any, BaseException | None]


class GroupCommitter:
    def __init__(self) -> None:
        self._worker: BatchWorker[Write] = BatchWorker("group-commit", self._commit, max_size=MAX_GROUP)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what was handed over, then let the thread end (a later write starts another);
        waits at most `timeout` seconds."""
        self._worker.stop(timeout)

    def submit(self, write: Callable[[], T]) -> Future[T]:
        """Queue `write` for the next group; the future is done once the group is committed."""
        done: Future[T] = Future()
        self._worker.put((write, done))
        return done

    @classmethod
    def _commit(cls, group: list[Write]) -> None:
        try:
            try:
                outcomes = cls._apply(group, isolated=False)
            except _WriteFailed:  # rolled back: again, each write in a savepoint of its own
                outcomes = cls._apply(group, isolated=True)
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

    @staticmethod
    def _apply(group: list[Write], *, isolated: bool) -> list[WriteResult]:
        """Run the group's writes in one transaction and commit it. Not `isolated`: the first
        failure (a write's, or that of the rows and updates they held back for the end) rolls
        everything back (_WriteFailed), which costs no savepoint per write in the usual case that
        none fails. `isolated`: each write in a savepoint, a failure undoes only it."""
        outcomes: list[WriteResult] = []
        with db_connection(), in_write_transaction():
            if not isolated:
                try:
                    with deferred_writes.appending():
                        for write, done in group:
                            outcomes.append((done, write(), None))
                except Exception as exc:
                    raise _WriteFailed from exc
                return outcomes
            for write, done in group:
                try:
                    with db.atomic(), deferred_writes.appending():  # its held-back rows fail it too
                        result = write()
                except Exception as exc:
                    outcomes.append((done, None, exc))
                else:
                    outcomes.append((done, result, None))
        return outcomes


class _WriteFailed(Exception):
    """A write of a group failed: the group is rolled back and applied again write by write."""


class NotApplied(Exception):
    """A write of a WriteAhead left out because an earlier one of the same sequence failed."""


class Staged(Generic[T]):
    """What one write of a WriteAhead returned, for the later writes of the same sequence (which
    run after it, on the committer's thread); `durable()` first to read it from anywhere else."""

    _unset: Any = object()

    def __init__(self) -> None:
        self._value: Any = self._unset

    @property
    def value(self) -> T:
        if self._value is self._unset:
            raise NotApplied("this write has not been applied")
        result: T = self._value
        return result


class WriteAhead:
    """One caller's writes through a GroupCommitter, applied in the order given, without waiting
    for each. `durable()` waits until all of them are committed and raises the first failure. Once
    a write fails, the later ones are not applied: the rows never show a stage without the one
    before it."""

    def __init__(self, committer: GroupCommitter) -> None:
        self._committer = committer
        self._pending: list[Future[Any]] = []
        self._written = 0
        # The first write that failed (its position and error); a group applied again after a
        # rolled-back first try runs the writes before it again, and may find it succeeding.
        self._failure: tuple[int, BaseException] | None = None

    def write(self, write: Callable[[], T]) -> Staged[T]:
        """Hand `write` over and return at once; its result appears in the Staged when applied."""
        staged: Staged[T] = Staged()
        position = self._written
        self._written += 1

        def apply() -> None:
            if self._failure is not None and self._failure[0] < position:
                raise NotApplied(f"an earlier write failed: {self._failure[1]}")
            try:
                staged._value = write()
            except BaseException as exc:
                self._failed(position, exc)
                raise
            if self._failure is not None and self._failure[0] == position:
                self._failure = None  # failed in a try that was rolled back, applied now

        done = self._committer.submit(apply)
        done.add_done_callback(lambda finished: self._note(position, finished))
        self._pending.append(done)
        return staged

    def durable(self) -> None:
        """Wait until every write handed over so far is committed; raise the first failure."""
        pending, self._pending = self._pending, []
        errors = [error for error in (done.exception() for done in pending) if error is not None]
        failure = self._failure[1] if self._failure is not None else (errors[0] if errors else None)
        if failure is not None:
            raise failure

    def _failed(self, position: int, error: BaseException) -> None:
        if self._failure is None or position < self._failure[0]:
            self._failure = (position, error)

    def _note(self, position: int, done: Future[Any]) -> None:
        """A group that failed to commit failed its writes too: the later ones must not follow."""
        error = done.exception()
        if error is not None and not isinstance(error, NotApplied):
            self._failed(position, error)
