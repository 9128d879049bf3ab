"""Anchoring the audit chain's head where the database cannot rewrite it: a line appended to a local
file (mode 0600) and a message in the audit channel, periodically and at every kill-switch change.
`audit verify` checks the chain against the latest anchor, so rows removed from the end show."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine.events import CheckpointReport, Notifier
from storage.audit_chain import Anchor, AuditChain
from storage.database import db_connection
from storage.fields import utcnow

log = logging.getLogger(__name__)


class Checkpoints:
    def __init__(
        self,
        chain: AuditChain,
        path: Path,
        notifier: Notifier,
        *,
        interval_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain = chain
        self.path = path
        self.notifier = notifier
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._last_at = clock()  # the first periodic anchor comes an interval after start-up

    def seal(self) -> int:
        """The periodic job: seal what was written (within half a second), then anchor the head if
        a kill-switch change was sealed or the interval has passed since the last anchor."""
        with db_connection():
            sealed = self.chain.seal_all(budget_seconds=0.5)
        if sealed.head is not None:
            with self._lock:
                due = self.clock() - self._last_at >= self.interval_seconds
                if sealed.kill_switch_changed or due:
                    self.record(sealed.head)
        return sealed.rows

    def record(self, head: Anchor) -> None:
        """Append the anchor to the file and post it to the audit channel."""
        line = f"{utcnow().isoformat(timespec='seconds')} {head.seq}:{head.chain_hash}\n"
        descriptor = os.open(self.path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "a", encoding="ascii") as file:
            file.write(line)
        self._last_at = self.clock()
        report = CheckpointReport(seq=head.seq, chain_hash=head.chain_hash, key_id=self.chain.key_id)
        with db_connection():
            self.notifier.tell(report)


def latest_anchor(path: Path) -> Anchor | None:
    """The last anchor written to the checkpoint file, or None (no file, or none in it)."""
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            return Anchor.parse(line.rpartition(" ")[2])
        except ValueError:
            continue  # a line cut short by a crash: the one before it stands
    return None
