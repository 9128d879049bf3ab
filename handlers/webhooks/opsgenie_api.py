"""Closing an alert in Opsgenie (or Jira Service Management Operations) once the bot resolved it:
`POST /v2/alerts/{id}/close?identifierType=id` with a note, authenticated `GenieKey <OPSGENIE_API_KEY>`.
OPSGENIE_API_URL is https://api.opsgenie.com (https://api.eu.opsgenie.com in the EU) for Opsgenie, and
https://api.atlassian.com/jsm/ops/integration for JSM, whose integration API takes the same call."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx

from handlers.webhooks.vendor_api import VendorDelivery
from storage.lanes import Transport
from storage.outbox import OutboxMessage

CLOSE = "close"


class OpsgenieDelivery(VendorDelivery):
    """Sends the queued closes to Opsgenie's Alert API (it answers 202: the close is queued there)."""

    transport = Transport.OPSGENIE
    vendor = "Opsgenie"
    source = "opsgenie"

    def __init__(
        self, *, owner: str, api_key: str, api_url: str, on_give_up: Callable[[OutboxMessage, str], None]
    ) -> None:
        super().__init__(
            lease_name="opsgenie-outbox",
            owner=owner,
            api_url=api_url,
            headers={"Authorization": f"GenieKey {api_key}", "Accept": "application/json"},
            on_give_up=on_give_up,
        )

    def _request(self, client: httpx.Client, message: OutboxMessage) -> httpx.Response:
        alert = quote(message.target, safe="")
        return client.post(
            f"{self.api_url}/v2/alerts/{alert}/close", params={"identifierType": "id"}, json=message.payload
        )
