"""Fault tests' PostgreSQL: the test server emptied for a test, and plain SQL against it from outside."""

from __future__ import annotations

import os
from typing import Any

import psycopg2
import pytest

from storage.database import bind, db, open_database
from storage.schema import ALL_MODELS


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("these tests run bot processes on PostgreSQL: set TEST_DATABASE_URL")
    bind(open_database(url))
    with db.connection_context():
        db.execute_sql(f"DROP TABLE IF EXISTS {', '.join(m._meta.table_name for m in ALL_MODELS)} CASCADE")
    db.obj.close_all()
    return url


def sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(query, args)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    connection.close()
    return rows
