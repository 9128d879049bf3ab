"""The runbooks in force, and reloading them without a restart (SIGHUP, `python bot.py runbooks
reload`, `/autoresolve runbooks reload`).

A reload reads and validates the whole file: a valid one replaces the runbooks for new runs (a run in
flight keeps the version it started with: the runner holds its runbook from its start), a bad one is
refused and the runbooks stay as they were, saying why. Every reload, taken or refused, is audited
with the file's SHA-256. A reload raises a counter in the database, and every process of the bot
(each replica) reloads its file when it sees the counter pass the one it loaded at."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from engine.audit_actions import AuditAction
from engine.errors import RunbookError
from engine.events import ConfigChanged, Notifier
from engine.runbooks import RunbookCatalog, load_runbooks
from engine.secrets import SecretStore
from storage import audit, config_store
from storage.database import in_write_transaction

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Reload:
    taken: bool
    message: str
    sha256: str | None
    changed: dict[str, list[str]] = field(default_factory=dict)  # added, removed, changed runbook ids


class RunbookLibrary:
    """Callable: the catalog in force now (what the engine asks for each new decision and run)."""

    def __init__(self, path: Path, secrets: SecretStore, notifier: Notifier | None = None) -> None:
        self.path = path
        self.secrets = secrets
        self.notifier = notifier
        self._catalog = load_runbooks(path, secrets)  # a bad file at start-up stops the bot
        self.sha256 = file_sha256(path)
        self.generation = 0  # the database's counter this process has followed to
        self._lock = threading.Lock()

    def __call__(self) -> RunbookCatalog:
        return self._catalog

    def start_following(self) -> None:
        """Take the database's counter as followed: the file was just loaded."""
        self.generation = config_store.runbooks_generation()

    def reload(self, actor: str) -> Reload:
        """Read the file again; on success every process follows. Audited, taken or refused."""
        with self._lock:
            outcome = self._reload(actor)
            if outcome.taken:
                self.generation = config_store.raise_runbooks_generation()
        return outcome

    def follow(self) -> None:
        """Reload if another process (or the CLI) reloaded since this one last did."""
        current = config_store.runbooks_generation()
        if current <= self.generation:
            return
        with self._lock:
            self.generation = current
            self._reload("autoresolve", following=current)

    def _reload(self, actor: str, following: int | None = None) -> Reload:
        sha256 = file_sha256(self.path)
        details: dict[str, object] = {"file": str(self.path), "sha256": sha256}
        if following is not None:
            details["following"] = following
        try:
            catalog = load_or_refuse(self.path, self.secrets, actor, details)
        except RunbookError as exc:
            log.error("runbooks reload refused; the runbooks in force stay: %s", exc)
            shown = str(exc).replace(str(self.path), self.path.name)  # the server's paths stay on it
            in_force = len(self._catalog.runbooks)
            return Reload(False, f"Refused; the runbooks in force stay ({in_force}): {shown}", sha256)
        changed = changes(self._catalog, catalog)
        self._catalog, self.sha256 = catalog, sha256
        summary = (
            f"Runbooks reloaded: {len(catalog.runbooks)} from {self.path.name} (sha256 {str(sha256)[:12]})"
        )
        summary += "".join(f"; {kind}: {', '.join(ids)}" for kind, ids in changed.items() if ids)
        with in_write_transaction():
            audit.record(
                action=AuditAction.RUNBOOKS_RELOADED,
                actor=actor,
                details={**details, "runbooks": len(catalog.runbooks), **changed},
            )
            if self.notifier is not None:
                self.notifier.tell(ConfigChanged(actor=actor, summary=summary))
        log.info("%s", summary)
        return Reload(True, summary, sha256, changed)


def load_or_refuse(
    path: Path, secrets: SecretStore, actor: str, details: dict[str, object]
) -> RunbookCatalog:
    """The file's runbooks; a file refused is audited (`runbooks_reload_refused`) and RunbookError raised."""
    try:
        return load_runbooks(path, secrets)
    except RunbookError as exc:
        with in_write_transaction():
            audit.record(
                action=AuditAction.RUNBOOKS_RELOAD_REFUSED,
                actor=actor,
                success=False,
                error_message=str(exc)[:2000],
                details=details,
            )
        raise


def request_reload(path: Path, secrets: SecretStore, actor: str) -> tuple[RunbookCatalog, str | None]:
    """From outside the bot (the CLI): check the file here, then have every running process reload
    it (they follow the generation counter). Audited as requested, or refused."""
    sha256 = file_sha256(path)
    details: dict[str, object] = {"file": str(path), "sha256": sha256}
    catalog = load_or_refuse(path, secrets, actor, details)
    with in_write_transaction():
        generation = config_store.raise_runbooks_generation()
        audit.record(
            action=AuditAction.RUNBOOKS_RELOAD_REQUESTED,
            actor=actor,
            details={**details, "generation": generation},
        )
    return catalog, sha256


def changes(before: RunbookCatalog, after: RunbookCatalog) -> dict[str, list[str]]:
    old = {runbook.id: runbook.version for runbook in before.runbooks}
    new = {runbook.id: runbook.version for runbook in after.runbooks}
    return {
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "changed": sorted(k for k in new.keys() & old.keys() if new[k] != old[k]),
    }
