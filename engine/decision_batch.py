"""The state of one decision transaction, held where the type checker sees it.

A batch of incidents is decided in one write transaction: the kill switch and each category are read
once (no other writer can change them before it commits), the batch's stored incidents are read in
one query, and new incidents are inserted together at the end (one multi-row INSERT). Until then a
new row exists only here; `existing()` inserts it first when the database must find it (a second
delivery of it in the same batch). What the batch's fingerprints have on record (earlier incidents
within the dedup window, resolutions not yet settled) is read once, under their locks, when the batch
begins: two statements for the batch, not three for each of its incidents.
Only `deciding()` makes a batch, inside its transaction, and it stores what is left when it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from engine.configuration import kill_switch_state
from engine.incident import IncidentIn
from storage import deferred_writes, incidents, outcomes
from storage.config_store import CategorySetting
from storage.database import in_write_transaction, key_locks
from storage.fields import utcnow
from storage.incidents import Incident
from storage.outcomes import Outcome


class DecisionBatch:
    def __init__(self, kill_switch_active: bool, stored: dict[str, Incident]) -> None:
        self.kill_switch_active = kill_switch_active
        self._categories: dict[str, CategorySetting] = {}
        self._known = stored  # the batch's incidents, stored or new
        self._unsaved: dict[str, Incident] = {}  # the new ones, not inserted yet
        self._new_by_fingerprint: dict[str, list[str]] = {}  # the new ones' ids, by fingerprint
        self._recent: dict[str, list[Incident]] = {}  # stored incidents in the dedup window, by fingerprint
        self._unsettled: dict[str, list[Outcome]] = {}  # resolutions not yet settled, by fingerprint

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

    def earlier_with_fingerprint(self, fingerprint: str, other_than: str) -> Incident | None:
        """The first incident with this fingerprint within the dedup window, other than `other_than`:
        stored before the batch, or new in it."""
        for row in self._recent.get(fingerprint, []):
            if row.incident_id != other_than:
                return row
        for incident_id in self._new_by_fingerprint.get(fingerprint, []):
            if incident_id != other_than:
                return self._known[incident_id]
        return None

    def take_unsettled(self, fingerprint: str) -> list[Outcome]:
        """The fingerprint's resolutions not yet settled, once: the first new incident of it re-fires them."""
        return self._unsettled.pop(fingerprint, [])

    def add_new(self, row: Incident) -> None:
        """A new incident, decided: inserted with the others when the batch ends."""
        self._known[row.incident_id] = self._unsaved[row.incident_id] = row
        if row.fingerprint:
            self._new_by_fingerprint.setdefault(row.fingerprint, []).append(row.incident_id)

    def _read_fingerprints(
        self, delivered: Sequence[IncidentIn], dedup_window: timedelta, settle: timedelta
    ) -> None:
        now = utcnow()
        new = sorted({i.fingerprint for i in delivered if i.fingerprint and i.incident_id not in self._known})
        if new and dedup_window:
            key_locks([f"fingerprint:{fingerprint}" for fingerprint in new])  # other deciders wait
            for row in incidents.received_with_fingerprints(fingerprints=new, since=now - dedup_window):
                self._recent.setdefault(str(row.fingerprint), []).append(row)
        every = sorted({i.fingerprint for i in delivered if i.fingerprint})
        for outcome in outcomes.unsettled_with_fingerprints(fingerprints=every, resolved_since=now - settle):
            self._unsettled.setdefault(str(outcome.fingerprint), []).append(outcome)

    def _store_the_rest(self) -> None:
        incidents.append(self._unsaved.values())
        self._unsaved.clear()
        self._new_by_fingerprint.clear()


@contextmanager
def deciding(
    delivered: Sequence[IncidentIn], *, dedup_window: timedelta, settle: timedelta
) -> Iterator[DecisionBatch]:
    """A write transaction for deciding these incidents, and its batch."""
    with in_write_transaction(), deferred_writes.appending():
        stored = incidents.get_many(incident_ids=[i.incident_id for i in delivered])
        batch = DecisionBatch(kill_switch_state().active, stored)
        batch._read_fingerprints(delivered, dedup_window, settle)
        yield batch
        batch._store_the_rest()
