"""Ending PostgreSQL sessions from outside, as a server restart or an administrator would."""

from __future__ import annotations

import time

import psycopg2


def terminate_backends(url: str, pids: list[int] | None = None) -> list[int]:
    """End the sessions `pids` (by default every other session on the URL's database) and wait
    until their backends have exited; the ended pids."""
    admin = psycopg2.connect(url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            if pids is None:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                pids = [pid for (pid,) in cursor.fetchall()]
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (pids,))
            for _ in range(100):  # each backend exits a moment after its signal
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.02)
    finally:
        admin.close()
    return pids
