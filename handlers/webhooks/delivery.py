"""Delivering result callbacks from the outbox: signed POSTs, in order per URL, retried until taken.

Each POST carries `X-Autoresolve-Delivery: <id>`, the same on every retry of one result, so a
receiver that saw a delivery whose answer got lost can recognise the retry.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import httpx

from handlers.delivery_common import OutboxDispatcher, retry_delay
from handlers.webhooks.signing import signed_headers
from storage import outbox
from storage.fields import utcnow
from storage.models import OutboxMessage

log = logging.getLogger(__name__)
LEASE_NAME = "webhook-outbox"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookDelivery(OutboxDispatcher):
    def __init__(
        self,
        *,
        owner: str,
        secret: str | None,
        on_give_up: Callable[[OutboxMessage, str], None],
        timeout: float = 10.0,
        max_age: timedelta = timedelta(hours=48),
    ) -> None:
        super().__init__(LEASE_NAME, owner)
        self.secret = secret
        self.on_give_up = on_give_up
        self.max_age = max_age
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def _deliver_due(self) -> int:
        """POST what is due, oldest first per URL."""
        blocked: set[str] = set()
        settled = 0
        for message in outbox.heads_of_lanes(transport="webhook"):
            if message.lane in blocked:
                continue
            if message.next_attempt_at > utcnow() or not self._deliver(message):
                blocked.add(message.lane)  # later results to this URL wait their turn
                continue
            settled += 1
        return settled

    def _deliver(self, message: OutboxMessage) -> bool:
        """True once the message is settled (taken, or given up for good)."""
        body = json.dumps(message.payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "autoresolve",
            "X-Autoresolve-Delivery": str(message.id),
            "X-Autoresolve-Event": str(message.payload.get("event", "incident.result")),
        }
        if self.secret:
            headers.update(signed_headers(self.secret, int(time.time()), body))
        try:
            response = self._client.post(message.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return self._later(message, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            outbox.mark_sent(message=message)
            return True
        error = f"HTTP {response.status_code}"
        if response.status_code in RETRYABLE_STATUSES:
            retry_after = response.headers.get("retry-after", "")
            return self._later(message, error, float(retry_after) if retry_after.isdigit() else None)
        log.error("result callback %s refused for good: %s", message.id, error)
        outbox.mark_failed(message=message, error=error)
        self.on_give_up(message, f"{message.target}: {error}")
        return True

    def _later(self, message: OutboxMessage, error: str, delay: float | None = None) -> bool:
        if utcnow() - message.created_at > self.max_age:
            outbox.mark_failed(message=message, error=error)
            self.on_give_up(message, f"{message.target}: {error} (still failing after {self.max_age})")
            return True
        outbox.retry_later(message=message, error=error, delay_seconds=delay or retry_delay(message.attempts))
        return False

    def close(self) -> None:
        self._client.close()
