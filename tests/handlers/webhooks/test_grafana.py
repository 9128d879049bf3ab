"""POST /webhooks/grafana over HTTP, signed as Grafana signs: its webhook contact point's payload
(`"version": "1"`), the HMAC over the body or over `timestamp:body`, forged, stale, replayed and
unconfigured deliveries.

The payload is Grafana's default webhook body as grafana/alerting builds it (receivers/webhook/v1:
version, groupKey, truncatedAlerts, orgId, title, state, message over Alertmanager's fields, and per
alert silenceURL, dashboardURL, panelURL, values), with real times and the labels a team would add
for us (category, confidence, created_by)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.handlers.webhooks.conftest import Hooks

GRAFANA_SECRET = "grafana-hmac-secret"
STAMP_HEADER = "X-Grafana-Alerting-Signature-Timestamp"
ALERT: dict[str, Any] = {
    "status": "firing",
    "labels": {
        "alertname": "DiskAlmostFull",
        "grafana_folder": "Infra",
        "category": "infrastructure",
        "confidence": "0.97",
        "created_by": "U012ABCDEF",
        "instance": "db1:9100",
        "severity": "critical",
    },
    "annotations": {"summary": "Disk almost full on db1", "description": "/var at 97%"},
    "startsAt": "2026-11-27T07:45:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://grafana:3000/alerting/grafana/fe3b8/view?orgId=1",
    "fingerprint": "fac0861a85de433a",
    "silenceURL": "http://grafana:3000/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DDiskAlmostFull",
    "dashboardURL": "http://grafana:3000/d/abcd?orgId=1",
    "panelURL": "http://grafana:3000/d/abcd?orgId=1&viewPanel=4",
    "values": {"A": 97.2, "C": 1},
    "valueString": "[ var='A' labels={instance=db1:9100} value=97.2 ]",
}


def grafana_payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "receiver": "autoresolve",
        "status": status,
        "alerts": list(alerts) or [ALERT],
        "groupLabels": {"alertname": "DiskAlmostFull", "grafana_folder": "Infra"},
        "commonLabels": {"alertname": "DiskAlmostFull", "grafana_folder": "Infra"},
        "commonAnnotations": {},
        "externalURL": "http://grafana:3000/",
        "version": "1",
        "groupKey": '{}:{alertname="DiskAlmostFull", grafana_folder="Infra"}',
        "truncatedAlerts": 0,
        "orgId": 1,
        "title": "[FIRING:1] DiskAlmostFull Infra (db1:9100 critical)",
        "state": "alerting",
        "message": "**Firing**\n\nValue: A=97.2, C=1\nLabels:\n - alertname = DiskAlmostFull\n",
    }


def grafana_headers(body: bytes, *, secret: str = GRAFANA_SECRET, stamp: str | None = None) -> dict[str, str]:
    """As Grafana's contact point signs: hex HMAC-SHA256 of the body, or of "<timestamp>:<body>"."""
    signed = body if stamp is None else f"{stamp}:".encode() + body
    headers = {
        "Content-Type": "application/json",
        "X-Grafana-Alerting-Signature": hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest(),
    }
    if stamp is not None:
        headers[STAMP_HEADER] = stamp
    return headers


def send(hooks: Hooks, document: Any, **signing: Any) -> httpx.Response:
    body = json.dumps(document).encode()
    return hooks.http.post("/webhooks/grafana", content=body, headers=grafana_headers(body, **signing))


@pytest.fixture
def grafana(make_hooks) -> Hooks:
    return make_hooks(grafana_webhook_secret=GRAFANA_SECRET)


def test_a_signed_grafana_alert_becomes_an_incident_and_runs(grafana):
    response = send(grafana, grafana_payload())
    assert response.status_code == 202, response.text
    (accepted,) = response.json()["accepted"]
    incident_id = "gf-fac0861a85de433a-20261127T074500Z"
    assert (accepted["incident_id"], accepted["decision"]) == (incident_id, "queued")
    detail = eventually(
        lambda: (
            (d := grafana.api.get(f"/api/v1/incidents/{incident_id}").json())["status"] == "auto_resolved"
            and d
        )
    )
    assert isinstance(detail, dict)
    assert (detail["title"], detail["priority"], detail["created_by"]) == (
        "Disk almost full on db1",
        "critical",
        "U012ABCDEF",
    )
    (received,) = grafana.audit(incident_id=incident_id, action="incident_received")
    assert (received["actor"], received["details"]["source"]) == ("grafana", "grafana")


