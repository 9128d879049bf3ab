"""Writes held back to the end of a block (`appending()`): the rows it appends go in as one multi-row
INSERT per table, then its updates and upserts in order; on PostgreSQL all in one round trip. For rows
nothing reads back before the transaction commits: audit rows, outbox messages, a run's stages."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import peewee

from storage import statements
from storage.database import db, is_postgres

_appended = threading.local()  # what waits for the end of an `appending()` block, per thread
MAX_ROWS_PER_INSERT = 500  # keeps a statement's parameters well under either database's limit


@dataclasses.dataclass
class _Deferred:
    """What an `appending()` block holds back until it ends: rows per table, then the other
    statements (updates, upserts) in order."""

    rows: dict[tuple[type[peewee.Model], bool], list[list[Any]]] = dataclasses.field(default_factory=dict)
    later: list[tuple[str, list[Any]]] = dataclasses.field(default_factory=list)

    def statements(self) -> Iterator[tuple[str, list[Any]]]:
        for (model, unless_there), table_rows in self.rows.items():
            for start in range(0, len(table_rows), MAX_ROWS_PER_INSERT):
                chunk = table_rows[start : start + MAX_ROWS_PER_INSERT]
                sql = statements.insert_sql(model, len(chunk)) + (
                    " ON CONFLICT DO NOTHING" if unless_there else ""
                )
                yield sql, [value for row in chunk for value in row]
        yield from self.later


def append(model: type[peewee.Model], *, unless_there: bool = False, **values: Any) -> None:
    """Insert a row that nothing reads back before the transaction commits (an audit row, an outbox
    message). Inside `appending()` it waits for the end of the block, to go with the others of its
    table in one multi-row INSERT, in the order appended; elsewhere it is inserted at once.
    `unless_there`: a row that a unique key already has is left out (ON CONFLICT DO NOTHING)."""
    deferred: _Deferred | None = getattr(_appended, "deferred", None)
    if deferred is None and unless_there:
        db.execute_sql(
            statements.insert_sql(model, 1) + " ON CONFLICT DO NOTHING", statements.row_params(model, values)
        )
        return
    if deferred is None:
        statements.insert(model, **values)
        return
    deferred.rows.setdefault((model, unless_there), []).append(statements.row_params(model, values))


def update_later(model: type[peewee.Model], where: dict[str, Any], **values: Any) -> None:
    """`update` for rows that nothing in the transaction reads back or changes after it, and whose
    count of changed rows nobody needs. Inside `appending()` it waits for the end of the block
    (after the block's appended rows, in order with the block's other held-back statements); elsewhere
    it runs at once."""
    _later(*statements.update_statement(model, where, values))


def upsert_later(model: type[peewee.Model], **values: Any) -> None:
    """Insert the row, or set its given fields where a row with its primary key is there already
    (INSERT ... ON CONFLICT DO UPDATE, on both databases); held back as `update_later` is."""
    _later(*statements.upsert_statement(model, values))


def _later(sql: str, params: list[Any]) -> None:
    """Hold the statement back to the end of the `appending()` block, or run it now outside one."""
    deferred: _Deferred | None = getattr(_appended, "deferred", None)
    if deferred is None:
        db.execute_sql(sql, params)
        return
    deferred.later.append((sql, params))


@contextmanager
def appending() -> Iterator[None]:
    """Collect the rows `append`ed and the statements held back (`update_later`, `upsert_later`)
    inside, and write them when the block ends (inside the caller's transaction, before it
    commits): on PostgreSQL in one round trip. A block that raises writes none of them; nested
    blocks are one."""
    if getattr(_appended, "deferred", None) is not None:
        yield
        return
    deferred = _appended.deferred = _Deferred()
    try:
        yield
    finally:
        _appended.deferred = None
    _execute_all(list(deferred.statements()))


def _execute_all(batch: list[tuple[str, list[Any]]]) -> None:
    """Run statements whose results nobody reads. PostgreSQL: one round trip for all of them (the
    driver quotes each statement's values, as it does for any statement; then they go as one
    text). SQLite answers in-process: one by one."""
    if not batch:
        return
    if not is_postgres() or len(batch) == 1:
        for sql, params in batch:
            db.execute_sql(sql, params)
        return
    cursor = db.cursor()
    cursor.execute(b";\n".join(cursor.mogrify(sql, params) for sql, params in batch))
