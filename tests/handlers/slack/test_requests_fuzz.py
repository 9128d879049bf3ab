"""Slack's requests with generated content, signed as Slack signs them: whatever a person types after
a command or whatever a click carries, the bot acknowledges at once and answers, never falls silent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.slack.layout.blocks import APPROVE_ACTION, REJECT_ACTION, REOPEN_ACTION
from tests.handlers.slack.conftest import ADMIN, CREATOR, OTHER
from tests.support.slack_requests import block_action_payload, event_callback_body, post_signed

WORDS = st.sampled_from(
    [
        "help", "status", "audit", "config", "runbooks", "force", "on", "off", "threshold", "enable",
        "disable", "dry-run", "retries", "approval", "database", "network", "INC-1", "30m", "0.95",
        "-1", "1e309", "nan", "", " ", "\u202e", "<@U0ADMIN>", "*bold*", "`code`",
    ]
)  # fmt: skip
TEXTS = st.one_of(
    st.lists(WORDS, max_size=6).map(" ".join),
    st.text(max_size=200),
)
USERS = st.sampled_from([ADMIN, CREATOR, OTHER])
BROKE = "Something went wrong on our side"  # what a listener that raised answers


def assert_answered(answer: dict[str, Any]) -> None:
    """A real answer: text, and not the one a listener that raised gives (that is a bug, not a reply)."""
    text = str(answer.get("text") or "")
    assert text, answer
    assert BROKE not in text, answer


def test_any_command_text_is_acknowledged_and_answered(bot):
    @given(command=st.sampled_from(["/autoresolve", "/killswitch"]), text=TEXTS, user=USERS)
    @settings(max_examples=120, derandomize=True, deadline=None, database=None)
    def answered(command: str, text: str, user: str) -> None:
        assert_answered(bot.command(command, text, user=user))

    answered()


def test_any_button_value_is_acknowledged_and_answered(bot):
    bot.incident("INC-1")

    @given(
        action=st.sampled_from([REOPEN_ACTION, APPROVE_ACTION, REJECT_ACTION]),
        value=st.one_of(
            st.sampled_from(["INC-1", "INC-404", "", "INC-1 ", "../INC-1"]), st.text(max_size=80)
        ),
        user=USERS,
    )
    @settings(max_examples=80, derandomize=True, deadline=None, database=None)
    def answered(action: str, value: str, user: str) -> None:
        assert_answered(bot.click(action, value, user=user)[0])

    answered()


def click(**changes: Any) -> dict[str, Any]:
    payload = block_action_payload(REOPEN_ACTION, "INC-1", user_id=OTHER, response_url="https://x.invalid/r")
    return {**payload, **changes}


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"payload": json.dumps(click(user="U0X"))}, "user: expected an object"),
        ({"payload": json.dumps(click(user={"id": 7}))}, "user.id: expected a string"),
        ({"payload": json.dumps(click(actions=[]))}, "actions: expected at least one action"),
        ({"payload": json.dumps(click(actions=[1]))}, "actions[0]: expected an object"),
        ({"payload": json.dumps(click(actions="x"))}, "actions: expected a list"),
        ({"payload": json.dumps(click(actions=[{"value": "1"}]))}, "actions[0].action_id: expected a string"),
        ({"payload": json.dumps(click(response_url=None))}, "response_url: expected a string"),
        ({"payload": json.dumps([click()])}, "payload: expected an object"),
        ({"payload": "{not json"}, "payload: invalid JSON"),
        ({"payload": ""}, "payload: invalid JSON"),
        ({"command": "/autoresolve", "text": "status"}, "user_id: expected a string"),
    ],
)
def test_a_malformed_signed_request_is_a_400_naming_the_field_and_audited(bot, form, problem):
    """Bolt's own matching raised on these (500s, and the connection dropped after them)."""
    response = post_signed(bot.http, urlencode(form).encode())
    assert response.status_code == 400
    assert response.json()["error"] == f"malformed Slack request: {problem}"
    (refusal,) = bot.audit(action="request_refused")
    assert (refusal["actor"], refusal["error_message"]) == ("slack", f"malformed Slack request: {problem}")
    assert bot.command("/autoresolve", "status")["text"]  # and the next request is served


def test_a_malformed_event_is_refused_too(bot):
    body = json.dumps(event_callback_body({}) | {"event": "x"}).encode()
    response = post_signed(bot.http, body, form=False)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed Slack request: event: expected an object"


def test_an_unreadable_request_that_is_not_signed_is_a_401(bot):
    body = urlencode({"payload": "{not json"}).encode()
    response = post_signed(bot.http, body, secret="not-the-secret")
    assert response.status_code == 401
    (refusal,) = bot.audit(action="request_refused")
    assert refusal["error_message"] == "Slack request with a missing, bad or stale signature"


def test_the_fuzz_check_catches_a_listener_that_raises(bot, monkeypatch):
    """The check above fails when the listener breaks: an answer from a raising listener is refused."""
    from handlers.slack.listeners import commands

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "parse_autoresolve", broken)
    with pytest.raises(AssertionError):
        assert_answered(bot.command("/autoresolve", "status"))
