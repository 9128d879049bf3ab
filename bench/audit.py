"""Figures 4 and 6: audit queries on a million sealed rows, and the bot's resident memory after them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.harness import AUDIT_KEY, PYTHON, ROOT, Database, bot_env, start_bot, wrk
from storage import audit_chain

ROWS = 1_000_000
CLIENTS = 8


INSERT_AUDIT = (
    "INSERT INTO audit_log (audit_id, timestamp, action, incident_id, actor, details, success, seq, "
    "chain_hash) VALUES "
)
SQLITE_VALUES = "(?, ?, ?, ?, 'system', ?, TRUE, ?, ?)"
POSTGRES_VALUES = "(%s, %s, %s, %s, 'system', %s, TRUE, %s, %s)"


def write_rows(database: Database, batch: list[tuple[Any, ...]]) -> None:
    """Insert rows straight through the driver (the bot's own insert would take an hour here)."""
    if database.label == "postgresql":
        import psycopg2
        from psycopg2.extras import execute_values

        with psycopg2.connect(database.url) as connection, connection.cursor() as cursor:
            execute_values(cursor, INSERT_AUDIT + "%s", batch, template=POSTGRES_VALUES, page_size=5000)
    else:
        path = database.url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            connection.executemany(INSERT_AUDIT + SQLITE_VALUES, batch)


def fill_audit(database: Database, rows: int) -> str:
    """A million audit rows (over 100,000 incidents), written sealed into a migrated database, as
    the bot's own sealing job would have left them (so it has nothing to do during the figure)."""
    subprocess.run(
        [PYTHON, str(ROOT / "bot.py"), "db", "upgrade"],
        env=bot_env(database, ROOT / "runbooks.yml", 3000),
        check=True,
        capture_output=True,
    )
    start = datetime.now(UTC) - timedelta(days=30)
    actions = [
        "incident_received",
        "auto_resolution_queued",
        "step_started",
        "step_succeeded",
        "auto_resolution_success",
    ]
    previous = audit_chain.GENESIS
    batch: list[tuple[Any, ...]] = []
    for n in range(rows):
        moment = start + timedelta(seconds=n * 2)
        row = SimpleNamespace(
            audit_id=uuid.uuid4().hex,
            timestamp=moment,
            action=actions[n % 5],
            incident_id=f"INC-{n // 10}",
            actor="system",
            confidence_score=None,
            details={"n": n},
            success=True,
            error_message=None,
            run_id=None,
        )
        previous = audit_chain.row_digest(previous, row, AUDIT_KEY.encode())  # type: ignore[arg-type]
        batch.append(
            (
                row.audit_id,
                moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
                row.action,
                row.incident_id,
                json.dumps(row.details),
                n + 1,
                previous,
            )
        )
        if len(batch) == 50_000:
            write_rows(database, batch)
            batch.clear()
    write_rows(database, batch)
    record_key(database, audit_chain.key_id(AUDIT_KEY.encode()))
    return f"INC-{rows // 20}"


def record_key(database: Database, key_id: str) -> None:
    """The chain is the bench key's, as the bot records it when it seals (so it does not re-seal)."""
    if database.label == "postgresql":
        import psycopg2

        with psycopg2.connect(database.url) as connection, connection.cursor() as cursor:
            cursor.execute("UPDATE global_config SET audit_key_id = %s", (key_id,))
    else:
        with sqlite3.connect(database.url.removeprefix("sqlite:///")) as connection:
            connection.execute("UPDATE global_config SET audit_key_id = ?", (key_id,))


def figure_audit(scratch: Path, database: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    incident = fill_audit(database, ROWS)
    bot = start_bot(scratch, database, ROOT / "runbooks.yml")
    try:
        trail = wrk(f"{bot.url}/api/v1/audit/incident/{incident}", connections=CLIENTS)
        page = wrk(f"{bot.url}/api/v1/audit?action=step_started&limit=50&offset=100", connections=CLIENTS)
        rss = bot.rss_mb()
    finally:
        bot.stop()
    queries = {
        "figure": "4 audit queries on 1,000,000 rows (8 clients)",
        "database": database.label,
        "incident_trail_p99_ms": trail["p99_ms"],
        "incident_trail_per_s": round(trail["rate"]),
        "filtered_page_p99_ms": page["p99_ms"],
        "filtered_page_per_s": round(page["rate"]),
        "target": "p99 < 10 ms and < 25 ms",
        "met": trail["p99_ms"] < 10 and page["p99_ms"] < 25,
    }
    memory = {
        "figure": "6 resident memory after figure 4",
        "database": database.label,
        "rss_mb": round(rss, 1),
        "target": "< 200 MB",
        "met": rss < 200,
    }
    return queries, memory
