"""Property: no body of any shape makes an incident endpoint answer 500 or leak a trace."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.handlers.webhooks.conftest import TOKEN, incident

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [*incident().keys(), "labels", "tags", "callback_url", "runbook", "fingerprint", "created_at"]


@st.composite
def mutated_incidents(draw: st.DrawFn) -> Any:
    """A valid incident with some fields replaced by anything, or removed."""
    body: dict[str, Any] = incident(draw(st.sampled_from(["INC-1", "INC-2", "x" * 200, "bad id", ""])))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            body[name] = draw(json_values)
        else:
            body.pop(name, None)
    return body


bodies = json_values | mutated_incidents() | st.lists(mutated_incidents(), max_size=3)
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_well_formed(response: Any) -> None:
    assert response.status_code in (202, 400, 404, 413, 422), response.text
    body = response.json()
    text = json.dumps(body)
    assert "Traceback" not in text
    if response.status_code != 202:
        assert body["error"]
    for rejected in body.get("rejected", []) if isinstance(body, dict) else []:
        assert all(error["field"] and error["message"] for error in rejected["errors"])


@pytest.mark.parametrize("path", ["/webhooks/incidents", "/webhooks/alertmanager"])
@SETTINGS
@given(document=bodies)
def test_webhooks_never_fail_on_any_json(hooks, path, document):
    response = hooks.http.post(
        path,
        content=json.dumps(document).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert_well_formed(response)


@SETTINGS
@given(document=mutated_incidents())
def test_rest_auto_resolve_never_fails_on_any_json(hooks, document):
    response = hooks.api.post("/api/v1/incidents/INC-1/auto-resolve", content=json.dumps(document).encode())
    assert response.status_code in (200, 202, 400, 422), response.text
    assert "Traceback" not in response.text


DELIVERIES = itertools.count()


def vendor_headers(path: str, body: bytes, delivery: int) -> dict[str, str]:
    """Each vendor's own authentication, correct, so that only the body is under test."""
    headers = {"Content-Type": "application/json"}
    if path == "/webhooks/grafana":
        headers["X-Grafana-Alerting-Signature"] = hmac.new(b"gf", body, hashlib.sha256).hexdigest()
    elif path == "/webhooks/pagerduty":
        headers["X-PagerDuty-Signature"] = "v1=" + hmac.new(b"pd", body, hashlib.sha256).hexdigest()
        headers["X-Webhook-Id"] = f"fuzz-{delivery}"
    else:
        headers["Authorization"] = "Bearer vendor-token"
    return headers


vendor_bodies = (
    json_values
    | st.fixed_dictionaries({"event": json_values})
    | st.fixed_dictionaries({"event": st.fixed_dictionaries({"event_type": st.sampled_from(
        ["incident.triggered", "incident.resolved", "incident.reopened", "x"]), "data": json_values})})
    | st.fixed_dictionaries({"action": st.sampled_from(["Create", "Close", "x"]), "alert": json_values})
    | st.fixed_dictionaries({"id": json_values, "transition": st.sampled_from(["Triggered", "Recovered"]),
                             "tags": json_values})
    | st.fixed_dictionaries({"version": st.just("1"), "status": st.just("firing"), "alerts": json_values})
)  # fmt: skip


@pytest.mark.parametrize(
    "path", ["/webhooks/grafana", "/webhooks/pagerduty", "/webhooks/opsgenie", "/webhooks/datadog"]
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=vendor_bodies)
def test_vendor_webhooks_never_fail_on_any_json(make_vendor_hooks, path, document):
    body = json.dumps(document).encode()
    headers = vendor_headers(path, body, next(DELIVERIES))  # each example its own delivery
    response = make_vendor_hooks.http.post(path, content=body, headers=headers)
    assert response.status_code != 401, response.text  # authenticated: the body is what is tested
    assert_well_formed(response)


@pytest.fixture
def make_vendor_hooks(make_hooks):
    return make_hooks(
        grafana_webhook_secret="gf",
        pagerduty_webhook_secrets=["pd"],
        opsgenie_webhook_token="vendor-token",
        datadog_webhook_token="vendor-token",
    )
