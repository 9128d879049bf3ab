"""Results out: POSTed to callback_url or RESULT_WEBHOOK_URL, signed, retried until taken, once."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import pytest

from handlers.webhooks.delivery import WebhookDelivery
from handlers.webhooks.destinations import CallbackPolicy
from storage import migrations, outbox
from storage.database import bind, db, db_connection, open_database
from storage.fields import utcnow
from storage.lanes import Lane, Purpose
from storage.outbox import OutboxMessage
from tests.conftest import eventually
from tests.handlers.webhooks.conftest import SECRET, incident
from tests.support.servers import EchoServer


def verify(request_headers: dict[str, str], body: bytes) -> bool:
    """As the README tells a receiver: r1, keyed with HMAC(WEBHOOK_SECRET, "autoresolve result callback")."""
    stamp = request_headers["X-Autoresolve-Timestamp"]
    key = hmac.new(SECRET.encode(), b"autoresolve result callback", hashlib.sha256).hexdigest()
    expected = hmac.new(key.encode(), f"r1:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return request_headers["X-Autoresolve-Signature"] == f"r1={expected}"


@pytest.fixture
def hooks(make_hooks):
    """The bot with this machine's test receivers allowed as callback destinations (by default a
    callback_url may not point inside)."""
    return make_hooks(callback_allowed_hosts="127.0.0.1")


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


def callback_row() -> OutboxMessage | None:
    """The one result callback queued, once it is."""
    with db_connection():
        rows = list(OutboxMessage.select().where(OutboxMessage.transport == "webhook"))
    assert len(rows) <= 1
    return rows[0] if rows else None


def callback_settled() -> bool:
    row = callback_row()
    return row is not None and row.status == "sent"


def callback_tried(times: int) -> bool:
    row = callback_row()
    return row is not None and row.attempts >= times


def test_a_failing_receiver_gets_it_later_once(hooks, http_server):
    hooks.post("/webhooks/incidents", incident(callback_url=f"{http_server.url}/flaky/cb/2"))
    eventually(callback_settled, timeout=30)  # settled: nothing more will come
    row = callback_row()
    assert row is not None
    assert (row.attempts, len(http_server.requests)) == (3, 3)  # two refused, then taken
    deliveries = {r.headers["X-Autoresolve-Delivery"] for r in http_server.requests}
    assert len(deliveries) == 1  # one delivery id, so the receiver can recognise retries


def test_a_receiver_that_is_down_for_a_while_gets_it_when_back(hooks):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hooks.post("/webhooks/incidents", incident(callback_url=f"http://127.0.0.1:{port}/late"))
    eventually(lambda: callback_tried(2), timeout=30)  # refused, and retried with backoff
    receiver = EchoServer()
    receiver.port = port
    receiver.start()
    try:
        eventually(callback_settled, timeout=30)
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


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:3000/api/v1/config/kill-switch/deactivate",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://127.1:8080/",
        "http://localhost:6379/",
        "http://10.0.0.8/admin",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
    ],
)
def test_a_callback_url_aimed_inside_is_refused_naming_the_field(make_hooks, url):
    hooks = make_hooks()
    response = hooks.post("/webhooks/incidents", incident(callback_url=url))
    assert response.status_code == 422
    [error] = response.json()["rejected"][0]["errors"]
    assert error["field"] == "callback_url"
    assert error["message"].startswith("not allowed: ")
    auto = hooks.api.post("/api/v1/incidents/INC-1/auto-resolve", json=incident(callback_url=url))
    assert auto.status_code == 422
    assert auto.json()["fields"][0]["field"] == "callback_url"


def delivery_to(receivers: list[str], policy: CallbackPolicy) -> tuple[WebhookDelivery, list[str]]:
    """The bot's own callback delivery, with these outbox rows queued (as results would be)."""
    with db_connection():
        for target in receivers:
            outbox.enqueue(
                lane=Lane.webhook(target),
                method="POST",
                target=target,
                payload={"event": "incident.result", "incident_id": "INC-1"},
                purpose=Purpose.RESULT_CALLBACK,
                incident_id="INC-1",
            )
    given_up: list[str] = []
    delivery = WebhookDelivery(
        owner="test", secret=SECRET, on_give_up=lambda message, error: given_up.append(error), policy=policy
    )
    return delivery, given_up


