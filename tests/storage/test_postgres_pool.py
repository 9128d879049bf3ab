"""The PostgreSQL connection pool: a connection handed back a moment ago is taken without asking the
server whether it lives; one idle longer is asked; a connection the server ended is never handed out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlparse

import peewee
import psycopg2
import psycopg2.extensions
import pytest

from storage.database import RecentlyCheckedPostgresPool
from tests.support.postgres import terminate_backends

pytestmark = pytest.mark.postgres


class CountingCursor(psycopg2.extensions.cursor):
    """The driver's cursor, counting the statements sent (the pool's liveness check included)."""

    sent: ClassVar[list[str]] = []

    def execute(self, query: Any, vars: Any = None) -> Any:
        CountingCursor.sent.append(str(query))
        return super().execute(query, vars)


@pytest.fixture
def pool() -> Iterator[RecentlyCheckedPostgresPool]:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL run: set TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    parsed = urlparse(url)
    database = RecentlyCheckedPostgresPool(
        parsed.path.lstrip("/"),
        user=parsed.username,
        host=parsed.hostname,
        port=parsed.port or 5432,
        max_connections=4,
        cursor_factory=CountingCursor,
    )
    CountingCursor.sent = []
    yield database
    database.close_all()


def db_connection(database: peewee.Database) -> int:
    with database.connection_context():
        return int(database.execute_sql("SELECT pg_backend_pid()").fetchone()[0])


def test_a_connection_handed_back_a_moment_ago_is_taken_without_a_round_trip(pool):
    first = db_connection(pool)
    second = db_connection(pool)
    assert first == second  # the same connection, from the pool
    assert CountingCursor.sent == ["SELECT pg_backend_pid()"] * 2


def test_a_connection_idle_longer_is_checked_first(pool, monkeypatch):
    monkeypatch.setattr(RecentlyCheckedPostgresPool, "ALIVE_BYPASS_SECONDS", 0.0)
    db_connection(pool)
    db_connection(pool)
    assert CountingCursor.sent == ["SELECT pg_backend_pid()", "SELECT 1", "SELECT pg_backend_pid()"]


@pytest.mark.parametrize("bypass", [0.0, 60.0], ids=["asked", "looked-at"])
def test_a_connection_the_server_ended_is_not_handed_out(pool, monkeypatch, bypass):
    monkeypatch.setattr(RecentlyCheckedPostgresPool, "ALIVE_BYPASS_SECONDS", bypass)
    victim = db_connection(pool)
    terminate_backends(os.environ["TEST_DATABASE_URL"], [victim])
    assert db_connection(pool) != victim  # a new connection, and no error