def test_a_resolved_alert_is_recorded_on_its_incident(grafana):
    send(grafana, grafana_payload())
    resolved = {**ALERT, "status": "resolved", "endsAt": "2026-11-27T08:05:00Z"}
    answer = send(grafana, grafana_payload(resolved, status="resolved")).json()
    (recorded,) = answer["accepted"]
    assert recorded["incident_id"] == "gf-fac0861a85de433a-20261127T074500Z"
    assert recorded["reason"].startswith("Alert resolved (ends 2026-11-27T08:05:00")


@pytest.mark.parametrize(
    ("signing", "reason"),
    [
        ({"secret": "not-the-secret"}, "bad signature"),
        ({"secret": ""}, "bad signature"),
    ],
)
def test_a_forged_delivery_is_refused_and_audited(grafana, signing, reason):
    response = send(grafana, grafana_payload(), **signing)
    assert response.status_code == 401
    assert response.json()["error"] == f"Webhook refused: {reason}"
    (refusal,) = grafana.audit(action="request_refused")
    assert refusal["error_message"] == f"Grafana webhook: {reason}"
    assert grafana.api.get("/api/v1/incidents/gf-fac0861a85de433a-20261127T074500Z").status_code == 404


def test_a_delivery_without_a_signature_is_refused(grafana):
    response = grafana.http.post("/webhooks/grafana", json=grafana_payload())
    assert response.status_code == 401
    assert response.json()["error"] == "Webhook refused: missing X-Grafana-Alerting-Signature"


def test_with_a_timestamp_header_a_delivery_is_dated_and_taken_once(make_hooks):
    hooks = make_hooks(grafana_webhook_secret=GRAFANA_SECRET, grafana_webhook_timestamp_header=STAMP_HEADER)
    body = json.dumps(grafana_payload()).encode()
    now = str(int(time.time()))
    headers = grafana_headers(body, stamp=now)
    assert hooks.http.post("/webhooks/grafana", content=body, headers=headers).status_code == 202
    replay = hooks.http.post("/webhooks/grafana", content=body, headers=headers)
    assert (replay.status_code, replay.json()["error"]) == (401, "Webhook refused: replayed signature")
    stale = grafana_headers(body, stamp=str(int(time.time()) - 3600))
    refused = hooks.http.post("/webhooks/grafana", content=body, headers=stale)
    assert refused.json()["error"] == f"Webhook refused: missing, stale or invalid {STAMP_HEADER}"
    undated = grafana_headers(body)  # signed over the body alone: not what this contact point sends
    assert hooks.http.post("/webhooks/grafana", content=body, headers=undated).status_code == 401


def test_without_a_timestamp_the_same_delivery_again_is_the_same_incident(grafana):
    first = send(grafana, grafana_payload()).json()["accepted"][0]
    again = send(grafana, grafana_payload()).json()["accepted"][0]
    assert first["incident_id"] == again["incident_id"]
    assert again["new"] is False


def test_with_no_secret_the_endpoint_is_off_and_says_which_setting_turns_it_on(make_hooks):
    hooks = make_hooks()
    response = send(hooks, grafana_payload())
    assert response.status_code == 404
    assert "GRAFANA_WEBHOOK_SECRET" in response.json()["error"]
    (refusal,) = hooks.audit(action="request_refused")
    assert refusal["error_message"] == "Grafana webhook: off"


def test_a_malformed_payload_names_the_field(grafana):
    response = send(grafana, {**grafana_payload(), "alerts": "none"})
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "alerts"
    missing = {**ALERT, "labels": {"alertname": "NoLabels"}}
    rejected = send(grafana, grafana_payload(missing)).json()
    assert rejected["rejected"][0]["errors"][0] == {
        "field": "alerts[0].labels.category",
        "message": "missing (set the label, or GRAFANA_DEFAULT_CATEGORY)",
    }
