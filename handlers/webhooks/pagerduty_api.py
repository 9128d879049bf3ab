"""PagerDuty's REST API, as the bot uses it when PAGERDUTY_API_TOKEN is set: resolving an incident
back (a note with the outcome, then the status, through the outbox) and finding the e-mail of the
user who triggered one (so that the creator's DM reaches them in Slack, through users.lookupByEmail).
Every call says `From` PAGERDUTY_FROM_EMAIL: PagerDuty's REST API asks who acts."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from handlers.webhooks.vendor_api import VendorDelivery
from storage.lanes import Transport
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

NOTE = "note"
RESOLVE = "resolve"
USER_ID = re.compile(r"^[A-Z0-9]{1,20}$")  # PagerDuty's object ids (PXPGF42)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


def api_headers(token: str, from_email: str) -> dict[str, str]:
    return {
        "Authorization": f"Token token={token}",
        "From": from_email,
        "Accept": "application/vnd.pagerduty+json;version=2",
    }


class PagerDutyDelivery(VendorDelivery):
    """Sends the queued notes and resolutions to PagerDuty's REST API, in order per incident."""

    transport = Transport.PAGERDUTY
    vendor = "PagerDuty"
    source = "pagerduty"

    def __init__(
        self,
        *,
        owner: str,
        token: str,
        from_email: str,
        api_url: str,
        on_give_up: Callable[[OutboxMessage, str], None],
    ) -> None:
        super().__init__(
            lease_name="pagerduty-outbox",
            owner=owner,
            api_url=api_url,
            headers=api_headers(token, from_email),
            on_give_up=on_give_up,
        )

    def _request(self, client: httpx.Client, message: OutboxMessage) -> httpx.Response:
        incident = f"{self.api_url}/incidents/{quote(message.target, safe='')}"
        if message.method == NOTE:
            return client.post(f"{incident}/notes", json=message.payload)
        body: dict[str, Any] = {"incident": {"type": "incident_reference", "status": "resolved"}}
        return client.put(incident, json=body)


class PagerDutyUsers:
    """A PagerDuty user's e-mail by id (`GET /users/{id}`), remembered for an hour. Asked while a
    webhook is answered, so it waits at most `timeout` seconds (PagerDuty wants its 2xx within 5 s):
    when PagerDuty does not answer in time, or not with an e-mail, the answer is None and the
    mapping's creator is used."""

    def __init__(
        self, *, token: str, from_email: str, api_url: str, timeout: float = 2.0, remember: float = 3600.0
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.remember = remember
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=False, headers=api_headers(token, from_email)
        )
        self._known: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def email(self, user_id: str) -> str | None:
        if not USER_ID.match(user_id):
            return None
        now = time.monotonic()
        with self._lock:
            known = self._known.get(user_id)
        if known is not None and now - known[0] < self.remember:
            return known[1]
        try:
            found = self._ask(user_id)
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("PagerDuty user %s: %s (asked again next time)", user_id, exc)
            return None
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[user_id] = (now, found)
        return found

    def _ask(self, user_id: str) -> str | None:
        """The user's e-mail, None when PagerDuty has none for them; raises when it did not say."""
        response = self._client.get(f"{self.api_url}/users/{user_id}")
        if response.status_code in (404, 410):
            return None
        response.raise_for_status()
        email = response.json().get("user", {}).get("email")
        return email if isinstance(email, str) and EMAIL.match(email) else None

    def close(self) -> None:
        self._client.close()
