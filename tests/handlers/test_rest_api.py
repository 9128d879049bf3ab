"""The seed's REST API over real HTTP against the served bot: outcomes, auth, and bad input of every kind."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.schemas import ErrorBody
from settings import Settings
from tests.support.factories import incident_body
from tests.support.servers import ServedApp

TOKEN = "test-api-token"
SIMPLE = """
runbooks:
  - id: db-fix
    category: database
    steps:
      - {name: First, log: "fixing {service}"}
      - {name: Second, log: done}
"""


def incident(**overrides: Any) -> dict[str, Any]:
    return incident_body(**overrides)


@pytest.fixture
def app(served) -> ServedApp:
    return served(SIMPLE, api_token=TOKEN)


@pytest.fixture
def api(app):
    with app.client(TOKEN) as client:
        yield client


def test_health_reports_the_database_without_auth(app):
    with app.client() as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "service": "auto-resolution-system",
        "version": "0.1.0",
        "database": "ok",
    }


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdA==", "Bearer"])
def test_api_refuses_missing_or_wrong_tokens(app, header):
    headers = {"Authorization": header} if header else {}
    with app.client() as client:
        response = client.get("/api/v1/config", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert ErrorBody.model_validate(response.json()).model_dump(exclude_unset=True) == response.json()
    assert response.json()["error"].startswith("Missing or invalid bearer token")
    with app.client(TOKEN) as client:
        (refusal,) = client.get("/api/v1/audit", params={"action": "request_refused"}).json()
    assert (refusal["actor"], refusal["success"]) == ("unauthenticated", False)
    assert refusal["details"]["path"] == "/api/v1/config"
    assert refusal["error_message"] in ("missing bearer token", "wrong bearer token")
    assert "wrong" not in json.dumps(refusal["details"])  # the token given is never stored


def test_every_api_route_is_guarded(app):
    """Each operation under /api/v1 that the OpenAPI document lists refuses a request without the
    token: none lost its router's guard on the way into the app."""
    with app.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
        operations = [
            (method, path) for path, item in paths.items() if path.startswith("/api/v1/") for method in item
        ]
        assert len(operations) >= 10
        for method, path in operations:
            url = path.replace("{incident_id}", "INC-1").replace("{category}", "database")
            response = client.request(method.upper(), url, json={})
            assert response.status_code == 401, (method, path, response.text)


def test_high_confidence_incident_is_resolved_with_its_steps(api):
    response = api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident())
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["status"] == "resolved"
    assert body["runbook"] == "db-fix"
    assert body["message"] == "All 2 step(s) succeeded"
    assert body["resolved_at"] is not None
    steps = body["resolution_steps"]
    assert [(s["description"], s["success"], s["action"]) for s in steps] == [
        ("First", True, "log: fixing orders-db"),
        ("Second", True, "log: done"),
    ]
    assert steps[0]["step_id"] == f"{body['run_id']}-1"

    detail = api.get("/api/v1/incidents/INC-1").json()
    assert (detail["status"], detail["auto_resolved"], detail["resolution_status"]) == (
        "auto_resolved",
        True,
        "resolved",
    )
    trail = [row["action"] for row in api.get("/api/v1/audit/incident/INC-1").json()]
    assert trail[:3] == ["incident_received", "auto_resolution_queued", "auto_resolution_attempted"]
    assert "auto_resolution_success" in trail


def test_low_confidence_incident_gets_the_seed_reason(api):
    response = api.post(
        "/api/v1/incidents/INC-2/auto-resolve", json=incident(incident_id="INC-2", confidence_score=0.85)
    )
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "incident_id": "INC-2",
        "success": False,
        "message": "Confidence score 85.00% below threshold 90.00%",
        "resolution_steps": [],
        "resolved_at": None,
        "status": "skipped",
        "run_id": None,
        "runbook": None,
    }
    (skip,) = api.get(
        "/api/v1/audit", params={"incident_id": "INC-2", "action": "auto_resolution_skipped"}
    ).json()
    assert skip["details"]["reason"] == "Confidence score 85.00% below threshold 90.00%"
    assert skip["confidence_score"] == 0.85


