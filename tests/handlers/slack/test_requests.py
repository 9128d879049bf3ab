"""Inbound Slack requests: signatures verified on the raw body, and dispatch off the event loop."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import eventually
from tests.handlers.slack.conftest import SlackBot
from tests.support.slack_requests import post_signed, signed_headers, slash_command


def status_command(bot: SlackBot) -> bytes:
    return slash_command(
        "/autoresolve", "status", user_id="U0OTHER", response_url=bot.slack.response_url("s")
    )


def test_a_correctly_signed_command_is_answered(bot):
    answer = bot.command("/autoresolve", "status")
    assert answer["response_type"] == "ephemeral"
    assert "Kill switch *off*" in answer["blocks"][0]["text"]["text"]


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "not-the-secret"},
        {"timestamp": -600},  # seconds from now: stale, Slack allows five minutes
        {"timestamp": +600},
    ],
)
def test_forged_and_stale_requests_are_refused(bot, signing):
    if "timestamp" in signing:
        signing = {"timestamp": int(time.time()) + signing["timestamp"]}
    response = post_signed(bot.http, status_command(bot), **signing)
    assert response.status_code == 401
    assert bot.slack.responses_to("s") == []


def test_unsigned_and_tampered_requests_are_refused(bot):
    body = status_command(bot)
    assert bot.http.post("/slack/events", content=body).status_code == 401
    signed = signed_headers(body)
    tampered = body.replace(b"status", b"config")
    response = bot.http.post(
        "/slack/events",
        content=tampered,
        headers={**signed, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401
    # Refused twice from one address for one reason within a minute: one row, then one with the count.
    [first] = bot.audit(action="request_refused")
    assert (first["details"]["path"], first["error_message"]) == (
        "/slack/events",
        "Slack request with a missing, bad or stale signature",
    )
    assert bot.app.runtime.refusals.flush(everything=True) == 1
    [counted, _] = bot.audit(action="request_refused")
    assert counted["details"]["repeats"] == 1


def test_a_flood_of_forged_requests_writes_two_audit_rows_not_three_hundred(bot):
    body = status_command(bot)
    headers = {**signed_headers(body, secret="forged"), "Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(300):
        assert bot.http.post("/slack/events", content=body, headers=headers).status_code == 401
    bot.app.runtime.refusals.flush(everything=True)  # what the periodic job does once the minute is over
    rows = bot.audit(action="request_refused")
    assert [r["details"].get("repeats") for r in rows] == [299, None]  # newest first


@pytest.mark.parametrize("timestamp", [b"abc", b"", "\u00b2".encode(), b"1" * 4301, b"12.5"])
def test_a_timestamp_that_is_not_a_number_is_refused_not_a_500(bot, timestamp):
    body = status_command(bot)
    headers = [
        (b"X-Slack-Request-Timestamp", timestamp),
        (b"X-Slack-Signature", signed_headers(body)["X-Slack-Signature"].encode()),
        (b"Content-Type", b"application/x-www-form-urlencoded"),
    ]
    response = bot.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    [refused] = bot.audit(action="request_refused")
    assert refused["error_message"] == "Slack request with a missing, bad or stale signature"


def test_a_deeply_nested_payload_is_refused_before_anything_parses_it(bot):
    nested = b"payload=" + b"[" * 100_000 + b"]" * 100_000
    unsigned = bot.http.post(
        "/slack/events",
        content=nested,
        headers={**signed_headers(b"other"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 401
    signed = post_signed(bot.http, nested)
    assert signed.status_code == 400
    assert signed.json()["error"] == "malformed Slack request: payload: nested too deeply"


def test_a_replayed_signed_request_is_refused(bot):
    body = slash_command(
        "/killswitch", "on replay test", user_id="U0OTHER", response_url=bot.slack.response_url("r")
    )
    headers = {**signed_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    assert bot.http.post("/slack/events", content=body, headers=headers).status_code == 200
    replayed = bot.http.post("/slack/events", content=body, headers=headers)
    assert replayed.status_code == 401
    refused = [r["error_message"] for r in bot.audit(action="request_refused")]
    assert refused == ["Slack request replayed (its signature was taken already)"]
    assert len(bot.audit(action="kill_switch_activated")) == 1


def test_health_answers_while_a_slow_slack_request_is_in_flight(bot):
    bot.slack.hang("auth.test", 3.0)  # Bolt's first request waits on auth.test
    outcome: dict[str, float] = {}

    def slow_command() -> None:
        started = time.monotonic()
        post_signed(bot.http, status_command(bot))
        outcome["command"] = time.monotonic() - started

    thread = threading.Thread(target=slow_command)
    thread.start()
    eventually(lambda: bot.slack.calls_to("auth.test"))  # the Slack request is in flight
    started = time.monotonic()
    with bot.app.client() as other:
        assert other.get("/health").status_code == 200
    health_seconds = time.monotonic() - started
    thread.join(15)
    assert outcome["command"] >= 2.5  # the Slack request really was slow...
    assert health_seconds < 1.0  # ...and /health did not wait behind it


def test_slack_endpoint_says_so_when_slack_is_not_configured(served):
    app = served("runbooks: []\n")
    with app.client() as client:
        response = client.post("/slack/events", content=b"x")
    assert response.status_code == 404
    assert response.json()["error"].startswith("Slack is not configured")
