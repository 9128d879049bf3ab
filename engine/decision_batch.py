"""The state of one decision transaction, held where the type checker sees it.

A batch of incidents is decided in one write transaction: the kill switch and each category are read
once (no other writer can change them before it commits), the batch's stored incidents are read in
one query, and new incidents are inserted together at the end (one multi-row INSERT). Until then a
new row exists only here; `existing()` and `store_fingerprint()` insert it first in the two cases
where the database must find it (a second delivery of it in the same batch; a fingerprint lookup).
Only `deciding()` makes a batch, inside its transaction, and it stores what is left when it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from engine.configuration import kill_switch_state
from storage import incidents, statements
from storage.config_store import CategorySetting
from storage.database import in_write_transaction
from storage.incidents import Incident


class DecisionBatch:
    def __init__(self, kill_switch_active: bool, stored: dict[str, Incident]) -> None:
        self.kill_switch_active = kill_switch_active
        self._categories: dict[str, CategorySetting] = {}
        self._known = stored  # the batch's incidents, stored or new
        self._unsaved: dict[str, Incident] = {}  # the new ones, not inserted yet
        self._unsaved_by_fingerprint: dict[str, list[str]] = {}  # their ids, by fingerprint

    def category(self, name: str, read: Callable[[str], CategorySetting]) -> CategorySetting:
        """The category's settings, read once per batch (`read` raises for an unknown one)."""
        if name not in self._categories:
            self._categories[name] = read(name)
        return self._categories[name]

    def existing(self, incident_id: str) -> Incident | None:
        """The incident as stored (or decided earlier in this batch: then inserted now, so that it can
        be read and changed like any stored row)."""
        row = self._known.get(incident_id)
        if row is not None and self._unsaved.pop(incident_id, None) is not None:
            incidents.insert(row)
        return row

    def store_fingerprint(self, fingerprint: str) -> None:
        """Insert this batch's new incidents with `fingerprint`, for the fingerprint lookup to find."""
        for incident_id in self._unsaved_by_fingerprint.pop(fingerprint, []):
            row = self._unsaved.pop(incident_id, None)  # None: inserted already (`existing`)
            if row is not None:
                incidents.insert(row)

    def add_new(self, row: Incident) -> None:
        """A new incident, decided: inserted with the others when the batch ends."""
        self._known[row.incident_id] = self._unsaved[row.incident_id] = row
        if row.fingerprint:
            self._unsaved_by_fingerprint.setdefault(row.fingerprint, []).append(row.incident_id)

    def _store_the_rest(self) -> None:
        incidents.append(self._unsaved.values())
        self._unsaved.clear()
        self._unsaved_by_fingerprint.clear()


@contextmanager
def deciding(incident_ids: Sequence[str]) -> Iterator[DecisionBatch]:
    """A write transaction for deciding these incidents, and its batch."""
    with in_write_transaction(), statements.appending():
        batch = DecisionBatch(kill_switch_state().active, incidents.get_many(incident_ids=list(incident_ids)))
        yield batch
        batch._store_the_rest()