def test_force_runs_a_low_confidence_incident(api):
    low = incident(confidence_score=0.5)
    assert api.post("/api/v1/incidents/INC-1/auto-resolve", json=low).json()["success"] is False
    forced = api.post(
        "/api/v1/incidents/INC-1/auto-resolve", params={"force": "true", "actor": "U0ADMIN"}, json=low
    )
    assert forced.json()["success"] is True


def test_posting_the_same_incident_twice_runs_it_once(api):
    assert api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident()).json()["success"] is True
    again = api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident()).json()
    assert again["success"] is False
    assert again["message"] == "Incident already in status: auto_resolved"
    attempts = api.get(
        "/api/v1/audit", params={"incident_id": "INC-1", "action": "auto_resolution_attempted"}
    )
    assert len(attempts.json()) == 1


def test_a_long_run_answers_202_and_can_be_followed(served, http_server):
    app = served(
        f"""
        runbooks:
          - id: slow
            category: database
            steps: [{{name: Hold, http: {{url: "{http_server.url}/hold/r"}}}}]
        """,
        auto_resolve_wait_seconds=0.3,
    )
    with app.client() as api:
        response = api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident())
        assert response.status_code == 202
        body = response.json()
        assert (body["success"], body["status"]) == (False, "running")
        assert body["message"] == f"Run {body['run_id']} is running; see GET /api/v1/incidents/INC-1"
        http_server.release("r")
        run = app.runtime.resolution.wait_for_run(body["run_id"], 10)
        assert run.status == "resolved"
        detail = api.get("/api/v1/incidents/INC-1").json()
        assert detail["latest_run"]["status"] == "resolved"
        assert detail["resolution_steps"][0]["status"] == "succeeded"


def test_batch_resolve_answers_for_each_incident(api):
    batch = [incident(incident_id="B-1"), incident(incident_id="B-2", confidence_score=0.2)]
    response = api.post("/api/v1/incidents/batch-resolve", json=batch)
    assert response.status_code == 200
    assert [(r["incident_id"], r["success"]) for r in response.json()] == [("B-1", True), ("B-2", False)]


def test_batch_with_an_unknown_category_is_refused_before_anything_runs(api):
    batch = [incident(incident_id="B-1"), incident(incident_id="B-2", category="nope")]
    response = api.post("/api/v1/incidents/batch-resolve", json=batch)
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "[1].category"
    assert api.get("/api/v1/audit", params={"incident_id": "B-1"}).json() == []


def field_errors(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert ErrorBody.model_validate(response.json()).model_dump() == response.json()  # as documented
    return {f["field"]: f["message"] for f in response.json()["fields"]}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"confidence_score": 1.5}, "confidence_score", "less than or equal to 1"),
        ({"confidence_score": -0.1}, "confidence_score", "greater than or equal to 0"),
        ({"confidence_score": "high"}, "confidence_score", "valid number"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"title": "x" * 501}, "title", "at most 500 characters"),
        ({"priority": "urgent"}, "priority", "'low', 'medium', 'high' or 'critical'"),
        ({"created_by": "bob"}, "created_by", "Slack user ID"),
        ({"labels": {"a": 1}}, "labels.a", "valid string"),
        ({"tags": "x"}, "tags", "valid list"),
        ({"callback_url": "ftp://x"}, "callback_url", "http://"),
        ({"category": "Not A Slug"}, "category", "pattern"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(api, change, field, message):
    response = api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident(**change))
    errors = field_errors(response)
    assert field in errors
    assert message in errors[field]
    assert response.json()["error"].startswith(f"{field}:")


@pytest.mark.parametrize("missing", ["title", "category", "confidence_score", "created_by", "incident_id"])
def test_missing_required_fields_are_named(api, missing):
    body = incident()
    del body[missing]
    assert (
        field_errors(api.post("/api/v1/incidents/INC-1/auto-resolve", json=body))[missing] == "Field required"
    )


def test_unknown_category_is_refused_naming_the_field(api):
    response = api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident(category="payments"))
    assert field_errors(response)["category"].startswith(
        "unknown category 'payments' (configured: application"
    )


