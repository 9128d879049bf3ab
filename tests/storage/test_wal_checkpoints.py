"""SQLite's write-ahead log copied into the database file apart from the commits (the serving bot's
way): a commit never waits for the disk on a checkpoint, the log still starts over once copied, and
nothing written is lost by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.database import bind, db, in_write_transaction, open_database
from storage.wal_checkpoints import checkpoint_wal

PAGES = 1_500  # more than SQLite's automatic checkpoint lets the log hold (1,000 pages)


@pytest.mark.parametrize("apart", [True, False])
def test_with_checkpoints_apart_commits_leave_the_log_whole_until_checkpoint_wal_copies_it(
    tmp_path: Path, apart: bool
):
    bind(open_database(f"sqlite:///{tmp_path / 'bot.db'}", checkpoints_apart=apart))
    try:
        with db.connection_context():
            db.execute_sql("CREATE TABLE filler (n INTEGER PRIMARY KEY, body TEXT)")
        for _ in range(PAGES):  # a page's worth each, a commit each
            with in_write_transaction():
                db.execute_sql("INSERT INTO filler (body) VALUES (?)", ("x" * 4000,))
        pages, copied = checkpoint_wal()
        if apart:
            assert pages > PAGES  # no commit checkpointed: the log holds all of them
        else:
            assert pages < 1_000  # SQLite's own checkpoint ran inside some commit, and the log started over
        assert copied == pages
        with in_write_transaction():  # the next write starts the log over: it was all copied
            db.execute_sql("INSERT INTO filler (body) VALUES (?)", ("x" * 4000,))
        assert checkpoint_wal()[0] < 10
        with db.connection_context():
            assert db.execute_sql("SELECT count(*) FROM filler").fetchone()[0] == PAGES + 1
    finally:
        db.obj.close_all()
