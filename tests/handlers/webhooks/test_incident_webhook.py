"""POST /webhooks/incidents: authentication, partial batches, idempotency, fingerprint windows."""

from __future__ import annotations

import json
import threading
import time

import pytest

from handlers.schemas import IntakeAnswer, IntakeRefusal
from tests.conftest import eventually
from tests.handlers.webhooks.conftest import Hooks, incident, sign


def test_one_incident_is_accepted_at_once_with_its_decision(hooks):
    response = hooks.post("/webhooks/incidents", incident())
    assert response.status_code == 202
    (accepted,) = response.json()["accepted"]
    assert accepted["incident_id"] == "INC-1"
    assert accepted["decision"] == "queued"
    assert accepted["new"] is True
    assert response.json()["rejected"] == []
    eventually(lambda: hooks.api.get("/api/v1/incidents/INC-1").json()["status"] == "auto_resolved")


def test_a_signed_delivery_is_accepted(hooks):
    response = hooks.post("/webhooks/incidents", incident(), auth="signature")
    assert response.status_code == 202
    assert [(a["incident_id"], a["decision"]) for a in response.json()["accepted"]] == [("INC-1", "queued")]
    (received,) = hooks.audit(incident_id="INC-1", action="incident_received")
    assert received["actor"] == "webhook"
    assert hooks.audit(action="request_refused") == []  # the signature passed


@pytest.mark.parametrize(
    ("auth", "signing", "reason"),
    [
        ("none", {}, "missing credentials: send Authorization: Bearer, or a signature"),
        ("signature", {"secret": "wrong-secret"}, "bad signature"),
        ("signature", {"timestamp": -301}, "stale or invalid timestamp"),  # seconds from now
        ("signature", {"timestamp": +400}, "stale or invalid timestamp"),
    ],
)
def test_unauthenticated_deliveries_are_refused_and_audited(hooks, auth, signing, reason):
    if "timestamp" in signing:
        signing = {"timestamp": int(time.time()) + signing["timestamp"]}
    response = hooks.post("/webhooks/incidents", incident(), auth=auth, **signing)
    assert response.status_code == 401
    assert response.json()["error"] == f"Webhook refused: {reason}"
    (refusal,) = hooks.audit(action="request_refused")
    assert (refusal["actor"], refusal["error_message"]) == ("webhook", reason)
    assert set(refusal["details"]) == {"path", "client", "user_agent"}  # never the body
    assert "Connection pool" not in json.dumps(refusal)
    assert hooks.api.get("/api/v1/incidents/INC-1").status_code == 404