def test_path_and_body_id_mismatch_is_a_400(api):
    response = api.post("/api/v1/incidents/INC-9/auto-resolve", json=incident())
    assert response.status_code == 400
    assert response.json()["fields"] == [{"field": "incident_id", "message": "does not match the path"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"incident_id": ', "invalid JSON at character 16: Expecting value"),
        (b'{"title": "\xff"}', "invalid JSON: not UTF-8 text"),  # was FastAPI's 400 naming nothing
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/incidents/INC-1/auto-resolve"),
        ("PUT", "/api/v1/config"),
        ("POST", "/api/v1/config/kill-switch/activate"),
    ],
)
def test_a_body_that_is_not_json_is_a_422_naming_the_body(api, method, path, body, message):
    response = api.request(method, path, content=body, headers={"content-type": "application/json"})
    assert field_errors(response) == {"body": message}


def test_wrong_body_type_is_named(api):
    assert "body" in field_errors(api.post("/api/v1/incidents/INC-1/auto-resolve", json=[1, 2]))


def test_oversized_body_is_a_413(app):
    big = json.dumps(incident(description="x" * 2_000_000))
    with app.client(TOKEN) as client:
        response = client.post(
            "/api/v1/incidents/INC-1/auto-resolve", content=big, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["error"] == "request body larger than 1048576 bytes"


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(app):
    host, port = app.base_url.removeprefix("http://").split(":")
    chunk = b"x" * 65536
    request = (
        b"POST /api/v1/incidents/INC-1/auto-resolve HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        try:
            for _ in range(20):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the server may close as soon as it has answered
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_bad_path_and_query_values_are_4xx(api):
    assert api.get("/api/v1/incidents/has space").status_code == 422
    assert api.get("/api/v1/incidents/UNKNOWN-1").status_code == 404
    assert field_errors(api.get("/api/v1/audit", params={"limit": 0}))["limit"].startswith("Input should be")
    assert "offset" in field_errors(api.get("/api/v1/audit", params={"offset": "x"}))
    errors = field_errors(api.get("/api/v1/audit", params={"action": "rm -rf"}))
    assert errors["action"].startswith("Input should be 'auto_resolution_attempted', ")
    assert errors["action"].endswith(" or 'request_refused'")
    assert "start_date" in field_errors(api.get("/api/v1/audit", params={"start_date": "yesterday"}))
    naive = field_errors(api.get("/api/v1/audit", params={"start_date": "2026-01-01T00:00:00"}))
    assert naive["start_date"].startswith("needs a time zone")


def test_config_reads_and_updates_with_audit(api):
    config = api.get("/api/v1/config").json()
    assert config["global_enabled"] is True
    assert config["max_concurrent_resolutions"] == 10
    assert set(config["category_configs"]) == {
        "application",
        "database",
        "infrastructure",
        "network",
        "security",
        "user_access",
    }
    assert config["category_configs"]["database"] == {
        "category": "database",
        "auto_resolution_enabled": True,
        "confidence_threshold": 0.9,
        "max_retry_attempts": 3,
        "notification_required": True,
        "dry_run": False,
        "approval_floor": None,
        "approval_timeout_seconds": 3600.0,
        "failure_budget": 3,
        "failure_window_seconds": 3600.0,
        "paused_reason": None,
        "over_limit": "approval",
        "approval_all": False,
    }
    update = {
        "category_config": {"category": "database", "confidence_threshold": 0.8, "approval_floor": 0.7},
        "max_concurrent_resolutions": 4,
    }
    updated = api.put("/api/v1/config", params={"actor": "U0ADMIN"}, json=update).json()
    assert updated["category_configs"]["database"]["confidence_threshold"] == 0.8
    assert updated["max_concurrent_resolutions"] == 4
    assert api.get("/api/v1/config/category/database").json()["approval_floor"] == 0.7
    changes = api.get("/api/v1/audit", params={"action": "config_updated", "actor": "api"}).json()
    assert len(changes) == 2
    assert {c["details"]["on_behalf_of"] for c in changes} == {"U0ADMIN"}  # said, not the acting identity
    category_change = next(c for c in changes if c["details"].get("category") == "database")
    assert category_change["details"]["before"]["confidence_threshold"] == 0.9
    assert category_change["details"]["after"]["confidence_threshold"] == 0.8
    # 0.85 now passes the lowered threshold
    assert api.post(
        "/api/v1/incidents/INC-3/auto-resolve", json=incident(incident_id="INC-3", confidence_score=0.85)
    ).json()["success"]


def test_new_categories_can_be_added(api):
    api.put("/api/v1/config", json={"category_config": {"category": "payments"}})
    assert api.get("/api/v1/config/category/payments").json()["confidence_threshold"] == 0.9


@pytest.mark.parametrize(
    ("update", "field"),
    [
        (
            {"category_config": {"category": "database", "confidence_threshold": 0.3}},
            "category_config.confidence_threshold",
        ),
        (
            {"category_config": {"category": "database", "max_retry_attempts": -1}},
            "category_config.max_retry_attempts",
        ),
        ({"category_config": {"category": "database", "approval_floor": 0.95}}, "approval_floor"),
        ({"max_concurrent_resolutions": 0}, "max_concurrent_resolutions"),
        ({"global_enabled": "maybe"}, "global_enabled"),
        ({"thresold": 0.9}, "thresold"),
    ],
)
def test_bad_config_updates_are_refused_naming_the_field(api, update, field):
    assert field in field_errors(api.put("/api/v1/config", json=update))
    assert api.get("/api/v1/config/category/database").json()["confidence_threshold"] == 0.9


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"max_concurrent_resolutions": None}, "max_concurrent_resolutions"),
        ({"default_confidence_threshold": None}, "default_confidence_threshold"),
        ({"notification_recipients": None}, "notification_recipients"),
        ({"global_enabled": None}, "global_enabled"),
        ({"category_config": None}, "category_config"),
        (
            {"category_config": {"category": "database", "auto_resolution_enabled": None}},
            "category_config.auto_resolution_enabled",
        ),
        (
            {"category_config": {"category": "payments", "max_retry_attempts": None}},
            "category_config.max_retry_attempts",
        ),
    ],
)
def test_null_for_a_setting_is_refused_naming_it(api, update, field):
    """Null is not "leave it as it is" (that is leaving the field out): it was a 500 once, the
    database refusing the NULL."""
    response = api.put("/api/v1/config", json=update)
    assert response.status_code == 422
    assert field_errors(response)[field] == "cannot be null: leave it out to keep its value"
    config = api.get("/api/v1/config").json()
    assert (config["max_concurrent_resolutions"], config["default_confidence_threshold"]) == (10, 0.9)
    assert config["category_configs"]["database"]["auto_resolution_enabled"] is True
    assert "payments" not in config["category_configs"]


