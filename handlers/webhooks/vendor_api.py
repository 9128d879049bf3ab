"""Delivering queued calls to a vendor's REST API (resolving back in PagerDuty, Opsgenie): the rule
every vendor shares. In order per incident; a 429 waits its Retry-After, 5xx and lost connections
retry on the outbox schedule; any other answer is given up and audited (`notification_failed`),
never touching the outcome here; nothing is sent twice."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable

import httpx

from handlers.delivery_common import OutboxDispatcher, retry_after_seconds, retry_delay
from storage import outbox
from storage.fields import utcnow
from storage.lanes import Lane
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class VendorDelivery(OutboxDispatcher):
    """Sends one transport's queued calls with one authenticated HTTP client; a vendor says which
    request each message is (`_request`) and by what name its errors are recorded (`vendor`)."""

    vendor: str  # its name in errors
    source: str  # the source whose incidents it resolves back

    def __init__(
        self,
        *,
        lease_name: str,
        owner: str,
        api_url: str,
        headers: dict[str, str],
        on_give_up: Callable[[OutboxMessage, str], None],
        timeout: float = 10.0,
    ) -> None:
        super().__init__(lease_name, owner, lane_workers=4, on_give_up=on_give_up)
        self.api_url = api_url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"Content-Type": "application/json", **headers},
        )

    @abstractmethod
    def _request(self, client: httpx.Client, message: OutboxMessage) -> httpx.Response:
        """Send one queued message."""

    def _drain(self, lane: Lane, messages: list[OutboxMessage]) -> int:
        settled = 0
        for message in messages:
            if message.next_attempt_at > utcnow() or not self._send(message):
                break  # a later call waits for the one before it; other incidents go on meanwhile
            settled += 1
        return settled

    def _send(self, message: OutboxMessage) -> bool:
        """True once the message is settled (taken, or given up for good)."""
        try:
            response = self._request(self._client, message)
        except httpx.HTTPError as exc:
            return self._later(message, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            outbox.mark_sent(message=message)
            return True
        error = f"{self.vendor} {message.method}: HTTP {response.status_code} {response.text[:300]}".strip()
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
