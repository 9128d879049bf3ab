"""Socket Mode (SLACK_APP_TOKEN): commands, clicks and events arrive over a WebSocket, not HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import eventually
from tests.handlers.slack.conftest import ADMIN, OTHER
from tests.handlers.slack.test_commands import text_of
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import (
    block_action_payload,
    event_callback_body,
    post_signed,
    slash_command,
    slash_command_fields,
)
from tests.support.socket_mode import SocketModeServer

APP_TOKEN = "xapp-1-A0AUTO-1-test"


@pytest.fixture
def socket(slack: SlackEmulator) -> Iterator[SocketModeServer]:
    server = SocketModeServer()
    server.start()
    slack.socket_mode_url = server.url  # what apps.connections.open answers
    yield server
    server.stop()


def answered(slack: SlackEmulator, name: str) -> dict[str, Any]:
    answers = eventually(lambda: slack.responses_to(name))
    assert isinstance(answers, list)
    answer: dict[str, Any] = answers[0]
    return answer


def test_commands_clicks_and_events_arrive_over_the_socket(make_bot, slack, socket):
    bot = make_bot(slack_app_token=APP_TOKEN, slack_signing_secret=None)
    eventually(lambda: socket.connected)

    sent_at = time.monotonic()
    fields = slash_command_fields("/killswitch", "on over the socket", user_id=OTHER, response_url="")
    fields["response_url"] = slack.response_url("on")
    command = socket.send("slash_commands", fields, accepts_response_payload=True)
    eventually(lambda: socket.acked(command), timeout=3)  # Slack waits 3 s for the ack
    assert time.monotonic() - sent_at < 3
    assert "Kill switch *ON*" in text_of(answered(slack, "on"))
    state = bot.http.get("/api/v1/config").json()["kill_switch"]
    assert (state["active"], state["actor"], state["reason"]) == (True, OTHER, "over the socket")

    click = block_action_payload("approve_incident", "INC-404", user_id=ADMIN, response_url="")
    click["response_url"] = slack.response_url("click")
    clicked = socket.send("interactive", click)
    eventually(lambda: socket.acked(clicked), timeout=3)
    assert "INC-404" in answered(slack, "click")["text"]

    home = event_callback_body({"type": "app_home_opened", "user": ADMIN, "channel": "D0HOME", "tab": "home"})
    opened = socket.send("events_api", home)
    eventually(lambda: socket.acked(opened), timeout=3)
    calls = eventually(lambda: slack.calls_to("views.publish"))
    assert isinstance(calls, list)
    assert calls[0].params["user_id"] == ADMIN
    assert "Kill switch *ON*" in str(calls[0].params["view"])

    bot.app.stop()
    eventually(lambda: not socket.connected)  # the session is closed when the bot stops


def test_over_http_nothing_is_taken_without_a_signing_secret_and_the_attempt_is_audited(
    make_bot, slack, socket
):
    """Socket Mode alone: a request to /slack/events cannot be verified, so it is refused."""
    bot = make_bot(slack_app_token=APP_TOKEN, slack_signing_secret=None)
    forged = slash_command("/killswitch", "off", user_id=ADMIN, response_url=slack.response_url("forged"))
    response = post_signed(bot.http, forged, secret="guessed")
    assert response.status_code == 404
    assert "Socket Mode" in response.json()["error"]
    assert slack.responses_to("forged") == []
    (refused,) = bot.audit(action="request_refused")
    assert refused["details"]["path"] == "/slack/events"
    assert "SLACK_SIGNING_SECRET" in refused["error_message"]


def test_the_socket_is_opened_once_slack_answers(make_bot, slack, socket):
    slack.fail("apps.connections.open", times=2, status=503)  # Slack down as the bot starts
    make_bot(slack_app_token=APP_TOKEN, slack_signing_secret=None)
    eventually(lambda: socket.connected, timeout=15)  # after pauses of 1 s and 2 s
    assert [call.status for call in slack.calls_to("apps.connections.open")] == [503, 503, 200]
    assert socket.connections == 1


def test_a_malformed_payload_over_the_socket_is_acknowledged_audited_and_dropped(make_bot, slack, socket):
    bot = make_bot(slack_app_token=APP_TOKEN, slack_signing_secret=None)
    eventually(lambda: socket.connected)
    click = block_action_payload("approve_incident", "INC-1", user_id=ADMIN, response_url="")
    envelope = socket.send("interactive", click | {"actions": []})
    eventually(lambda: socket.acked(envelope), timeout=3)  # acknowledged, so Slack does not send it again
    eventually(lambda: bot.audit(action="request_refused"))
    (refusal,) = bot.audit(action="request_refused")
    assert (refusal["actor"], refusal["error_message"]) == (
        "slack",
        "malformed Slack request: actions: expected at least one action",
    )
    assert refusal["details"] == {"type": "block_actions"}