def test_null_approval_floor_turns_approvals_off(api):
    category = {"category": "database", "approval_floor": 0.7}
    api.put("/api/v1/config", json={"category_config": category}).raise_for_status()
    category["approval_floor"] = None
    api.put("/api/v1/config", json={"category_config": category}).raise_for_status()
    assert api.get("/api/v1/config/category/database").json()["approval_floor"] is None


def test_unknown_category_config_is_404(api):
    response = api.get("/api/v1/config/category/payments")
    assert response.status_code == 404
    assert response.json()["error"] == "Unknown category: payments"


def test_kill_switch_activate_and_deactivate(api):
    on = api.post(
        "/api/v1/config/kill-switch/activate", params={"actor": "U0ONCALL", "reason": "runbooks misbehaving"}
    ).json()
    assert on["global_enabled"] is False
    assert on["kill_switch"]["active"] is True
    assert on["kill_switch"]["reason"] == "runbooks misbehaving"
    skipped = api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident()).json()
    assert skipped["message"] == "Auto-resolution is globally disabled (kill switch active)"
    off = api.post(
        "/api/v1/config/kill-switch/deactivate", json={"actor": "U0ADMIN", "reason": "fixed"}
    ).json()
    assert off["global_enabled"] is True
    rows = api.get("/api/v1/audit", params={"action": "kill_switch_activated"}).json()
    assert [(r["actor"], r["details"]["reason"], r["details"]["on_behalf_of"]) for r in rows] == [
        ("api", "runbooks misbehaving", "U0ONCALL")
    ]
    [deactivated] = api.get("/api/v1/audit", params={"action": "kill_switch_deactivated"}).json()
    assert (deactivated["actor"], deactivated["details"]["on_behalf_of"]) == ("api", "U0ADMIN")


