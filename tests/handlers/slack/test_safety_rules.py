"""Nothing runs twice unless a person says so, and what an admin approves is what runs: over the
incident webhook, signed Slack commands and clicks, and the REST API."""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import urlencode

from tests.conftest import eventually
from tests.handlers.slack.conftest import ADMIN, AUDIT_CHANNEL, OTHER, SlackBot
from tests.handlers.slack.test_messages import block_texts, buttons, incident_message
from tests.support.factories import incident_body
from tests.support.slack_emulator import Posted
from tests.support.slack_requests import block_action_payload, post_signed

TOKEN = "hook-token"
FAILING = """
runbooks:
  - id: db-fix
    category: database
    steps:
      - {name: Fix, command: ["false"], retries: 0}
"""
ECHO = """
runbooks:
  - id: db-fix
    category: database
    steps:
      - {name: Fix, command: ["echo", "fixing", "{service}"]}
"""


def deliver(bot: SlackBot, **fields: Any) -> dict[str, Any]:
    """POST one incident to the generic webhook, as a monitoring tool would; its decision."""
    response = bot.http.post(
        "/webhooks/incidents",
        json=incident_body(**fields),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()["accepted"][0]
    return accepted


def detail(bot: SlackBot, incident_id: str = "INC-1") -> dict[str, Any]:
    found: dict[str, Any] = bot.http.get(f"/api/v1/incidents/{incident_id}").json()
    return found


def text_of(answer: dict[str, Any]) -> str:
    return str(answer.get("text", ""))


def approval_buttons(
    bot: SlackBot, not_value: str | None = None, incident_id: str = "INC-1"
) -> list[tuple[str, str]]:
    """The incident message's Approve/Reject buttons once posted (and, given `not_value`, once
    they answer another request than that one)."""

    def found() -> list[tuple[str, str]]:
        shown = buttons(incident_message(bot, incident_id))
        return shown if shown and shown[0][1] != not_value else []

    shown = eventually(found)
    assert isinstance(shown, list)
    return shown


def test_a_failed_incident_delivered_again_runs_nothing_until_an_admin_starts_it(make_bot):
    bot = make_bot(FAILING, webhook_token=TOKEN)
    assert deliver(bot)["decision"] == "queued"
    eventually(lambda: detail(bot)["resolution_status"] == "failed")
    again = deliver(bot)
    assert again["decision"] == "skipped"
    assert again["reason"] == (
        "Not run again: its automation ended failed; a person must start it (/autoresolve <id> by an admin)"
    )
    deliver(bot)
    shown = detail(bot)
    assert (shown["resolution_status"], shown["held_deliveries"]) == ("failed", 2)
    assert len(bot.audit(action="auto_resolution_attempted")) == 1
    refused = text_of(bot.command("/autoresolve", "INC-1", user=OTHER))
    assert "Only admins may run an incident again" in refused
    assert [r["details"]["command"] for r in bot.audit(action="request_refused")] == ["rerun"]
    assert "INC-1: queued" in text_of(bot.command("/autoresolve", "INC-1", user=ADMIN))
    eventually(lambda: len(bot.audit(action="auto_resolution_attempted")) == 2)
    assert next(r["actor"] for r in bot.audit(action="auto_resolution_queued")) == ADMIN


def test_a_rejection_holds_against_a_later_delivery(make_bot):
    bot = make_bot(ECHO, webhook_token=TOKEN)
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    assert deliver(bot, confidence_score=0.85)["decision"] == "awaiting_approval"
    [(_, value), _] = approval_buttons(bot)
    assert "Rejected" in text_of(bot.click("reject_incident", value, user=ADMIN)[0])
    later = deliver(bot, confidence_score=0.99)
    assert (later["decision"], later["run_id"]) == ("skipped", None)
    assert later["reason"].startswith("Not run again: its automation ended rejected")
    assert detail(bot)["resolution_status"] == "rejected"
    assert bot.audit(action="auto_resolution_attempted") == []


def test_what_an_admin_approves_is_what_runs(make_bot):
    bot = make_bot(ECHO, webhook_token=TOKEN)
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    deliver(bot, confidence_score=0.85, service="web-1")
    [(_, asked), _] = approval_buttons(bot)
    assert "Approve runs exactly this" in block_texts(incident_message(bot))
    assert "1. Fix: echo fixing web-1" in block_texts(incident_message(bot))
    # The same incident again, now naming another service: the request it had is stale.
    assert deliver(bot, confidence_score=0.85, service="prod-db-primary")["decision"] == "awaiting_approval"
    [(_, current), _] = approval_buttons(bot, not_value=asked)
    assert "echo fixing prod-db-primary" in block_texts(incident_message(bot))
    assert [r["details"]["previous"] for r in bot.audit(action="approval_superseded")] == [
        asked.split("@")[1]
    ]
    stale = text_of(bot.click("approve_incident", asked, user=ADMIN)[0])
    assert "This approval request is stale" in stale
    assert detail(bot)["resolution_status"] == "awaiting_approval"
    assert bot.audit(action="auto_resolution_attempted") == []
    assert "*INC-1*: queued" in str(bot.click("approve_incident", current, user=ADMIN)[0])
    eventually(lambda: detail(bot)["status"] == "auto_resolved")
    [step] = detail(bot)["resolution_steps"]
    assert step["action"] == "echo fixing prod-db-primary"


def test_a_repeated_delivery_does_not_post_the_same_request_again(make_bot):
    bot = make_bot(ECHO, webhook_token=TOKEN)
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    deliver(bot, confidence_score=0.85)
    approval_buttons(bot)
    asked_at = detail(bot)["approval_requested_at"]
    deliver(bot, confidence_score=0.86)  # Alertmanager re-sends every group_interval
    assert detail(bot)["approval_requested_at"] == asked_at  # the expiry still counts from the first
    assert len(bot.audit(action="approval_requested")) == 2
    assert bot.audit(action="approval_superseded") == []


def test_an_unanswered_approval_expires(make_bot):
    bot = make_bot(ECHO, webhook_token=TOKEN, approval_check_seconds=0.1)
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    bot.command("/autoresolve", "config database approval-timeout 1s", user=ADMIN)
    deliver(bot, confidence_score=0.85)
    [(_, value), _] = approval_buttons(bot)
    eventually(lambda: detail(bot)["resolution_status"] == "approval_expired")
    [expired] = bot.audit(action="approval_expired")
    assert expired["details"]["timeout_seconds"] == 1.0

    def expired_message() -> Posted | None:
        message = incident_message(bot)
        return message if "approval expired" in message.text else None

    assert not buttons(eventually(expired_message))  # type: ignore[arg-type]
    late = text_of(bot.click("approve_incident", value, user=ADMIN)[0])
    assert "is not awaiting approval (it is approval_expired)" in late
    assert deliver(bot, confidence_score=0.85)["reason"].startswith("Not run again: its automation ended")
    assert bot.audit(action="auto_resolution_attempted") == []


def test_a_closed_delivery_cancels_the_waiting_approval(make_bot):
    bot = make_bot(ECHO, webhook_token=TOKEN)
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    deliver(bot, confidence_score=0.85)
    [(_, value), _] = approval_buttons(bot)
    gone = deliver(bot, confidence_score=0.85, status="closed")
    assert gone["decision"] == "cancelled"
    assert gone["reason"] == "The source (webhook) says it is resolved: its approval request was cancelled"
    assert detail(bot)["resolution_status"] == "cancelled"
    late = text_of(bot.click("approve_incident", value, user=ADMIN)[0])
    assert "is not awaiting approval (it is cancelled)" in late
    assert bot.audit(action="auto_resolution_attempted") == []


def test_a_category_whose_runs_keep_failing_pauses_itself_until_an_admin_resumes_it(make_bot):
    bot = make_bot(FAILING, webhook_token=TOKEN)
    assert "budget" in text_of(bot.command("/autoresolve", "config database budget 2 per 1h", user=ADMIN))
    for incident_id in ("INC-1", "INC-2"):
        deliver(bot, incident_id=incident_id)
        eventually(partial(lambda i: detail(bot, i)["resolution_status"] == "failed", incident_id))
    eventually(lambda: bot.audit(action="category_paused"))
    [paused] = bot.audit(action="category_paused")
    assert paused["details"] == {"category": "database", "failures": 2, "budget": 2, "window_seconds": 3600.0}
    third = deliver(bot, incident_id="INC-3")
    assert third["decision"] == "skipped"
    assert third["reason"] == (
        "Auto-resolution paused for category: database (2 run(s) failed or were reopened within 1.0h "
        "(budget 2)); an admin resumes it"
    )
    notice = "Category database paused itself"
    eventually(lambda: any(notice in m.text for m in bot.slack.top_level("C0AUDIT")))
    eventually(lambda: any(notice in m.text for m in bot.slack.channel("D" + ADMIN[1:])))
    status = str(bot.command("/autoresolve", "status", user=OTHER))
    assert "*database* paused: 2 run(s) failed" in status
    metrics = bot.http.get("/metrics").text
    assert 'autoresolve_category_paused{category="database"} 1.0' in metrics
    assert 'autoresolve_failure_budget_used{category="database"} 2.0' in metrics
    assert "Only admins may change" in text_of(
        bot.command("/autoresolve", "config database resume", user=OTHER)
    )
    bot.command("/autoresolve", "config database resume", user=ADMIN)
    [resumed] = bot.audit(action="category_resumed")
    assert resumed["actor"] == ADMIN
    assert deliver(bot, incident_id="INC-4")["decision"] == "queued"


def test_a_runbook_past_its_run_limit_waits_for_approval(make_bot):
    limited = ECHO.replace("    steps:", "    limit: {runs: 2, per: 1h, per_service: 1}\n    steps:")
    bot = make_bot(limited, webhook_token=TOKEN)
    assert deliver(bot, incident_id="INC-1", service="web-1")["decision"] == "queued"
    second = deliver(bot, incident_id="INC-2", service="web-1")
    assert (second["decision"], second["reason"]) == (
        "awaiting_approval",
        "Rate limit: runbook db-fix started 1 run(s) for web-1 within 1.0h (limit 1); awaiting approval",
    )
    assert deliver(bot, incident_id="INC-3", service="web-2")["decision"] == "queued"
    fourth = deliver(bot, incident_id="INC-4", service="web-3")
    assert fourth["reason"].startswith("Rate limit: runbook db-fix started 2 run(s) within 1.0h (limit 2)")
    assert "`db-fix`: 2 of 2 runs within 1.0h — *limit reached*" in str(bot.command("/autoresolve", "status"))
    metrics = bot.http.get("/metrics").text
    assert 'autoresolve_runbook_runs_in_window{runbook="db-fix"} 2.0' in metrics
    assert 'autoresolve_runbook_run_limit{runbook="db-fix"} 2.0' in metrics
    bot.command("/autoresolve", "config database over-limit skip", user=ADMIN)
    assert deliver(bot, incident_id="INC-5", service="web-4")["decision"] == "skipped"
    [(_, value), _] = approval_buttons(bot, incident_id="INC-2")
    assert "queued" in str(bot.click("approve_incident", value, user=ADMIN)[0])  # a person's say-so


def test_what_waits_for_approval_is_actionable_from_the_app_home(make_bot):
    bot = make_bot(ECHO, webhook_token=TOKEN)
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    deliver(bot, confidence_score=0.85)
    [(_, value), _] = approval_buttons(bot)
    assert (
        bot.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0HOME", "tab": "home"}).status_code
        == 200
    )

    def home_buttons() -> list[tuple[str, str]]:
        published = bot.slack.calls_to("views.publish")
        view = published[-1].params["view"] if published else {"blocks": []}
        return [
            (e["action_id"], e["value"])
            for b in view["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]

    eventually(home_buttons)
    assert home_buttons() == [("approve_incident", value), ("reject_incident", value)]
    # A click on the Home tab carries no response_url: the answer comes as the Home tab republished.
    payload = block_action_payload("approve_incident", value, user_id=ADMIN, response_url="")
    del payload["response_url"], payload["channel"]
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    response = post_signed(bot.http, urlencode({"payload": json.dumps(payload)}).encode())
    assert response.status_code == 200
    eventually(lambda: len(bot.slack.calls_to("views.publish")) >= 2)
    notice = bot.slack.calls_to("views.publish")[-1].params["view"]["blocks"][1]["text"]["text"]
    assert "INC-1" in notice
    assert "queued" in notice
    eventually(lambda: detail(bot)["status"] == "auto_resolved")


def test_a_burst_never_hides_an_approval_request_in_a_digest(make_bot, slack):
    slack.enforce_channel_rate = True  # about one message a second: the channel gets busy, digests follow
    bot = make_bot(ECHO, webhook_token=TOKEN)
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    waiting = [f"WAIT-{n}" for n in range(6)]
    burst = [incident_body(f"RUN-{n}", confidence_score=0.95) for n in range(30)]
    for n, incident_id in enumerate(waiting):
        burst.insert(n * 5, incident_body(incident_id, confidence_score=0.85))
    response = bot.http.post("/webhooks/incidents", json=burst, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 202

    def actionable() -> set[str]:
        found = set()
        for message in bot.slack.top_level(AUDIT_CHANNEL):
            for action, value in buttons(message):
                if action == "approve_incident":
                    found.add(value.split("@")[0])
        return found if found >= set(waiting) else set()

    assert eventually(actionable, timeout=60) == set(waiting)
    assert any("(digest)" in m.text for m in bot.slack.top_level(AUDIT_CHANNEL))  # it was a burst
