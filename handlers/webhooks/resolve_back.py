"""Resolving back in PagerDuty: when the bot resolves an incident that came from PagerDuty, it adds a
note with the outcome (and the audit trail's address) and resolves the incident there too.

Through the outbox, like every message: queued in the transaction that records the outcome, sent in
order (the note, then the status) on the incident's own lane, retried on 429 (Retry-After) and 5xx,
given up on any other answer and audited as `notification_failed`. A failure there never changes
the outcome here. On only when PAGERDUTY_API_TOKEN is set (with PAGERDUTY_FROM_EMAIL: PagerDuty's REST
API asks who acts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from engine.events import Event, RunReport
from handlers.delivery_common import OutboxDispatcher, retry_after_seconds, retry_delay
from storage import outbox
from storage.fields import utcnow
from storage.lanes import Lane, LaneKind, Purpose, Transport
from storage.outbox import OutboxMessage
from storage.statuses import RunStatus

log = logging.getLogger(__name__)

LEASE_NAME = "pagerduty-outbox"
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
NOTE = "note"
RESOLVE = "resolve"


class ResolveBack:
    """A Notifier: a resolved run of a PagerDuty incident queues its note and its resolution."""

    def __init__(self, public_url: str | None) -> None:
        self.public_url = (public_url or "").rstrip("/")

    def tell(self, event: Event) -> None:
        match event:
            case RunReport(status=RunStatus.RESOLVED, source="pagerduty", dry_run=False):
                self._queue(event)
            case _:
                pass  # only what the bot resolved goes back

    def _queue(self, report: RunReport) -> None:
        pagerduty_id = report.incident_id.removeprefix("pd-")
        audit = f"{self.public_url}/api/v1/audit/incident/{report.incident_id}" if self.public_url else None
        note = f"Autoresolve ran runbook {report.runbook_id}: {report.message}" + (
            f" Audit trail: {audit}" if audit else ""
        )
        for method, payload in ((NOTE, {"note": {"content": note[:25_000]}}), (RESOLVE, {})):
            outbox.enqueue(
                lane=Lane(LaneKind.PAGERDUTY, pagerduty_id),
                method=method,
                target=pagerduty_id,
                payload=payload,
                purpose=Purpose.RESOLVE_BACK,
                incident_id=report.incident_id,
            )


class PagerDutyDelivery(OutboxDispatcher):
    """Sends the queued notes and resolutions to PagerDuty's REST API, in order per incident."""

    transport = Transport.PAGERDUTY

    def __init__(
        self,
        *,
        owner: str,
        token: str,
        from_email: str,
        api_url: str,
        on_give_up: Callable[[OutboxMessage, str], None],
        timeout: float = 10.0,
    ) -> None:
        super().__init__(LEASE_NAME, owner, lane_workers=4, on_give_up=on_give_up)
        self.api_url = api_url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={
                "Authorization": f"Token token={token}",
                "From": from_email,
                "Accept": "application/vnd.pagerduty+json;version=2",
                "Content-Type": "application/json",
            },
        )

    def _drain(self, lane: Lane, messages: list[OutboxMessage]) -> int:
        settled = 0
        for message in messages:
            if message.next_attempt_at > utcnow() or not self._send(message):
                break  # the resolution waits for its note; other incidents go on meanwhile
            settled += 1
        return settled

    def _request(self, message: OutboxMessage) -> httpx.Response:
        incident = f"{self.api_url}/incidents/{message.target}"
        if message.method == NOTE:
            return self._client.post(f"{incident}/notes", json=message.payload)
        body: dict[str, Any] = {"incident": {"type": "incident_reference", "status": "resolved"}}
        return self._client.put(incident, json=body)

    def _send(self, message: OutboxMessage) -> bool:
        """True once the message is settled (taken, or given up for good)."""
        try:
            response = self._request(message)
        except httpx.HTTPError as exc:
            return self._later(message, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            outbox.mark_sent(message=message)
            return True
        error = f"PagerDuty {message.method}: HTTP {response.status_code} {response.text[:300]}".strip()
        if response.status_code in RETRYABLE:
            delay = retry_after_seconds(
                response.headers.get("retry-after"), default=retry_delay(message.attempts)
            )
            return self._later(message, error, delay)
        self.give_up(message, error)
        return True

    def _later(self, message: OutboxMessage, error: str, delay: float | None = None) -> bool:
        if self.too_old(message):
            self.give_up(message, f"{error} (still failing after {self.max_age})")
            return True
        self.retry_later(message, error, delay)
        return False

    def close(self) -> None:
        super().close()
        self._client.close()