def test_kill_switch_with_a_duration_and_bad_duration(api):
    on = api.post("/api/v1/config/kill-switch/activate", params={"duration": "30m"}).json()
    assert on["kill_switch"]["until"] is not None
    response = api.post("/api/v1/config/kill-switch/activate", params={"duration": "soon"})
    assert field_errors(response)["duration"].startswith("'soon' is not a duration")


def test_a_huge_duration_turns_the_kill_switch_on_capped(api):
    response = api.post("/api/v1/config/kill-switch/activate", params={"duration": "100000000h"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["kill_switch"]["active"] is True
    assert answer["notes"] == ["duration 100000000h capped at 30 days"]
    until = datetime.fromisoformat(answer["kill_switch"]["until"])
    assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)


def test_activating_again_never_shortens_the_kill_switch(api):
    api.post("/api/v1/config/kill-switch/activate", params={"reason": "incident review"})
    again = api.post(
        "/api/v1/config/kill-switch/activate", params={"duration": "1s", "reason": "test"}
    ).json()
    assert again["kill_switch"]["until"] is None
    assert again["kill_switch"]["reason"] == "incident review; test (api)"
    assert again["notes"] == ["it stays on with no end: only an admin may end it"]
    response = api.post("/api/v1/config/kill-switch/activate", params={"duration": "0s"})
    assert field_errors(response)["duration"].startswith("must be longer than 0s")


def test_global_enabled_false_is_the_seed_kill_switch(api):
    assert api.put("/api/v1/config", json={"global_enabled": False}).json()["kill_switch"]["active"] is True
    assert api.put("/api/v1/config", json={"global_enabled": True}).json()["kill_switch"]["active"] is False


def test_openapi_docs_are_served(app):
    with app.client() as client:
        assert client.get("/docs").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/health",
        "/api/v1/incidents/{incident_id}/auto-resolve",
        "/api/v1/incidents/batch-resolve",
        "/api/v1/config",
        "/api/v1/config/category/{category}",
        "/api/v1/config/kill-switch/activate",
        "/api/v1/config/kill-switch/deactivate",
        "/api/v1/audit",
        "/api/v1/audit/incident/{incident_id}",
        "/api/v1/incidents/{incident_id}",
    ):
        assert path in paths


def test_metrics_count_decisions_and_read_state_from_the_database(app, api):
    api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident())
    api.post("/api/v1/incidents/INC-2/auto-resolve", json=incident(incident_id="INC-2", confidence_score=0.1))
    api.post("/api/v1/config/kill-switch/activate", params={"reason": "metrics"})
    with app.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401  # the API token guards it too
    text = api.get("/metrics").text
    assert 'autoresolve_decisions_total{category="database",outcome="queued"} 1.0' in text
    assert 'autoresolve_decisions_total{category="database",outcome="skipped"} 1.0' in text
    assert 'autoresolve_runs_finished_total{category="database",status="resolved"} 1.0' in text
    assert 'autoresolve_step_duration_seconds_count{kind="log",status="succeeded"} 2.0' in text
    assert 'autoresolve_runs_in_flight{status="running"} 0.0' in text
    assert 'autoresolve_outbox_pending{transport="slack"} 0.0' in text
    assert "autoresolve_kill_switch_active 1.0" in text


def test_a_category_is_paused_and_resumed_over_rest(api):
    pause = {"category_config": {"category": "database", "paused_reason": "db migration tonight"}}
    paused = api.put("/api/v1/config", json=pause).json()["category_configs"]["database"]
    assert paused["paused_reason"] == "db migration tonight"
    resume = {"category_config": {"category": "database", "paused_reason": None}}
    assert (
        api.put("/api/v1/config", json=resume).json()["category_configs"]["database"]["paused_reason"] is None
    )
    assert [r["action"] for r in api.get("/api/v1/audit", params={"action": "category_resumed"}).json()] == [
        "category_resumed"
    ]
    bad = api.put(
        "/api/v1/config", json={"category_config": {"category": "database", "over_limit": "sometimes"}}
    )
    assert bad.status_code == 422
    assert "category_config.over_limit" in bad.json()["fields"][0]["field"]


