"""Results out: POSTed to callback_url or RESULT_WEBHOOK_URL, signed, retried until taken, once."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

from tests.conftest import eventually
from tests.handlers.webhooks.conftest import SECRET, incident
from tests.support.servers import EchoServer


def verify(request_headers: dict[str, str], body: bytes) -> bool:
    stamp = request_headers["X-Autoresolve-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"v1:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return request_headers["X-Autoresolve-Signature"] == f"v1={expected}"


def test_the_result_goes_to_the_incidents_callback_url_signed(hooks, http_server):
    hooks.post("/webhooks/incidents", incident(callback_url=f"{http_server.url}/results"))
    eventually(lambda: http_server.requests)
    (request,) = http_server.requests
    assert request.path == "/results"
    assert verify(request.headers, request.body)
    result = json.loads(request.body)
    assert (result["incident_id"], result["status"], result["success"]) == ("INC-1", "resolved", True)
    assert result["runbook"] == "db-fix"
    assert [s["name"] for s in result["steps"]] == ["Fix"]
    assert result["audit_url"] == "/api/v1/audit/incident/INC-1"
    assert request.headers["X-Autoresolve-Event"] == "incident.result"


def test_skipped_incidents_report_to_result_webhook_url(make_hooks, http_server):
    hooks = make_hooks(result_webhook_url=f"{http_server.url}/all", public_url="https://bot.example.com/")
    hooks.post("/webhooks/incidents", incident(confidence_score=0.4))
    eventually(lambda: http_server.requests)
    (request,) = http_server.requests
    result = json.loads(request.body)
    assert (result["status"], result["message"]) == (
        "skipped",
        "Confidence score 40.00% below threshold 90.00%",
    )
    assert result["audit_url"] == "https://bot.example.com/api/v1/audit/incident/INC-1"


def test_a_failing_receiver_gets_it_later_once(hooks, http_server):
    hooks.post("/webhooks/incidents", incident(callback_url=f"{http_server.url}/flaky/cb/2"))
    eventually(lambda: len(http_server.requests) >= 3, timeout=30)
    time.sleep(1.5)  # nothing more comes once it was taken
    assert len(http_server.requests) == 3
    deliveries = {r.headers["X-Autoresolve-Delivery"] for r in http_server.requests}
    assert len(deliveries) == 1  # one delivery id, so the receiver can recognise retries


def test_a_receiver_that_is_down_for_a_while_gets_it_when_back(hooks):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hooks.post("/webhooks/incidents", incident(callback_url=f"http://127.0.0.1:{port}/late"))
    time.sleep(2.0)  # refused connections meanwhile, retried with backoff
    receiver = EchoServer()
    receiver.port = port
    receiver.start()
    try:
        eventually(lambda: receiver.requests, timeout=30)
        time.sleep(1.0)
        assert [r.path for r in receiver.requests] == ["/late"]
    finally:
        receiver.stop()


def test_a_receiver_that_refuses_is_audited(hooks, http_server):
    hooks.post("/webhooks/incidents", incident(callback_url=f"{http_server.url}/status/404"))
    rows = eventually(lambda: hooks.audit(action="notification_failed"))
    assert isinstance(rows, list)
    (row,) = rows
    assert row["error_message"] == f"{http_server.url}/status/404: HTTP 404"
    assert row["details"]["about"] == "result_callback"
    assert len(http_server.requests) == 1
