"""SQLite's write-ahead log copied into the database file by a thread of its own, apart from the
commits (the database is opened with `checkpoints_apart`): a commit never waits for the disk."""

from __future__ import annotations

import logging
import threading

from storage.database import SQLITE_PRAGMAS, db, sqlite_writer

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.25  # between the end of one checkpoint and the start of the next
RESTART_AFTER_PAGES = 1_000  # SQLite's own automatic checkpoint lets the log grow as far (4 MB)
RESTART_WAIT_MS = 50  # for readers to leave the log, writers held: as long as a decision batch holds them


def checkpoint_wal() -> tuple[int, int]:
    """SQLite: copy what the write-ahead log holds into the database file without waiting for
    readers or writers (PASSIVE), so writers go on while it is copied and the disk syncs. The log
    starts over only when a write begins with all of it copied and no reader in it, which seldom
    happens while writes and reads keep coming; so when it holds more than RESTART_AFTER_PAGES,
    the pages written meanwhile (a quarter second's worth) are copied again with this process's
    writers held, waiting at most RESTART_WAIT_MS for readers to leave the log (RESTART), and the
    next write starts it over. The pages in the log, and how many are copied. SQLite only (the
    runtime starts a WalCheckpointer only there)."""
    with db.connection_context():
        pages, copied = _copy_wal("PASSIVE")
        if pages > RESTART_AFTER_PAGES:
            with sqlite_writer:
                db.execute_sql(f"PRAGMA busy_timeout = {RESTART_WAIT_MS}")
                try:
                    pages, copied = _copy_wal("RESTART")
                finally:
                    db.execute_sql(f"PRAGMA busy_timeout = {SQLITE_PRAGMAS['busy_timeout']}")
    return pages, copied


def _copy_wal(mode: str) -> tuple[int, int]:
    _, pages, copied = db.execute_sql(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(pages), int(copied)


class WalCheckpointer:
    """`checkpoint_wal` one after another, INTERVAL_SECONDS apart (a slow one delays the next, and
    never runs beside it), until stopped. A failure is logged once, and so is the recovery."""

    def __init__(self, interval: float = INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def checkpoint(self) -> tuple[int, int]:
        try:
            done = checkpoint_wal()
        except Exception as exc:
            if not self._failing:
                log.warning("checkpointing the SQLite write-ahead log failed: %s", exc)
            self._failing = True
            return 0, 0
        if self._failing:
            log.info("checkpointing the SQLite write-ahead log works again")
        self._failing = False
        return done

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            self.checkpoint()