def test_control_characters_from_a_caller_are_refused_naming_the_field(api):
    refused = api.post("/api/v1/config/kill-switch/activate", params={"reason": "db\x00migration"})
    assert field_errors(refused) == {"reason": "contains a NUL byte"}
    assert api.get("/api/v1/config").json()["kill_switch"]["active"] is False
    body = api.post("/api/v1/config/kill-switch/activate", json={"reason": "a\x1b]0;pwned\x07"})
    assert field_errors(body)["reason"] == "contains a control character (U+001B)"
    search = api.get("/api/v1/audit", params={"actor": "U0\x00"})
    assert field_errors(search)["actor"].startswith("contains a NUL byte")
    incident = api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident_body(title="x\x00y"))
    assert field_errors(incident)["title"] == "contains a NUL byte; one line of text expected"


def test_a_deeply_nested_body_is_a_422_naming_the_body(api):
    response = api.put(
        "/api/v1/config",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert field_errors(response) == {"body": "invalid JSON: nested too deeply"}


def test_without_api_token_a_request_through_a_proxy_is_refused(served):
    app = served(SIMPLE)  # no API_TOKEN, no webhook auth: open to this machine only
    with app.client() as client:
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            response = client.post("/api/v1/config/kill-switch/deactivate", headers={header: "203.0.113.9"})
            assert response.status_code == 401, header
            assert "came through a proxy" in response.json()["error"]
        hook = client.post(
            "/webhooks/incidents", json=incident_body(), headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert hook.status_code == 401
        assert client.post("/api/v1/config/kill-switch/deactivate").status_code == 200  # from this machine
        refused = client.get("/api/v1/audit", params={"action": "request_refused"}).json()
        assert len(refused) == 4


def test_the_credential_names_who_acts_and_actor_is_only_on_whose_behalf(served):
    app = served(SIMPLE, api_token=TOKEN, api_tokens="ops:ops-token-1,ci:ci-token-2")
    with app.client("ops-token-1") as ops, app.client("ci-token-2") as ci, app.client(TOKEN) as unnamed:
        assert ops.post("/api/v1/config/kill-switch/activate", params={"actor": "U0ADMIN"}).status_code == 200
        assert ci.post("/api/v1/config/kill-switch/deactivate", json={"actor": "U0ADMIN"}).status_code == 200
        on = unnamed.get("/api/v1/audit", params={"action": "kill_switch_activated"}).json()
        off = unnamed.get("/api/v1/audit", params={"action": "kill_switch_deactivated"}).json()
        assert [(r["actor"], r["details"]["on_behalf_of"]) for r in on + off] == [
            ("api:ops", "U0ADMIN"),
            ("api:ci", "U0ADMIN"),
        ]
        assert unnamed.get("/api/v1/config").json()["kill_switch"]["actor"] == "api:ci"
    with app.client("not-a-token") as stranger:
        assert stranger.get("/api/v1/config").status_code == 401


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ops", "expected name:token"),
        ("ops:a,ops:b", "the name 'ops' is given twice"),
        ("ops:same,ci:same", "two names share one token"),
        ("bad name:x", "expected name:token"),
    ],
)
def test_api_tokens_that_cannot_work_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        Settings(api_tokens=value)


def test_the_person_an_auto_resolve_is_for_is_on_every_row_it_writes(api):
    one = api.post("/api/v1/incidents/INC-1/auto-resolve", params={"actor": "U0LEAD"}, json=incident())
    assert one.status_code == 200, one.text
    batch = api.post(
        "/api/v1/incidents/batch-resolve",
        params={"actor": "U0OTHER"},
        json=[incident(incident_id="INC-2"), incident(incident_id="INC-3")],
    )
    assert batch.status_code == 200, batch.text
    for incident_id, person in (("INC-1", "U0LEAD"), ("INC-2", "U0OTHER"), ("INC-3", "U0OTHER")):
        trail = api.get(f"/api/v1/audit/incident/{incident_id}").json()
        decided = [r for r in trail if r["action"] in ("incident_received", "auto_resolution_queued")]
        assert len(decided) == 2
        assert {(r["actor"], r["details"]["on_behalf_of"]) for r in decided} == {("api", person)}
