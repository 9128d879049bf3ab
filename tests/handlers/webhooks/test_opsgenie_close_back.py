"""Closing back in Opsgenie (or JSM): an alert the bot resolves is closed there with a note, through
the outbox, against a local emulator of Opsgenie's Alert API over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.database import db_connection
from storage.outbox import OutboxMessage
from tests.conftest import eventually
from tests.handlers.webhooks.conftest import Hooks
from tests.handlers.webhooks.test_token_sources import OPSGENIE_ID, OPSGENIE_TOKEN, opsgenie, post
from tests.support.opsgenie_emulator import OpsgenieEmulator

API_KEY = "og-api-integration-key"
ALERT = OPSGENIE_ID.removeprefix("og-")


@pytest.fixture
def opsgenie_api() -> Iterator[OpsgenieEmulator]:
    emulator = OpsgenieEmulator(api_key=API_KEY)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def closing_back(make_hooks, opsgenie_api) -> Hooks:
    return make_hooks(
        opsgenie_webhook_token=OPSGENIE_TOKEN,
        opsgenie_api_key=API_KEY,
        opsgenie_api_url=opsgenie_api.url,
        public_url="https://bot.example.com",
    )


def test_an_alert_the_bot_resolves_is_closed_in_opsgenie_with_a_note(closing_back, opsgenie_api):
    post(closing_back, "/webhooks/opsgenie", opsgenie(), OPSGENIE_TOKEN)
    eventually(lambda: opsgenie_api.calls)
    (close,) = opsgenie_api.calls
    assert (close.method, close.path, close.status) == (
        "POST",
        f"/v2/alerts/{ALERT}/close?identifierType=id",
        202,
    )
    assert close.header("authorization") == f"GenieKey {API_KEY}"
    assert close.body["note"].startswith("Autoresolve ran runbook db-fix: All 1 step(s) succeeded")
    assert close.body["note"].endswith(
        f"Audit trail: https://bot.example.com/api/v1/audit/incident/{OPSGENIE_ID}"
    )
    assert (close.body["user"], close.body["source"]) == ("Autoresolve", "Autoresolve")


def test_opsgenie_saying_wait_is_waited_for_and_the_close_is_sent_once(closing_back, opsgenie_api):
    opsgenie_api.refuse(429, retry_after="1")
    opsgenie_api.refuse(502)
    post(closing_back, "/webhooks/opsgenie", opsgenie(), OPSGENIE_TOKEN)
    eventually(lambda: [c.status for c in opsgenie_api.calls][-1:] == [202], timeout=30)
    assert [c.status for c in opsgenie_api.calls] == [429, 502, 202]
    assert closing_back.audit(action="notification_failed") == []


def test_a_close_opsgenie_refuses_is_audited_and_our_outcome_stands(make_hooks, opsgenie_api):
    hooks = make_hooks(
        opsgenie_webhook_token=OPSGENIE_TOKEN,
        opsgenie_api_key="a-revoked-key",
        opsgenie_api_url=opsgenie_api.url,
    )
    post(hooks, "/webhooks/opsgenie", opsgenie(), OPSGENIE_TOKEN)
    eventually(lambda: hooks.audit(action="notification_failed"))
    (row,) = hooks.audit(action="notification_failed")
    assert row["error_message"].startswith("Opsgenie close: HTTP 401")
    assert row["details"]["about"] == "resolve_back"
    assert len(opsgenie_api.calls) == 1  # a refusal is not retried
    assert hooks.api.get(f"/api/v1/incidents/{OPSGENIE_ID}").json()["status"] == "auto_resolved"


def test_an_alert_the_bot_did_not_resolve_is_left_open_there(closing_back, opsgenie_api):
    below = opsgenie(details={"category": "database", "confidence": "0.4", "service": "orders-db"})
    assert post(closing_back, "/webhooks/opsgenie", below, OPSGENIE_TOKEN).json()["accepted"][0][
        "decision"
    ] == ("skipped")
    with db_connection():
        assert OutboxMessage.select().where(OutboxMessage.transport == "opsgenie").count() == 0
    assert opsgenie_api.calls == []
