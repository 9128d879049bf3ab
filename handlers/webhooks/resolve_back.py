"""Resolving back: when the bot resolves an incident that came from PagerDuty or Opsgenie (or JSM),
it is resolved there too, with a note holding the outcome and the audit trail's address.

Through the outbox, like every message: queued in the transaction that records the outcome, on the
incident's own lane, then sent by the vendor's delivery (handlers/webhooks/pagerduty_api.py,
opsgenie_api.py; the retry rule in vendor_api.py). A failure there never changes the outcome here.
On per vendor, when its API credentials are set (PAGERDUTY_API_TOKEN, OPSGENIE_API_KEY)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from engine.events import Event, RunReport
from handlers.webhooks import opsgenie_api, pagerduty_api
from storage import outbox
from storage.lanes import Lane, LaneKind, Purpose
from storage.statuses import RunStatus

NOTE_LIMIT = 25_000  # both vendors' note limit, in characters

# For each source: its incident ids' prefix, its lane kind, and the calls, in order, that resolve
# one of its incidents (each given the note).
Calls = list[tuple[str, Callable[[str], dict[str, Any]]]]
VENDORS: dict[str, tuple[str, LaneKind, Calls]] = {
    "pagerduty": (
        "pd-",
        LaneKind.PAGERDUTY,
        [
            (pagerduty_api.NOTE, lambda note: {"note": {"content": note}}),
            (pagerduty_api.RESOLVE, lambda note: {}),
        ],
    ),
    "opsgenie": (
        "og-",
        LaneKind.OPSGENIE,
        [(opsgenie_api.CLOSE, lambda note: {"user": "Autoresolve", "source": "Autoresolve", "note": note})],
    ),
}


class ResolveBack:
    """A Notifier: a resolved run of an incident from one of `sources` queues its resolution there."""

    def __init__(self, public_url: str | None, sources: Collection[str]) -> None:
        self.public_url = (public_url or "").rstrip("/")
        unknown = set(sources) - VENDORS.keys()
        assert not unknown, f"no resolving back to {unknown}"
        self.sources = frozenset(sources)

    def tell(self, event: Event) -> None:
        match event:
            case RunReport(status=RunStatus.RESOLVED, dry_run=False) if event.source in self.sources:
                self._queue(event)
            case _:
                pass  # only what the bot resolved goes back

    def note(self, report: RunReport) -> str:
        audit = f"{self.public_url}/api/v1/audit/incident/{report.incident_id}" if self.public_url else None
        text = f"Autoresolve ran runbook {report.runbook_id}: {report.message}"
        return (text + (f" Audit trail: {audit}" if audit else ""))[:NOTE_LIMIT]

    def _queue(self, report: RunReport) -> None:
        prefix, lane_kind, calls = VENDORS[report.source or ""]
        vendor_id = report.incident_id.removeprefix(prefix)
        note = self.note(report)
        for method, payload in calls:
            outbox.enqueue(
                lane=Lane(lane_kind, vendor_id),
                method=method,
                target=vendor_id,
                payload=payload(note),
                purpose=Purpose.RESOLVE_BACK,
                incident_id=report.incident_id,
            )