def rows_by_target() -> dict[str, OutboxMessage]:
    with db_connection():
        return {m.target: m for m in OutboxMessage.select().where(OutboxMessage.transport == "webhook")}


@pytest.fixture
def outbox_only(sqlite_url):
    """A bot's database and nothing else: no running bot whose own deliverer would take the rows
    (with the real resolver) before the test's deliverer does."""
    bind(open_database(sqlite_url))
    migrations.upgrade()
    yield
    if hasattr(db.obj, "close_all"):
        db.obj.close_all()


@pytest.mark.usefixtures("outbox_only")
def test_a_name_that_resolves_inside_is_refused_when_sent_and_the_connection_is_pinned(http_server):
    port = http_server.url.rsplit(":", 1)[1]
    inside = f"http://hooks.example.test:{port}/results"
    delivery, given_up = delivery_to([inside], CallbackPolicy(resolver=lambda host, port: ["127.0.0.1"]))
    delivery.tick()
    eventually(lambda: given_up)
    assert given_up == [
        f"{inside}: destination refused: hooks.example.test resolves to 127.0.0.1, "
        "which is not a public address"
    ]
    assert http_server.requests == []  # never connected: nothing learnt about the port
    allowed = CallbackPolicy(allowed=("127.0.0.0/8",), resolver=lambda host, port: ["127.0.0.1"])
    allowed_delivery, _ = delivery_to([f"http://hooks.example.test:{port}/again"], allowed)
    allowed_delivery.tick()
    eventually(lambda: http_server.requests)
    assert (
        http_server.requests[0].headers["Host"] == f"hooks.example.test:{port}"
    )  # went to the address checked
    delivery.close()


@pytest.mark.usefixtures("outbox_only")
def test_one_bad_receiver_never_holds_up_another(http_server):
    policy = CallbackPolicy(allowed=("127.0.0.1",))
    hanging = f"{http_server.url}/hold/cb"
    waits_for_ever = f"{http_server.url}/retry-after/999999999999"
    broken = "http://127.0.0.1:80x/"  # a row from before URLs were checked at intake
    good = f"{http_server.url}/good"
    delivery, given_up = delivery_to([hanging, waits_for_ever, broken, good], policy)
    delivery.tick()
    eventually(lambda: "/good" in http_server.paths())  # while /hold/cb still hangs
    assert http_server.arrival("cb").is_set()

    def settled() -> dict[str, OutboxMessage] | None:
        """The good one's row marked sent (just after its receiver answered), the others settled."""
        rows = rows_by_target()
        done = rows[good].status != "pending" and rows[broken].status == "failed"
        return rows if done and rows[waits_for_ever].attempts else None

    rows = eventually(settled)
    assert isinstance(rows, dict)
    assert rows[good].status == "sent"
    wait = (rows[waits_for_ever].next_attempt_at - utcnow()).total_seconds()
    assert 3500 < wait <= 3600  # Retry-After capped at an hour, not overflowing the clock
    assert given_up == [f"{broken}: destination refused: not a valid URL: Invalid port: '80x'"]
    http_server.release("cb")
    eventually(lambda: rows_by_target()[hanging].status == "sent")
    delivery.close()


def test_a_signed_result_cannot_be_replayed_into_the_bots_own_webhook(hooks, http_server):
    hooks.post("/webhooks/incidents", incident(callback_url=f"{http_server.url}/results"))
    eventually(lambda: http_server.requests)
    (result,) = http_server.requests
    signed = {k: v for k, v in result.headers.items() if k.startswith("X-Autoresolve-")}
    replay = hooks.http.post(
        "/webhooks/incidents", content=result.body, headers={**signed, "Content-Type": "application/json"}
    )
    assert replay.status_code == 401
    assert replay.json()["error"] == "Webhook refused: bad signature"
