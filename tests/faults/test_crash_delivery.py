"""A deliverer killed after Slack took a post but before it recorded it: the post is not repeated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import eventually
from tests.support.processes import BotProcess, clean_env
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SIGNING_SECRET

TOKEN = "crash-token"
AUDIT_CHANNEL = "C0AUDIT"
CREATOR = "U012ABCDEF"


def test_a_post_slack_kept_before_the_deliverer_died_is_found_not_repeated(tmp_path: Path):
    slack = SlackEmulator(users={CREATOR: {"email": "ada@example.com"}})
    slack.start()
    (tmp_path / "runbooks.yml").write_text(
        "runbooks:\n  - {id: db-fix, category: database, steps: [{name: Fix, log: fixed}]}\n"
    )
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        RUNBOOKS_FILE=str(tmp_path / "runbooks.yml"),
        SLACK_BOT_TOKEN="xoxb-crash",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        AUDIT_CHANNEL=AUDIT_CHANNEL,
        API_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
        SLACK_TIMEOUT_SECONDS="1",  # a post unanswered for 2 s is looked for in Slack
    )
    slack.accept_then_hang("chat.postMessage", 60)  # Slack keeps the post, the answer never comes
    first = BotProcess(tmp_path, env, token=TOKEN)
    try:
        incident = {
            "incident_id": "INC-1",
            "title": "Connection pool exhausted",
            "category": "database",
            "priority": "high",
            "confidence_score": 0.95,
            "created_by": CREATOR,
        }
        assert first.client.post("/api/v1/incidents/INC-1/auto-resolve", json=incident).json()["success"]
        eventually(lambda: slack.channel(AUDIT_CHANNEL))  # the audit message reached "Slack"...
    finally:
        first.kill()  # ...and its sender died waiting for the answer
    slack.accept_then_hang("chat.postMessage", 0)

    second = BotProcess(tmp_path, env, token=TOKEN)
    try:

        def outbox_empty() -> bool:
            with sqlite3.connect(tmp_path / "bot.db") as connection:
                (waiting,) = connection.execute(
                    "SELECT count(*) FROM outbox_message WHERE status IN ('pending', 'sending')"
                ).fetchone()
            return waiting == 0

        eventually(outbox_empty, timeout=90)
        top = slack.top_level(AUDIT_CHANNEL)
        assert top[0].text.startswith("INC-1: resolved")
        assert len(slack.top_level(AUDIT_CHANNEL)) == 1  # found by its metadata, not posted again
        assert slack.calls_to("conversations.history")
        assert len(slack.channel("D" + CREATOR[1:])) == 1
        assert (
            second.client.get("/metrics").text.count('autoresolve_outbox_pending{transport="slack"} 0.0') == 1
        )
    finally:
        second.stop()
        slack.stop()
