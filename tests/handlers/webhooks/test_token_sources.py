"""POST /webhooks/opsgenie and /webhooks/datadog over HTTP: sources that sign nothing, authenticated by
the token their integration sends as a custom header.

Opsgenie's payloads are its documented alert action data (Opsgenie docs, "Alert action data": the
Create example, with alert details added as its integration sends them when "Add Alert Details" is
on, and a Close of the same alert). Datadog's is the template docs/sources.md gives, filled in as
Datadog fills its variables ($ALERT_CYCLE_KEY, $ALERT_TRANSITION, $TAGS as key:value,key:value...)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.handlers.webhooks.conftest import Hooks

OPSGENIE_TOKEN = "og-token"
DATADOG_TOKEN = "dd-token"
OPSGENIE_CREATE: dict[str, Any] = {
    "source": {"name": "web", "type": "API"},
    "alert": {
        "updatedAt": 1420452193166002000,
        "tags": ["tag1", "tag2"],
        "teams": ["team1", "team2"],
        "recipients": ["recipient1", "recipient2"],
        "message": " test alert",
        "username": "fili@ifountain.com",
        "alertId": "052652ac-5d1c-464a-812a-7dd18bbfba8c",
        "source": "fili@ifountain.com",
        "alias": "aliastest",
        "tinyId": "23",
        "createdAt": 1420452191104,
        "userId": "daed1180-0ce8-438b-8f8e-57e1a5920a2d",
        "entity": "",
        "priority": "P2",
        "details": {"category": "database", "confidence": "0.95", "service": "orders-db"},
    },
    "action": "Create",
    "integrationId": "37c8f316-17c6-49d7-899b-9c7e540c048d",
    "integrationName": "Integration1",
}
OPSGENIE_ID = "og-052652ac-5d1c-464a-812a-7dd18bbfba8c"


def opsgenie(action: str = "Create", **alert: Any) -> dict[str, Any]:
    document = copy.deepcopy(OPSGENIE_CREATE)
    document["action"] = action
    document["alert"].update(alert)
    return document


def datadog(transition: str = "Triggered", **fields: Any) -> dict[str, Any]:
    return {
        "id": "1234567890123456789",
        "transition": transition,
        "title": "[Triggered] Disk almost full on db1",
        "message": "/var is at 97% on db1",
        "priority": "P1",
        "creator": "",
        "tags": "category:infrastructure,confidence:0.97,created_by:U012ABCDEF,env:prod,instance:db1:9100",
        "hostname": "db1",
        "link": "https://app.datadoghq.com/event/event?id=1234567890123456789",
        **fields,
    }


def post(hooks: Hooks, path: str, document: Any, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return hooks.http.post(path, json=document, headers=headers)


@pytest.fixture
def sources(make_hooks) -> Hooks:
    return make_hooks(opsgenie_webhook_token=OPSGENIE_TOKEN, datadog_webhook_token=DATADOG_TOKEN)


def resolved(hooks: Hooks, incident_id: str) -> dict[str, Any]:
    detail = eventually(
        lambda: (
            (d := hooks.api.get(f"/api/v1/incidents/{incident_id}").json()).get("status") == "auto_resolved"
            and d
        )
    )
    assert isinstance(detail, dict)
    return detail


def test_an_opsgenie_alert_created_is_decided_and_runs(sources):
    response = post(sources, "/webhooks/opsgenie", opsgenie(), OPSGENIE_TOKEN)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"][0]["incident_id"] == OPSGENIE_ID
    detail = resolved(sources, OPSGENIE_ID)
    assert (detail["title"], detail["priority"], detail["created_by"]) == (
        "test alert",
        "high",
        "fili@ifountain.com",
    )


def test_an_opsgenie_alert_closed_is_recorded(sources):
    post(sources, "/webhooks/opsgenie", opsgenie(), OPSGENIE_TOKEN)
    answer = post(sources, "/webhooks/opsgenie", opsgenie("Close"), OPSGENIE_TOKEN).json()
    assert answer["accepted"][0]["reason"].startswith("Closed in Opsgenie by fili@ifountain.com")


def test_other_opsgenie_actions_are_ignored(sources):
    answer = post(sources, "/webhooks/opsgenie", opsgenie("Acknowledge"), OPSGENIE_TOKEN)
    assert (answer.status_code, answer.json()["ignored"]) == (202, "Acknowledge")
    assert sources.api.get(f"/api/v1/incidents/{OPSGENIE_ID}").status_code == 404


def test_an_opsgenie_alert_without_its_details_is_refused_by_name(sources):
    answer = post(sources, "/webhooks/opsgenie", opsgenie(details={}), OPSGENIE_TOKEN)
    assert answer.status_code == 422
    assert answer.json()["rejected"][0]["errors"][0] == {
        "field": "alert.details.category",
        "message": "missing (set the label, or OPSGENIE_DEFAULT_CATEGORY)",
    }


def test_a_datadog_monitor_triggered_is_decided_and_recovered_is_recorded(sources):
    response = post(sources, "/webhooks/datadog", datadog(), DATADOG_TOKEN)
    assert response.status_code == 202, response.text
    incident_id = response.json()["accepted"][0]["incident_id"]
    assert incident_id == "dd-1234567890123456789"
    detail = resolved(sources, incident_id)
    assert (detail["category"], detail["priority"], detail["created_by"]) == (
        "infrastructure",
        "critical",
        "U012ABCDEF",
    )
    again = post(sources, "/webhooks/datadog", datadog("Re-Triggered"), DATADOG_TOKEN).json()["accepted"][0]
    assert (again["incident_id"], again["new"]) == (incident_id, False)  # one alert cycle, one incident
    recovered = post(sources, "/webhooks/datadog", datadog("Recovered"), DATADOG_TOKEN).json()
    assert recovered["accepted"][0]["reason"].startswith("Recovered in Datadog")
    warned = post(sources, "/webhooks/datadog", datadog("Warn"), DATADOG_TOKEN).json()
    assert warned["ignored"] == "Warn"


@pytest.mark.parametrize(
    ("path", "document", "token", "reason"),
    [
        ("/webhooks/opsgenie", opsgenie(), None, "missing bearer token"),
        ("/webhooks/opsgenie", opsgenie(), DATADOG_TOKEN, "wrong bearer token"),
        ("/webhooks/datadog", datadog(), OPSGENIE_TOKEN, "wrong bearer token"),
    ],
)
def test_a_delivery_without_the_sources_own_token_is_refused_and_audited(
    sources, path, document, token, reason
):
    response = post(sources, path, document, token)
    assert (response.status_code, response.json()["error"]) == (401, f"Webhook refused: {reason}")
    (refusal,) = sources.audit(action="request_refused")
    assert refusal["error_message"].endswith(f"webhook: {reason}")


@pytest.mark.parametrize(
    ("path", "setting"), [("/webhooks/opsgenie", "OPSGENIE"), ("/webhooks/datadog", "DATADOG")]
)
def test_with_no_token_the_endpoint_is_off(make_hooks, path, setting):
    response = post(make_hooks(), path, {}, "anything")
    assert response.status_code == 404
    assert f"{setting}_WEBHOOK_TOKEN" in response.json()["error"]


def test_malformed_deliveries_name_the_field(sources):
    bad = post(sources, "/webhooks/opsgenie", opsgenie(alertId="../x"), OPSGENIE_TOKEN)
    assert (bad.status_code, bad.json()["fields"][0]["field"]) == (422, "alert.alertId")
    missing = post(sources, "/webhooks/datadog", {"title": "no id"}, DATADOG_TOKEN)
    assert (missing.status_code, missing.json()["fields"][0]["field"]) == (422, "id")
