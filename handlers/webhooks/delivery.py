"""Delivering result callbacks from the outbox: signed POSTs, in order per URL (each URL its own lane),
retried until taken, never to a destination inside (handlers/webhooks/destinations).

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

from handlers.delivery_common import OutboxDispatcher, retry_after_seconds, retry_delay
from handlers.webhooks.destinations import CallbackPolicy, DestinationRefused, DestinationUnresolved
from handlers.webhooks.signing import signed_result_headers
from storage import outbox
from storage.fields import utcnow
from storage.lanes import Lane, Transport
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)
LEASE_NAME = "webhook-outbox"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
LANE_WORKERS = 8  # callback URLs delivered at once; a receiver that hangs holds only its own


class WebhookDelivery(OutboxDispatcher):
    transport = Transport.WEBHOOK

    def __init__(
        self,
        *,
        owner: str,
        secret: str | None,
        on_give_up: Callable[[OutboxMessage, str], None],
        policy: CallbackPolicy | None = None,
        trusted_url: str | None = None,
        timeout: float = 10.0,
        max_age: timedelta = timedelta(hours=48),
    ) -> None:
        super().__init__(LEASE_NAME, owner, lane_workers=LANE_WORKERS, on_give_up=on_give_up, max_age=max_age)
        self.secret = secret
        self.policy = policy or CallbackPolicy()
        self.trusted_url = trusted_url  # RESULT_WEBHOOK_URL: the operator's own, called as it is
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def _drain(self, lane: Lane, messages: list[OutboxMessage]) -> int:
        """POST the lane's results in order (one URL's), stopping at the first that must wait."""
        settled = 0
        for message in messages:
            if message.next_attempt_at > utcnow() or not self._deliver(message):
                break  # later results to this URL wait their turn; other URLs go on meanwhile
            settled += 1
        return settled

    def _deliver(self, message: OutboxMessage) -> bool:
        """True once the message is settled (taken, or given up for good). Whatever goes wrong
        (a URL httpx cannot use, an odd header) is this message's trouble, never the loop's."""
        try:
            return self._post(message)
        except Exception as exc:
            log.warning("result callback %s failed unexpectedly: %s", message.id, type(exc).__name__)
            return self._later(message, f"{type(exc).__name__}: {exc}")

    def _post(self, message: OutboxMessage) -> bool:
        body = json.dumps(message.payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "autoresolve",
            "X-Autoresolve-Delivery": str(message.id),
            "X-Autoresolve-Event": str(message.payload.get("event", "incident.result")),
        }
        if self.secret:
            headers.update(signed_result_headers(self.secret, int(time.time()), body))
        try:
            url, extra, extensions = (
                (message.target, {}, {})
                if message.target == self.trusted_url
                else self.policy.pin(message.target)
            )
        except DestinationRefused as exc:
            return self._give_up(message, f"destination refused: {exc}")
        except DestinationUnresolved as exc:
            return self._later(message, str(exc))
        try:
            response = self._client.post(
                url, content=body, headers={**headers, **extra}, extensions=extensions
            )
        except httpx.InvalidURL as exc:
            return self._give_up(message, f"not a usable URL: {exc}")
        except httpx.HTTPError as exc:
            return self._later(message, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            outbox.mark_sent(message=message)
            return True
        error = f"HTTP {response.status_code}"
        if response.status_code in RETRYABLE_STATUSES:
            delay = retry_after_seconds(
                response.headers.get("retry-after"), default=retry_delay(message.attempts)
            )
            return self._later(message, error, delay)
        return self._give_up(message, error)

    def _give_up(self, message: OutboxMessage, error: str) -> bool:
        self.give_up(message, f"{message.target}: {error}")
        return True

    def _later(self, message: OutboxMessage, error: str, delay: float | None = None) -> bool:
        if self.too_old(message):
            return self._give_up(message, f"{error} (still failing after {self.max_age})")
        self.retry_later(message, error, delay)
        return False

    def close(self) -> None:
        super().close()
        self._client.close()
