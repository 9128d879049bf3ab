"""POST /webhooks/pagerduty over HTTP, signed as PagerDuty signs v3 webhooks: one event per delivery,
`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]` over the raw body, `X-Webhook-Id` taken once.

The event is PagerDuty's own sample from its developer docs (PagerDuty/developer-docs,
docs/webhooks/01-v3-Overview.md, "Webhook Payload"), with `event_type` set per test."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from storage.database import db_connection
from storage.outbox import OutboxMessage
from tests.conftest import eventually
from tests.handlers.webhooks.conftest import Hooks
from tests.support.pagerduty_emulator import PagerDutyEmulator
from tests.support.vendor_emulator import VendorCall

SECRET = "pd-subscription-secret"
OLD_SECRET = "pd-secret-being-rotated-out"
SAMPLE: dict[str, Any] = {
    "event": {
        "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
        "event_type": "incident.priority_updated",
        "resource_type": "incident",
        "occurred_at": "2020-10-02T18:45:22.169Z",
        "agent": {
            "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
            "id": "PLH1HKV",
            "self": "https://api.pagerduty.com/users/PLH1HKV",
            "summary": "Tenex Engineer",
            "type": "user_reference",
        },
        "client": {"name": "PagerDuty"},
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "self": "https://api.pagerduty.com/incidents/PGR0VU2",
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "number": 2,
            "status": "triggered",
            "title": "A little bump in the road",
            "service": {
                "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                "id": "PF9KMXH",
                "self": "https://api.pagerduty.com/services/PF9KMXH",
                "summary": "API Service",
                "type": "service_reference",
            },
            "assignees": [
                {
                    "html_url": "https://acme.pagerduty.com/users/PTUXL6G",
                    "id": "PTUXL6G",
                    "self": "https://api.pagerduty.com/users/PTUXL6G",
                    "summary": "User 123",
                    "type": "user_reference",
                }
            ],
            "escalation_policy": {
                "html_url": "https://acme.pagerduty.com/escalation_policies/PUS0KTE",
                "id": "PUS0KTE",
                "self": "https://api.pagerduty.com/escalation_policies/PUS0KTE",
                "summary": "Default",
                "type": "escalation_policy_reference",
            },
            "teams": [
                {
                    "html_url": "https://acme.pagerduty.com/teams/PFCVPS0",
                    "id": "PFCVPS0",
                    "self": "https://api.pagerduty.com/teams/PFCVPS0",
                    "summary": "Engineering",
                    "type": "team_reference",
                }
            ],
            "priority": {
                "html_url": "https://acme.pagerduty.com/account/incident_priorities",
                "id": "PSO75BM",
                "self": "https://api.pagerduty.com/priorities/PSO75BM",
                "summary": "P1",
                "type": "priority_reference",
            },
            "urgency": "high",
            "conference_bridge": {
                "conference_number": "+1 1234123412,,987654321#",
                "conference_url": "https://example.com",
            },
            "resolve_reason": None,
        },
    }
}
INCIDENT_ID = "pd-PGR0VU2"


def event(event_type: str, **data: Any) -> dict[str, Any]:
    document = copy.deepcopy(SAMPLE)
    document["event"]["event_type"] = event_type
    document["event"]["data"].update(data)
    return document


def by_automation(document: dict[str, Any]) -> dict[str, Any]:
    document["event"]["agent"] = None  # triggered by an integration, not a user
    return document


def signatures(body: bytes, *secrets: str) -> str:
    """As PagerDuty signs: one v1=<hex HMAC-SHA256 of the body> per secret, comma-separated."""
    return ",".join(f"v1={hmac.new(s.encode(), body, hashlib.sha256).hexdigest()}" for s in secrets)


def send(hooks: Hooks, document: Any, *secrets: str, webhook_id: str | None = None) -> httpx.Response:
    body = json.dumps(document).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": signatures(body, *(secrets or (SECRET,))),
        "X-Webhook-Id": webhook_id or str(uuid.uuid4()),
    }
    return hooks.http.post("/webhooks/pagerduty", content=body, headers=headers)


@pytest.fixture
def pagerduty(make_hooks) -> Hooks:
    return make_hooks(
        pagerduty_webhook_secrets=[SECRET],
        pagerduty_default_category="database",
        pagerduty_default_confidence=0.95,
        pagerduty_default_creator="U012ABCDEF",
    )


def test_a_triggered_incident_is_decided_and_runs(pagerduty):
    response = send(pagerduty, event("incident.triggered"))
    assert response.status_code == 202, response.text
    (accepted,) = response.json()["accepted"]
    assert (accepted["incident_id"], accepted["decision"]) == (INCIDENT_ID, "queued")
    detail = eventually(
        lambda: (
            (d := pagerduty.api.get(f"/api/v1/incidents/{INCIDENT_ID}").json())["status"] == "auto_resolved"
            and d
        )
    )
    assert isinstance(detail, dict)
    assert (detail["title"], detail["priority"], detail["category"]) == (
        "A little bump in the road",
        "critical",  # P1
        "database",
    )
    (received,) = pagerduty.audit(incident_id=INCIDENT_ID, action="incident_received")
    assert (received["actor"], received["details"]["source"]) == ("pagerduty", "pagerduty")


def test_during_a_rotation_any_of_the_signatures_may_match(make_hooks):
    hooks = make_hooks(
        pagerduty_webhook_secrets=[OLD_SECRET, SECRET],
        pagerduty_default_category="database",
        pagerduty_default_confidence=0.95,
        pagerduty_default_creator="U012ABCDEF",
    )
    assert send(hooks, event("incident.triggered"), "some-other-secret", OLD_SECRET).status_code == 202
    assert send(hooks, event("incident.reopened"), SECRET).status_code == 202


def test_a_delivery_is_taken_once_so_a_retry_or_a_replay_runs_nothing_twice(pagerduty):
    document = event("incident.triggered")
    assert send(pagerduty, document, webhook_id="d-1").status_code == 202
    again = send(pagerduty, document, webhook_id="d-1")
    assert (again.status_code, again.json()["error"]) == (
        401,
        "Webhook refused: delivery d-1 was taken already",
    )
    (refusal,) = pagerduty.audit(action="request_refused")
    assert refusal["error_message"] == "PagerDuty webhook: delivery d-1 was taken already"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("v1=" + "0" * 64, "bad signature"),
        ("v0=abc", "missing X-PagerDuty-Signature (v1=...)"),
        ("", "missing X-PagerDuty-Signature (v1=...)"),
    ],
)
def test_a_forged_delivery_is_refused_and_audited(pagerduty, header, reason):
    body = json.dumps(event("incident.triggered")).encode()
    headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": header, "X-Webhook-Id": "f-1"}
    response = pagerduty.http.post("/webhooks/pagerduty", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, f"Webhook refused: {reason}")
    (refusal,) = pagerduty.audit(action="request_refused")
    assert refusal["error_message"] == f"PagerDuty webhook: {reason}"
    assert pagerduty.api.get(f"/api/v1/incidents/{INCIDENT_ID}").status_code == 404


def test_resolved_in_pagerduty_is_recorded_on_the_incident(pagerduty):
    send(pagerduty, event("incident.triggered"))
    answer = send(pagerduty, event("incident.resolved", status="resolved")).json()
    (recorded,) = answer["accepted"]
    assert recorded["incident_id"] == INCIDENT_ID
    assert recorded["reason"].startswith("Resolved in PagerDuty by Tenex Engineer")


def test_other_event_types_are_answered_and_ignored(pagerduty):
    response = send(pagerduty, event("incident.acknowledged"))
    assert (response.status_code, response.json()["ignored"]) == (202, "incident.acknowledged")
    assert pagerduty.api.get(f"/api/v1/incidents/{INCIDENT_ID}").status_code == 404


def test_with_no_secret_the_endpoint_is_off(make_hooks):
    hooks = make_hooks()
    response = send(hooks, event("incident.triggered"))
    assert response.status_code == 404
    assert "PAGERDUTY_WEBHOOK_SECRETS" in response.json()["error"]


def test_without_a_category_or_a_default_the_incident_is_refused_by_name(make_hooks):
    hooks = make_hooks(pagerduty_webhook_secrets=[SECRET])
    answer = send(hooks, event("incident.triggered"))
    assert answer.status_code == 422
    errors = answer.json()["rejected"][0]["errors"]
    assert errors[0] == {
        "field": "event.data.labels.category",
        "message": "missing (set the label, or PAGERDUTY_DEFAULT_CATEGORY)",
    }


def test_a_malformed_event_names_the_field(pagerduty):
    assert send(pagerduty, {"event": {"data": {}}}).json()["fields"][0]["field"] == "event.event_type"
    bad = send(pagerduty, event("incident.triggered", id="../x"))
    assert (bad.status_code, bad.json()["fields"][0]["field"]) == (422, "event.data.id")


def writes(emulator: PagerDutyEmulator) -> list[VendorCall]:
    """What was sent to resolve back (the user lookups are GETs)."""
    return [call for call in emulator.calls if call.method != "GET"]


@pytest.fixture
def pagerduty_api() -> Iterator[PagerDutyEmulator]:
    emulator = PagerDutyEmulator(token="pd-api-token")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def resolving_back(make_hooks, pagerduty_api) -> Hooks:
    return make_hooks(
        pagerduty_webhook_secrets=[SECRET],
        pagerduty_default_category="database",
        pagerduty_default_confidence=0.95,
        pagerduty_default_creator="U012ABCDEF",
        pagerduty_api_token="pd-api-token",
        pagerduty_from_email="autoresolve@example.com",
        pagerduty_api_url=pagerduty_api.url,
        public_url="https://bot.example.com",
    )


def test_an_incident_the_bot_resolves_is_resolved_in_pagerduty_with_a_note(resolving_back, pagerduty_api):
    send(resolving_back, event("incident.triggered"))
    eventually(lambda: len(writes(pagerduty_api)) == 2)
    note, resolve = writes(pagerduty_api)
    assert (note.method, note.path, note.status) == ("POST", "/incidents/PGR0VU2/notes", 201)
    assert note.body["note"]["content"].startswith("Autoresolve ran runbook db-fix: All 1 step(s) succeeded")
    assert note.body["note"]["content"].endswith(
        "Audit trail: https://bot.example.com/api/v1/audit/incident/pd-PGR0VU2"
    )
    assert (resolve.method, resolve.path, resolve.status) == ("PUT", "/incidents/PGR0VU2", 200)
    assert resolve.body == {"incident": {"type": "incident_reference", "status": "resolved"}}
    assert {k.lower(): v for k, v in resolve.headers.items()}["from"] == "autoresolve@example.com"


def test_pagerduty_saying_wait_is_waited_for_and_nothing_is_sent_twice(resolving_back, pagerduty_api):
    pagerduty_api.refuse(429, retry_after="1")
    pagerduty_api.refuse(503)
    send(resolving_back, by_automation(event("incident.triggered")))  # so no user lookup comes first
    eventually(lambda: [c.status for c in writes(pagerduty_api)][-2:] == [201, 200], timeout=30)
    assert [(c.method, c.status) for c in writes(pagerduty_api)] == [
        ("POST", 429),
        ("POST", 503),
        ("POST", 201),  # the note first, once
        ("PUT", 200),  # then the resolution, once
    ]
    assert resolving_back.audit(action="notification_failed") == []


def test_pagerduty_refusing_is_audited_and_our_outcome_stands(resolving_back, pagerduty_api):
    pagerduty_api.refuse(404)
    send(resolving_back, by_automation(event("incident.triggered")))
    rows = eventually(lambda: resolving_back.audit(action="notification_failed"))
    assert isinstance(rows, list)
    (row,) = rows
    assert row["error_message"].startswith("PagerDuty note: HTTP 404")
    assert row["details"]["about"] == "resolve_back"
    assert resolving_back.api.get(f"/api/v1/incidents/{INCIDENT_ID}").json()["status"] == "auto_resolved"


def test_what_the_bot_did_not_resolve_is_not_sent_back(make_hooks, pagerduty_api):
    hooks = make_hooks(
        pagerduty_webhook_secrets=[SECRET],
        pagerduty_default_category="database",
        pagerduty_default_confidence=0.5,  # below the threshold: skipped, never run
        pagerduty_default_creator="U012ABCDEF",
        pagerduty_api_token="pd-api-token",
        pagerduty_from_email="autoresolve@example.com",
        pagerduty_api_url=pagerduty_api.url,
    )
    assert send(hooks, event("incident.triggered")).json()["accepted"][0]["decision"] == "skipped"
    with db_connection():  # nothing queued for PagerDuty, so nothing can be sent later either
        assert OutboxMessage.select().where(OutboxMessage.transport == "pagerduty").count() == 0
    assert writes(pagerduty_api) == []


def test_the_user_who_triggered_it_is_the_creator_by_their_e_mail(resolving_back, pagerduty_api):
    pagerduty_api.users["PLH1HKV"] = "tenex@example.com"
    send(resolving_back, event("incident.triggered"))
    incident = resolving_back.api.get(f"/api/v1/incidents/{INCIDENT_ID}").json()
    assert incident["created_by"] == "tenex@example.com"  # the DM finds them in Slack by it
    (lookup,) = pagerduty_api.calls_to("GET")
    assert (lookup.path, lookup.header("from")) == ("/users/PLH1HKV", "autoresolve@example.com")
    send(resolving_back, event("incident.reopened"))
    assert len(pagerduty_api.calls_to("GET")) == 1  # remembered


def test_when_pagerduty_cannot_say_who_the_mapping_creator_stands_and_it_asks_again(
    resolving_back, pagerduty_api
):
    pagerduty_api.users["PLH1HKV"] = "tenex@example.com"
    pagerduty_api.refuse(503)
    send(resolving_back, event("incident.triggered"))
    incident = resolving_back.api.get(f"/api/v1/incidents/{INCIDENT_ID}").json()
    assert incident["created_by"] == "U012ABCDEF"  # PAGERDUTY_DEFAULT_CREATOR
    send(resolving_back, event("incident.reopened"))
    assert [c.status for c in pagerduty_api.calls_to("GET")] == [503, 200]


def test_automation_has_no_e_mail_to_look_up(resolving_back, pagerduty_api):
    send(resolving_back, by_automation(event("incident.triggered")))
    assert pagerduty_api.calls_to("GET") == []
    assert resolving_back.api.get(f"/api/v1/incidents/{INCIDENT_ID}").json()["created_by"] == "U012ABCDEF"
