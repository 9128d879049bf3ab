"""Periodic jobs on APScheduler, added the same way everywhere.

Each job is safe to run on every replica: the database decides (conditional updates, job leases),
the scheduler only says when to look. So the job store stays in memory (APScheduler's FAQ warns
that a job store shared by processes runs jobs twice or misses them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler


def every(
    scheduler: BackgroundScheduler,
    seconds: float,
    job_id: str,
    func: Callable[[], object],
    *,
    first_after: float | None = None,
) -> None:
    """Run `func` every `seconds` (the first time after `first_after` seconds, by default after
    `seconds`): never two at once, missed runs collapsed into one."""
    first: dict[str, datetime] = {}
    if first_after is not None:
        first["next_run_time"] = datetime.now(UTC) + timedelta(seconds=first_after)
    scheduler.add_job(
        func,
        "interval",
        seconds=seconds,
        id=job_id,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=max(int(seconds * 2), 5),
        **first,
    )
