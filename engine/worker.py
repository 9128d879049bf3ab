"""The run worker: claims queued runs under the global limit, executes them, and keeps leases alive.

Periodic upkeep runs on APScheduler: lease renewal, sweeping runs whose owner died (marked
interrupted, never re-run blindly), and turning off a kill switch whose duration ended. Each job is
safe to run on every replica at once: the database decides (conditional updates), not the scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from apscheduler.schedulers.background import BackgroundScheduler

from engine import failure_budget
from engine.configuration import ConfigurationService
from engine.reports import report_outcome
from engine.run_records import finish_incident
from engine.runner import RunExecutor
from engine.scheduling import every
from storage import incidents, runs
from storage.database import db_connection, in_write_transaction
from storage.runs import Run
from storage.statuses import RunStatus

log = logging.getLogger(__name__)
MAX_RUN_THREADS = 100  # max_concurrent_resolutions is capped at 100


def instance_id() -> str:
    """A name for this process in run claims: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RunWorker:
    def __init__(
        self,
        *,
        executor: RunExecutor,
        configuration: ConfigurationService,
        owner: str,
        scheduler: BackgroundScheduler,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.5,
    ) -> None:
        self.executor = executor
        self.configuration = configuration
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=MAX_RUN_THREADS, thread_name_prefix="run")
        self._loop_thread: threading.Thread | None = None
        self._scheduler = scheduler

    def start(self) -> None:
        """Start claiming, and add the upkeep jobs to the scheduler (which the caller starts)."""
        self.sweep_expired_leases()
        self._loop_thread = threading.Thread(target=self._claim_loop, name="run-claimer", daemon=True)
        self._loop_thread.start()
        every(self._scheduler, max(self.lease_seconds / 3, 1.0), "renew-leases", self.renew_leases)
        every(
            self._scheduler,
            max(self.lease_seconds / 4, 1.0),
            "sweep-expired-leases",
            self.sweep_expired_leases,
        )
        every(self._scheduler, 1.0, "expire-kill-switch", self.expire_kill_switch)

    def wake(self) -> None:
        """Look for queued runs now instead of at the next poll."""
        self._wake.set()

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; let running steps finish within the grace period, then cancel the rest."""
        self._stopping.set()
        self._wake.set()
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=5)
        done = threading.Event()

        def drain() -> None:
            self._pool.shutdown(wait=True)
            done.set()

        threading.Thread(target=drain, name="run-drain", daemon=True).start()
        if not done.wait(grace_seconds):
            self.executor.cancel.set()
            done.wait(5)

    def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = runs.claim(owner=self.owner, lease_seconds=self.lease_seconds)
            except Exception:
                log.exception("claiming runs failed; retrying at the next poll")
                claimed = []
            for run in claimed:
                self._pool.submit(self._execute, run)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _execute(self, run: Run) -> None:
        try:
            # No connection is held across the run: each step's writes take one briefly, so a
            # hundred slow runs do not pin a hundred database connections.
            self.executor.execute(run)
        except Exception as exc:
            error_id = uuid.uuid4().hex[:8]
            log.exception("run %s crashed (error id %s)", run.id, error_id)
            message = f"Internal error (id {error_id}): {type(exc).__name__}; see the bot's log"
            with in_write_transaction():
                if runs.finish(run_id=run.id, status=RunStatus.FAILED, message=message):
                    incident = incidents.get(incident_id=run.incident_id)
                    finished = runs.get(run_id=run.id)
                    if incident is not None and finished is not None:
                        finish_incident(incident, RunStatus.FAILED, message)
                        report_outcome(self.executor.notifier, finished, incident)
                        failure_budget.charge(incident.category, self.executor.notifier)
        finally:
            self._wake.set()

    # -- periodic upkeep -------------------------------------------------------------------------

    def renew_leases(self) -> None:
        runs.renew_leases(owner=self.owner, lease_seconds=self.lease_seconds)

    def sweep_expired_leases(self) -> int:
        """Mark runs whose owner stopped renewing as interrupted; returns how many this call marked."""
        marked = 0
        for run in runs.expired_leases():
            message = f"Interrupted: {run.claimed_by} stopped while running it; not re-run automatically"
            with in_write_transaction():
                if not runs.finish(run_id=run.id, status=RunStatus.INTERRUPTED, message=message):
                    continue  # another replica got there first
                marked += 1
                incident = incidents.get(incident_id=run.incident_id)
                finished = runs.get(run_id=run.id)
                if incident is not None and finished is not None:
                    finish_incident(incident, RunStatus.INTERRUPTED, message)
                    report_outcome(self.executor.notifier, finished, incident)
        return marked

    def expire_kill_switch(self) -> None:
        with db_connection():
            self.configuration.expire_kill_switch()
