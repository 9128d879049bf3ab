"""The composition root: settings in, a wired bot out (database, runbooks, engine, worker)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from engine.configuration import ConfigurationService
from engine.notifier import ConsoleNotifier, Notifier
from engine.runbooks import RunbookCatalog, load_runbooks
from engine.runner import RunExecutor
from engine.service import ResolutionService
from engine.worker import RunWorker, instance_id
from settings import Settings
from storage import migrations
from storage.database import bind, open_database

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    catalog: RunbookCatalog
    notifier: Notifier
    configuration: ConfigurationService
    resolution: ResolutionService
    worker: RunWorker

    def start(self) -> None:
        self.worker.start()

    def stop(self, grace_seconds: float = 10.0) -> None:
        self.worker.stop(grace_seconds)


def build_runtime(settings: Settings, *, notifier: Notifier | None = None) -> Runtime:
    """Open and upgrade the database, load runbooks and wire the engine. Raises on bad configuration."""
    catalog = load_runbooks(settings.runbooks_file)
    bind(open_database(settings.database_url))
    applied = migrations.upgrade()
    if applied:
        log.info("database upgraded to schema version %d", applied[-1])
    notifier = notifier or ConsoleNotifier(settings.audit_channel)
    configuration = ConfigurationService(notifier)
    resolution = ResolutionService(catalog=lambda: catalog, notifier=notifier)
    executor = RunExecutor(
        catalog=lambda: catalog,
        notifier=notifier,
        cancel=threading.Event(),
        on_finished=resolution.run_finished,
    )
    worker = RunWorker(
        executor=executor,
        configuration=configuration,
        owner=instance_id(),
        lease_seconds=settings.run_lease_seconds,
        poll_seconds=settings.worker_poll_seconds,
    )
    resolution.wake_worker = worker.wake  # queued runs start at once, not at the next poll
    return Runtime(settings, catalog, notifier, configuration, resolution, worker)
