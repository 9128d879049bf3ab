"""Requests as Slack sends them: to /slack/events, signed with slack_sdk's SignatureVerifier, or
their payloads as Socket Mode hands them over."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


_triggers = itertools.count(1)


def next_trigger_id() -> str:
    """A trigger id like Slack's (`<number>.<number>.<hex>`), new for each command: two commands with the
    same text from the same person in the same second are two requests, not a replay of one."""
    return f"{time.time_ns() // 1000}.{next(_triggers)}.{secrets.token_hex(8)}"


def slash_command(command: str, text: str, *, user_id: str, response_url: str) -> bytes:
    return urlencode(slash_command_fields(command, text, user_id=user_id, response_url=response_url)).encode()


def slash_command_fields(command: str, text: str, *, user_id: str, response_url: str) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T0EMU",
        "team_domain": "emulated",
        "channel_id": "C0OPS",
        "channel_name": "ops",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0AUTO",
        "response_url": response_url,
        "trigger_id": next_trigger_id(),  # Slack gives each command its own
    }


def block_action(
    action_id: str, value: str, *, user_id: str, response_url: str, block_id: str = "b"
) -> bytes:
    payload = block_action_payload(
        action_id, value, user_id=user_id, response_url=response_url, block_id=block_id
    )
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_action_payload(
    action_id: str, value: str, *, user_id: str, response_url: str, block_id: str = "b"
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0EMU", "domain": "emulated"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0EMU"},
        "api_app_id": "A0AUTO",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1.000001",
            "channel_id": "D0DM",
            "is_ephemeral": False,
        },
        "trigger_id": next_trigger_id(),  # Slack gives each command its own
        "channel": {"id": "D0DM", "name": "directmessage"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": "x"},
                "value": value,
                "type": "button",
                "action_ts": "1.000002",
            }
        ],
    }


def event_callback(event: dict[str, Any]) -> bytes:
    return json.dumps(event_callback_body(event)).encode()


def event_callback_body(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T0EMU",
        "api_app_id": "A0AUTO",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0001",
        "event_time": int(time.time()),
    }


def post_signed(client: httpx.Client, body: bytes, *, form: bool = True, **signing: Any) -> httpx.Response:
    headers = signed_headers(body, **signing)
    headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
    return client.post("/slack/events", content=body, headers=headers)
