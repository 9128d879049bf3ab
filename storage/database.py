"""The deferred database handle, opened from DATABASE_URL, and the transaction helpers around it."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

db = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
}

# This process's SQLite writers queue on it (in_write_transaction); storage/wal_checkpoints.py holds
# it to let the write-ahead log start over.
sqlite_writer = threading.RLock()

# A lock key for claim transactions on PostgreSQL (pg_advisory_xact_lock): any constant will do.
CLAIM_LOCK_KEY = 0x4155544F


class RecentlyCheckedPostgresPool(PooledPostgresqlDatabase):
    """peewee 4's PostgreSQL pool asks the server (SELECT 1) whether a connection lives every time
    one is taken from the pool, holding the pool's lock meanwhile: a round trip per unit of work,
    one thread at a time. Here a connection handed back less than ALIVE_BYPASS_SECONDS ago is only
    looked at locally: an idle connection has nothing to read, so a socket with something waiting
    (the server's goodbye when it ended the session, or the close) is dropped. One idle longer is
    still asked, which also covers a peer that vanished without a word."""

    ALIVE_BYPASS_SECONDS = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._returned_at: dict[int, float] = {}  # by connection key: when it was last handed back

    # peewee's private pool methods (no public hook for the liveness check): peewee is pinned and
    # tests/test_library_contracts.py holds the contract these overrides rely on.
    def _is_closed(self, conn: Any) -> bool:
        returned = self._returned_at.pop(self.conn_key(conn), None)  # handed back again later
        if returned is None or time.monotonic() - returned >= self.ALIVE_BYPASS_SECONDS:
            return bool(super()._is_closed(conn))
        if conn.closed or select.select([conn.fileno()], [], [], 0)[0]:
            return True
        return not self._adapter.is_connection_reusable(conn)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        if not close_conn:
            self._returned_at[self.conn_key(conn)] = time.monotonic()
        super()._close(conn, close_conn)

    def _close_raw(self, conn: Any) -> None:
        self._returned_at.pop(self.conn_key(conn), None)
        super()._close_raw(conn)


class DatabaseUrlError(ValueError):
    """DATABASE_URL names a scheme or path we cannot open."""


def redact_url(url: str) -> str:
    """The URL as it may be shown (a log, a banner, an error): its password replaced by ***."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    user = f"{parsed.username}:" if parsed.username else ":"
    return parsed._replace(netloc=f"{user}***@{parsed.netloc.rpartition('@')[2]}").geturl()


def _create_private(path: str) -> None:
    """Create the SQLite file readable by its owner only (0600), if it is not there yet: it holds
    the audit trail and every incident. SQLite gives its -wal and -shm files the same mode."""
    if path != ":memory:" and not os.path.exists(path):
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def open_database(url: str, *, pool_size: int = 20, checkpoints_apart: bool = False) -> peewee.Database:
    """Build (without connecting) the database named by a sqlite:/// or postgresql:// URL.
    `checkpoints_apart` (SQLite; the serving bot, whose storage/wal_checkpoints.py copies it): a
    commit never copies the write-ahead log into the database file itself. SQLite's automatic
    checkpoint runs inside whichever commit fills the log past a thousand pages, and waits for the
    disk there (fsync), holding the write lock: every writer waited behind it, for up to 1.5 s on
    a 2-core VM under figure 1's load (bench/RESULTS.md)."""
    scheme = urlparse(url).scheme
    shown = redact_url(url)
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise DatabaseUrlError(f"DATABASE_URL {shown!r}: expected sqlite:///path/to/file.db")
        try:
            _create_private(path)
        except OSError as exc:
            raise DatabaseUrlError(f"DATABASE_URL {shown!r}: cannot create {path} ({exc.strerror})") from None
        # Pooled: a thread's next unit of work reuses a connection (and its pragmas) instead of opening one.
        return PooledSqliteDatabase(
            path,
            pragmas={**SQLITE_PRAGMAS, "wal_autocheckpoint": 0} if checkpoints_apart else SQLITE_PRAGMAS,
            timeout=10,
            check_same_thread=False,
            max_connections=pool_size * 4,
            stale_timeout=300,
        )
    if scheme in {"postgres", "postgresql"}:
        parsed = urlparse(url)
        try:
            port = parsed.port or 5432
        except ValueError:
            raise DatabaseUrlError(f"DATABASE_URL {shown!r}: the port is not a number") from None
        # The URL's parts are percent-encoded (a password with @ is written p%40ss): decoded here.
        return RecentlyCheckedPostgresPool(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=unquote(parsed.hostname) if parsed.hostname else None,
            port=port,
            max_connections=pool_size,
            stale_timeout=300,
            timeout=10,
        )
    raise DatabaseUrlError(
        f"DATABASE_URL {shown!r}: unsupported scheme {scheme!r} (use sqlite:///path or postgresql://...)"
    )


def bind(database: peewee.Database) -> None:
    """Point every model at `database`."""
    db.initialize(database)


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


@contextmanager
def db_connection() -> Iterator[None]:
    """A connection for this thread for the duration of one request, job or step (no transaction:
    each statement commits by itself, unless a transaction is opened inside)."""
    with db.connection_context():
        yield


def in_transaction() -> bool:
    """Whether this thread is inside a transaction (statements it runs join it)."""
    return bool(db.transaction_depth() > 0)


@contextmanager
def in_write_transaction() -> Iterator[Any]:
    """Run the block in a write transaction: the caller's, when one is open (it joins it, with no
    savepoint, so a failure fails them both), else a new one that takes the write lock up front,
    for read-then-write sequences.

    SQLite: BEGIN IMMEDIATE, so two writers never both read the old state; threads of this process
    queue on a lock first, since SQLite's own busy handler sleeps and polls (long tail latencies).
    PostgreSQL: a plain transaction; callers that need mutual exclusion across replicas take
    `claim_lock()` inside it.
    """
    if db.transaction_depth() > 0:
        yield None  # part of the caller's transaction (no savepoint: its failure fails them both)
        return
    with db.connection_context():
        if is_postgres():
            with db.atomic() as txn:
                yield txn
        else:
            with sqlite_writer, db.atomic("IMMEDIATE") as txn:
                yield txn


def key_lock(key: str) -> None:
    """Serialise transactions about one key (a fingerprint, say) across processes on PostgreSQL."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


def key_locks(keys: Sequence[str]) -> None:
    """`key_lock` for several keys in one statement, taken in the order of their hashes (the lock
    is on the hash): two transactions locking overlapping sets never wait on each other in a cycle."""
    if is_postgres() and keys:
        db.execute_sql(
            # a volatile function in the output list is evaluated after the sort (PostgreSQL 9.6 on)
            "SELECT pg_advisory_xact_lock(h) FROM "
            "(SELECT DISTINCT hashtext(k) AS h FROM unnest(%s::text[]) AS k) AS hashes ORDER BY h",
            (list(keys),),
        )


def claim_lock() -> None:
    """Serialise claim transactions across processes (PostgreSQL; SQLite's IMMEDIATE already does)."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK_KEY,))


def ping() -> bool:
    """True when the database answers a trivial query."""
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1").fetchone()
    except peewee.PeeweeException:
        return False
    return True


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False