def test_a_wrong_bearer_token_is_refused(hooks):
    response = hooks.http.post(
        "/webhooks/incidents", json=incident(), headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "Webhook refused: wrong bearer token"


def test_a_replayed_signature_is_refused(hooks):
    body = json.dumps(incident()).encode()
    headers = {"Content-Type": "application/json", **sign(body)}
    assert hooks.http.post("/webhooks/incidents", content=body, headers=headers).status_code == 202
    replay = hooks.http.post("/webhooks/incidents", content=body, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["error"] == "Webhook refused: replayed signature"


def test_a_partial_batch_accepts_the_valid_items_and_names_the_faults(hooks):
    batch = [
        incident("B-1"),
        incident("B-2", confidence_score=1.5),
        "not an object",
        incident("B-4", category="payments"),
        {**incident("B-5"), "title": ""},
        incident("B-6", confidence_score=0.3),
    ]
    response = hooks.post("/webhooks/incidents", batch)
    assert response.status_code == 202
    body = response.json()
    assert IntakeAnswer.model_validate(body).model_dump() == body  # as the OpenAPI document says
    assert [(a["index"], a["incident_id"], a["decision"]) for a in body["accepted"]] == [
        (0, "B-1", "queued"),
        (5, "B-6", "skipped"),
    ]
    rejected = {r["index"]: r for r in body["rejected"]}
    assert rejected[1]["errors"][0]["field"] == "[1].confidence_score"
    assert rejected[2]["errors"] == [{"field": "[2]", "message": "expected an object"}]
    assert rejected[3]["errors"][0]["field"] == "[3].category"
    assert rejected[3]["errors"][0]["message"].startswith("unknown category 'payments'")
    assert rejected[4]["errors"][0]["field"] == "[4].title"


def test_a_delivery_with_nothing_valid_is_a_422(hooks):
    response = hooks.post("/webhooks/incidents", [incident(confidence_score="high")])
    assert response.status_code == 422
    assert response.json()["error"].startswith("[0].confidence_score:")
    assert response.json()["rejected"][0]["errors"][0]["field"] == "[0].confidence_score"
    for refused in (response, hooks.post("/webhooks/incidents", []), hooks.post("/webhooks/incidents", 42)):
        assert refused.status_code == 422
        body = refused.json()
        assert IntakeRefusal.model_validate(body).model_dump(exclude_unset=True) == body  # as documented


def test_invalid_json_is_a_422_naming_the_body(hooks):
    response = hooks.http.post(
        "/webhooks/incidents",
        content=b"{nope",
        headers={"Authorization": "Bearer hook-token", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith("body: invalid JSON")


def test_a_repeated_delivery_is_recognised_and_runs_nothing_twice(hooks):
    first = hooks.post("/webhooks/incidents", incident()).json()["accepted"][0]
    eventually(lambda: hooks.api.get("/api/v1/incidents/INC-1").json()["status"] == "auto_resolved")
    again = hooks.post("/webhooks/incidents", incident()).json()["accepted"][0]
    assert (first["new"], again["new"]) == (True, False)
    assert again["reason"] == "Incident already in status: auto_resolved"
    assert len(hooks.audit(incident_id="INC-1", action="auto_resolution_attempted")) == 1


def test_ten_concurrent_deliveries_of_one_incident_give_one_run(make_hooks, http_server):
    slow_step = f"{{name: S, http: {{url: '{http_server.url}/slow/0.5'}}}}"
    hooks = make_hooks(f"runbooks:\n  - {{id: slow, category: database, steps: [{slow_step}]}}\n")
    barrier = threading.Barrier(10)
    decisions: list[str] = []

    def deliver() -> None:
        barrier.wait()
        with hooks.app.client() as client:
            response = client.post(
                "/webhooks/incidents", json=incident(), headers={"Authorization": "Bearer hook-token"}
            )
        decisions.append(response.json()["accepted"][0]["decision"])

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(decisions) == ["queued"] + ["skipped"] * 9
    eventually(lambda: hooks.api.get("/api/v1/incidents/INC-1").json()["status"] == "auto_resolved")
    assert len(http_server.requests) == 1
    assert len(hooks.audit(incident_id="INC-1", action="auto_resolution_attempted")) == 1


def test_the_same_fingerprint_within_the_window_is_one_incident(hooks):
    hooks.post("/webhooks/incidents", incident("A-1", fingerprint="disk-full-db1"))
    second = hooks.post("/webhooks/incidents", incident("A-2", fingerprint="disk-full-db1")).json()[
        "accepted"
    ][0]
    assert (second["incident_id"], second["decision"]) == ("A-1", "duplicate")
    assert second["reason"] == "Duplicate of A-1 (same fingerprint within 300s)"
    assert hooks.api.get("/api/v1/incidents/A-2").status_code == 404
    (row,) = hooks.audit(action="incident_deduplicated")
    assert (row["incident_id"], row["details"]["delivered_incident_id"]) == ("A-1", "A-2")


def test_the_same_fingerprint_outside_the_window_is_a_new_incident(make_hooks):
    hooks: Hooks = make_hooks(dedup_window_seconds=1)
    hooks.post("/webhooks/incidents", incident("A-1", fingerprint="disk-full-db1"))
    time.sleep(1.2)
    second = hooks.post("/webhooks/incidents", incident("A-2", fingerprint="disk-full-db1")).json()[
        "accepted"
    ][0]
    assert (second["incident_id"], second["decision"], second["new"]) == ("A-2", "queued", True)


@pytest.mark.parametrize("stamp", ["\u00b2".encode(), b"1" * 4301, b"-5", b"1e9"])
def test_a_timestamp_that_is_not_a_plain_number_is_refused_not_a_500(hooks, stamp):
    body = json.dumps(incident()).encode()
    headers = [
        (b"X-Autoresolve-Timestamp", stamp),
        (b"X-Autoresolve-Signature", sign(body)["X-Autoresolve-Signature"].encode()),
        (b"Content-Type", b"application/json"),
    ]
    response = hooks.http.post("/webhooks/incidents", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "Webhook refused: stale or invalid timestamp"


@pytest.mark.parametrize("path", ["/webhooks/incidents", "/webhooks/alertmanager"])
def test_deeply_nested_json_is_a_422_naming_the_body(hooks, path):
    nested = b"[" * 100_000 + b"]" * 100_000
    headers = {"Authorization": "Bearer hook-token", "Content-Type": "application/json"}
    response = hooks.http.post(path, content=nested, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == "body: invalid JSON: nested too deeply"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "pool\x00exhausted", "contains a NUL byte"),
        ("description", "a\x1b[31mred", "contains a control character (U+001B)"),
        ("service", "orders\ndb", "contains a control character (U+000A); one line of text expected"),
        ("labels", {"host": "db\x00"}, "contains a NUL byte"),
        ("tags", ["a\x07"], "contains a control character (U+0007)"),
        ("confidence_score", True, "must be a number from 0 to 1, not a boolean"),
    ],
)
def test_control_characters_and_booleans_are_refused_naming_the_field(hooks, field, value, message):
    batch = [incident("OK-1"), incident("BAD-1", **{field: value})]
    response = hooks.post("/webhooks/incidents", batch)
    assert response.status_code == 202  # the valid item is kept
    assert [a["incident_id"] for a in response.json()["accepted"]] == ["OK-1"]
    [error] = response.json()["rejected"][0]["errors"]
    assert error["field"].startswith(f"[1].{field}")
    assert message in error["message"]
    assert hooks.api.get("/api/v1/incidents/BAD-1").status_code == 404
