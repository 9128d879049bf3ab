"""The deferred database handle, opened from DATABASE_URL, and the transaction helpers around it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as connect_url
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

db = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
}

_sqlite_writer = threading.RLock()

# A lock key for claim transactions on PostgreSQL (pg_advisory_xact_lock): any constant will do.
CLAIM_LOCK_KEY = 0x4155544F


class DatabaseUrlError(ValueError):
    """DATABASE_URL names a scheme or path we cannot open."""


def open_database(url: str, *, pool_size: int = 20) -> peewee.Database:
    """Build (without connecting) the database named by a sqlite:/// or postgresql:// URL."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise DatabaseUrlError(f"DATABASE_URL {url!r}: expected sqlite:///path/to/file.db")
        # Pooled: a thread's next unit of work reuses a connection (and its pragmas) instead of opening one.
        return PooledSqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            timeout=10,
            check_same_thread=False,
            max_connections=pool_size * 4,
            stale_timeout=300,
        )
    if scheme in {"postgres", "postgresql"}:
        parsed = urlparse(url)
        return PooledPostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
            max_connections=pool_size,
            stale_timeout=300,
            timeout=10,
        )
    try:
        return connect_url(url)
    except Exception as exc:  # playhouse raises a bare RuntimeError for unknown schemes
        raise DatabaseUrlError(f"DATABASE_URL {url!r}: unsupported scheme {scheme!r}") from exc


def bind(database: peewee.Database) -> None:
    """Point every model at `database`."""
    db.initialize(database)


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


@contextmanager
def unit_of_work() -> Iterator[None]:
    """A connection for this thread for the duration of one request, job or step."""
    with db.connection_context():
        yield


@contextmanager
def write_transaction() -> Iterator[Any]:
    """A transaction that takes the write lock up front, for read-then-write sequences.

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
            with _sqlite_writer, db.atomic("IMMEDIATE") as txn:
                yield txn


def key_lock(key: str) -> None:
    """Serialise transactions about one key (a fingerprint, say) across processes on PostgreSQL."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


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
