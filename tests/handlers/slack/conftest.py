"""The bot served over HTTP with Slack configured, talking to the Slack emulator."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.support.servers import ServedApp
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import (
    SIGNING_SECRET,
    block_action,
    event_callback,
    post_signed,
    slash_command,
)

AUDIT_CHANNEL = "C0AUDIT"
CREATOR = "U012ABCDEF"
ADMIN = "U0ADMIN"
OTHER = "U0OTHER"
RUNBOOKS = """
runbooks:
  - id: db-fix
    category: database
    steps:
      - {name: Check, log: "checking {service}"}
      - {name: Fix, command: ["echo", "fixing", "{service}"]}
"""
_names = itertools.count(1)


@dataclass
class SlackBot:
    app: ServedApp
    slack: SlackEmulator
    http: httpx.Client

    def command(self, command: str, text: str, user: str = OTHER) -> dict[str, Any]:
        """Send a signed slash command; return the ephemeral answer posted to its response_url."""
        name = f"cmd{next(_names)}"
        body = slash_command(command, text, user_id=user, response_url=self.slack.response_url(name))
        response = post_signed(self.http, body)
        assert response.status_code == 200, response.text
        answers = eventually(lambda: self.slack.responses_to(name))
        assert isinstance(answers, list)
        return answers[0]

    def click(self, action_id: str, value: str, user: str, block_id: str = "b") -> list[dict[str, Any]]:
        name = f"act{next(_names)}"
        url = self.slack.response_url(name)
        body = block_action(action_id, value, user_id=user, response_url=url, block_id=block_id)
        response = post_signed(self.http, body)
        assert response.status_code == 200, response.text
        answers = eventually(lambda: self.slack.responses_to(name))
        assert isinstance(answers, list)
        return answers

    def event(self, event: dict[str, Any]) -> httpx.Response:
        return post_signed(self.http, event_callback(event), form=False)

    def incident(
        self, incident_id: str = "INC-1", *, still_running: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """Auto-resolve an incident over REST: 200 once decided and its run (if any) ended, or 202
        `still_running` (the run outlasts AUTO_RESOLVE_WAIT_SECONDS)."""
        body = {
            "incident_id": incident_id,
            "title": "Connection pool exhausted",
            "category": "database",
            "priority": "high",
            "confidence_score": 0.95,
            "created_by": CREATOR,
            "service": "orders-db",
            **fields,
        }
        response = self.http.post(f"/api/v1/incidents/{incident_id}/auto-resolve", json=body)
        assert response.status_code == (202 if still_running else 200), response.text
        result: dict[str, Any] = response.json()
        return result

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.http.get("/api/v1/audit", params=filters).json()
        return rows


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator(
        users={
            CREATOR: {"email": "ada@example.com", "name": "Ada"},
            ADMIN: {"email": "lead@example.com", "name": "Lead"},
            OTHER: {"email": "bob@example.com", "name": "Bob"},
        }
    )
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def make_bot(served, slack) -> Iterator[Callable[..., SlackBot]]:
    clients: list[httpx.Client] = []

    def make(runbooks: str = RUNBOOKS, **settings: Any) -> SlackBot:
        options = {
            "slack_bot_token": "xoxb-test-token",
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
            "audit_channel": AUDIT_CHANNEL,
            "admin_users": ADMIN,
            **settings,
        }
        app = served(runbooks, recording_notifier=False, **options)
        client = app.client()
        clients.append(client)
        return SlackBot(app, slack, client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def bot(make_bot) -> SlackBot:
    return make_bot()
