"""What reaches Slack: the creator's DM, the audit channel's message and thread, buttons, App Home."""

from __future__ import annotations

import re

from tests.conftest import eventually
from tests.handlers.slack.conftest import ADMIN, AUDIT_CHANNEL, CREATOR, OTHER, SlackBot
from tests.support.slack_emulator import Posted


def dms_to(bot: SlackBot, user: str) -> list[Posted]:
    return bot.slack.channel("D" + user[1:])


def wait_for_dm(bot: SlackBot, user: str = CREATOR, count: int = 1) -> list[Posted]:
    found = eventually(lambda: dms_to(bot, user) if len(dms_to(bot, user)) >= count else [])
    assert isinstance(found, list)
    return found


def incident_message(bot: SlackBot, incident_id: str = "INC-1") -> Posted:
    found = eventually(
        lambda: [m for m in bot.slack.top_level(AUDIT_CHANNEL) if m.text.startswith(incident_id)]
    )
    assert isinstance(found, list)
    assert len(found) == 1, [m.text for m in found]
    return found[0]


def block_texts(message: Posted) -> str:
    texts = []
    for block in message.blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(
            element.get("text", "") for element in block.get("elements", []) if block["type"] == "context"
        )
    return "\n".join(texts)


def buttons(message: Posted) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element["value"])
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_the_creator_gets_a_dm_with_steps_and_a_reopen_button(bot):
    assert bot.incident()["success"] is True
    (dm,) = wait_for_dm(bot)
    assert dm.text == "Incident INC-1 was resolved automatically."
    text = block_texts(dm)
    assert "Confidence *95.00%*, runbook `db-fix`" in text
    assert "Step 1 *Check*: succeeded" in text
    assert "Step 2 *Fix*: succeeded" in text
    assert "`echo fixing orders-db`" in text
    assert buttons(dm) == [("reopen_incident", "INC-1")]
    # posted to the creator's ID: Slack opens the DM (no Tier 3 conversations.open first)
    posts = [c.params["channel"] for c in bot.slack.calls_to("chat.postMessage")]
    assert [channel for channel in posts if channel != AUDIT_CHANNEL] == [CREATOR]
    assert bot.slack.calls_to("conversations.open") == []
    (sent,) = bot.audit(action="notification_sent")
    assert sent["details"]["recipient"] == CREATOR


def test_a_creator_known_by_email_is_looked_up(bot):
    bot.incident(created_by="ada@example.com")
    (dm,) = wait_for_dm(bot)
    assert dm.text.startswith("Incident INC-1 was resolved")
    assert [c.params["email"] for c in bot.slack.calls_to("users.lookupByEmail")] == ["ada@example.com"]


def test_an_unknown_creator_is_audited_as_a_failed_notification(bot):
    bot.incident(created_by="ghost@example.com")
    rows = eventually(lambda: bot.audit(action="notification_failed"))
    assert isinstance(rows, list)
    (row,) = rows
    assert row["error_message"] == "users.lookupByEmail: users_not_found"
    assert row["details"]["recipient"] == "dm:ghost@example.com"
    assert row["incident_id"] == "INC-1"


def test_failed_runs_are_dmed_without_a_reopen_button(make_bot):
    bot = make_bot(
        "runbooks:\n  - {id: f, category: database, steps: [{name: Boom, command: ['false'], retries: 0}]}\n"
    )
    assert bot.incident()["status"] == "failed"
    (dm,) = wait_for_dm(bot)
    assert dm.text == "Incident INC-1 could not be resolved automatically."
    assert buttons(dm) == []


def test_the_audit_channel_gets_one_message_updated_in_place_and_a_thread(make_bot, http_server):
    bot = make_bot(
        f"""
        runbooks:
          - id: db-fix
            category: database
            steps:
              - {{name: Check, log: "checking {{service}}"}}
              - {{name: Wait for it, http: {{url: "{http_server.url}/hold/run"}}}}
        """,
        auto_resolve_wait_seconds=0.2,
    )
    bot.incident(still_running=True)
    running = eventually(lambda: incident_message(bot) if "running" in incident_message(bot).text else None)
    assert isinstance(running, Posted)
    assert running.text == "INC-1: running"
    http_server.release("run")
    wait_for_dm(bot)
    resolved = eventually(lambda: incident_message(bot) if "resolved" in incident_message(bot).text else None)
    assert isinstance(resolved, Posted)
    assert resolved.ts == running.ts  # the same message...
    assert resolved.updates >= 1  # ...updated in place
    assert resolved.text == "INC-1: resolved — All 2 step(s) succeeded"
    posts = [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == AUDIT_CHANNEL]
    assert len([c for c in posts if "thread_ts" not in c.params]) == 1

    def both_steps() -> str:
        lines = "\n".join(m.text for m in bot.slack.thread(AUDIT_CHANNEL, resolved.ts))
        return lines if "Step 2" in lines else ""

    lines = eventually(both_steps)
    assert isinstance(lines, str)
    assert "Step 1 *Check*: succeeded" in lines
    assert "Step 2 *Wait for it*: succeeded" in lines


def test_only_the_creator_can_reopen_and_it_is_told_everywhere(bot):
    bot.incident()
    wait_for_dm(bot)
    refused = bot.click("reopen_incident", "INC-1", user=OTHER)
    assert refused[0]["response_type"] == "ephemeral"
    assert "Only the person who raised this incident can reopen it." in refused[0]["text"]
    assert bot.http.get("/api/v1/incidents/INC-1").json()["status"] == "auto_resolved"
    (refusal,) = bot.audit(action="request_refused")
    assert refusal["actor"] == OTHER

    answers = bot.click("reopen_incident", "INC-1", user=CREATOR)
    assert answers[0]["replace_original"] is True
    assert answers[0]["text"] == "You reopened INC-1."
    detail = bot.http.get("/api/v1/incidents/INC-1").json()
    assert (detail["status"], detail["auto_resolved"], detail["resolution_status"]) == (
        "open",
        False,
        "reopened",
    )
    (reopened,) = bot.audit(action="incident_reopened")
    assert reopened["actor"] == CREATOR
    assert detail["resolution_reason"] == f"Reopened by {CREATOR}: not fixed, says the person who raised it"
    eventually(lambda: incident_message(bot).text.startswith("INC-1: reopened"))
    # Who reopened it is said once, as a mention (the reason says why, not who again).
    assert incident_message(bot).text == "INC-1: reopened — Not fixed, says the person who raised it"
    said = f"Reopened by <@{CREATOR}>: Not fixed, says the person who raised it"
    eventually(lambda: said in [m.text for m in bot.slack.thread(AUDIT_CHANNEL, incident_message(bot).ts)])
    again = bot.click("reopen_incident", "INC-1", user=CREATOR)
    assert "is not auto-resolved" in again[0]["text"]


def test_an_email_creator_can_reopen_from_their_slack_account(bot):
    bot.incident(created_by="ada@example.com")
    wait_for_dm(bot)
    answers = bot.click("reopen_incident", "INC-1", user=CREATOR)
    assert answers[0]["text"] == "You reopened INC-1."


def test_approval_requests_have_buttons_only_admins_may_press(bot):
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    assert bot.incident(confidence_score=0.85)["status"] == "awaiting_approval"

    def approval_message() -> Posted | None:
        message = incident_message(bot)
        return message if buttons(message) else None

    message = eventually(approval_message)
    assert isinstance(message, Posted)
    [(approve, value), (reject, same)] = buttons(message)
    assert (approve, reject, same) == ("approve_incident", "reject_incident", value)
    assert value.startswith("INC-1@")  # the request it answers
    assert "awaiting approval" in message.text

    refused = bot.click("approve_incident", value, user=OTHER)
    assert "Only admins may approve or reject a run." in refused[0]["text"]
    assert bot.http.get("/api/v1/incidents/INC-1").json()["resolution_status"] == "awaiting_approval"

    approved = bot.click("approve_incident", value, user=ADMIN)
    assert "*INC-1*: queued" in approved[0]["blocks"][0]["text"]["text"]
    eventually(lambda: bot.http.get("/api/v1/incidents/INC-1").json()["status"] == "auto_resolved")
    assert [r["actor"] for r in bot.audit(action="approval_granted")] == [ADMIN]
    thread = eventually(lambda: bot.slack.thread(AUDIT_CHANNEL, incident_message(bot).ts))
    assert isinstance(thread, list)
    assert any(f"Queued by <@{ADMIN}>" in m.text for m in thread)


def test_a_rejected_incident_does_not_run(bot):
    bot.command("/autoresolve", "config database approval 0.8", user=ADMIN)
    bot.incident(confidence_score=0.85)
    bot.click("reject_incident", "INC-1", user=ADMIN)
    detail = bot.http.get("/api/v1/incidents/INC-1").json()
    assert (detail["resolution_status"], detail["latest_run"]) == ("rejected", None)
    assert detail["resolution_reason"] == f"Rejected by {ADMIN}: it runs only when an admin starts it again"
    eventually(lambda: "Decided by" in block_texts(incident_message(bot)))
    said = f"Rejected by <@{ADMIN}>: It runs only when an admin starts it again"
    eventually(lambda: said in [m.text for m in bot.slack.thread(AUDIT_CHANNEL, incident_message(bot).ts)])
    late = bot.click("approve_incident", "INC-1", user=ADMIN)
    assert "is not awaiting approval" in late[0]["text"]


def test_app_home_shows_state(bot):
    from tests.handlers.test_calibration_api import seed

    seed("database", 0.96, fixed=35, not_fixed=0)
    bot.command("/killswitch", "on maintenance window", user=OTHER)
    response = bot.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0HOME", "tab": "home"})
    assert response.status_code == 200
    calls = eventually(lambda: bot.slack.calls_to("views.publish"))
    assert isinstance(calls, list)
    (call,) = calls
    assert call.params["user_id"] == ADMIN
    view = call.params["view"]
    text = "\n".join(b["text"]["text"] for b in view["blocks"] if "text" in b and b["type"] == "section")
    assert view["type"] == "home"
    assert "Kill switch *ON*" in text
    assert "maintenance window" in text
    assert "• *database*: enabled, threshold 90.00%" in text
    assert "*Runs in flight* (limit 10)" in text
    assert "*Calibration* (the last 30 days)" in text
    assert "• *database* (35 outcome(s) at threshold 0.90, error 0.040): " in text


def test_a_dm_for_a_long_runbook_fits_and_says_how_many_steps_it_leaves_out(make_bot):
    steps = "\n".join(
        f"      - {{name: 'Step number {n} {'x' * 150}', log: 'did {n}'}}" for n in range(1, 66)
    )
    bot = make_bot(f"runbooks:\n  - id: long\n    category: database\n    steps:\n{steps}\n")
    bot.incident()
    [dm] = wait_for_dm(bot)  # the emulator refuses what real Slack refuses: it took this one
    shown = block_texts(dm)
    assert "Step number 1 " in shown
    left = re.search(r"…and (\d+) more step\(s\): `/autoresolve audit INC-1`", shown)
    assert left is not None, shown[-300:]
    assert sum(f"Step number {n} " in shown for n in range(1, 66)) + int(left.group(1)) == 65


def test_runbooks_that_do_not_fit_are_counted_and_the_file_path_is_not_shown(make_bot, tmp_path):
    runbooks = "\n".join(
        f"  - {{id: rb-{n}, category: database, description: '{'d' * 200}', steps: [{{name: s, log: x}}]}}"
        for n in range(150)
    )
    bot = make_bot(f"runbooks:\n{runbooks}\n")
    answer = bot.command("/autoresolve", "runbooks")
    text = "\n".join(b["text"]["text"] if "text" in b else b["elements"][0]["text"] for b in answer["blocks"])
    assert "*150 runbook(s)* from `runbooks.yml`:" in text
    assert str(tmp_path) not in text + answer["text"]
    assert re.search(r"…and \d+ more line\(s\): `python bot.py runbooks list` lists them all", text)
    assert len(answer["text"]) <= 4000


def test_an_error_reply_does_not_bring_what_was_typed_to_life(bot):
    answer = bot.command("/autoresolve", "<!channel> <@U0ADMIN> <https://evil.example|click>")
    text = answer["blocks"][0]["text"]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


def test_an_incident_title_is_shown_as_plain_text_never_as_markup(bot):
    title = "*urgent* _db_ ~gone~ `rm` <!channel>"
    bot.incident(title=title)
    message = eventually(
        lambda: [m for m in bot.slack.top_level(AUDIT_CHANNEL) if m.text.startswith("INC-1")]
    )
    assert isinstance(message, list)
    [post] = message
    plain_texts = [b["text"]["text"] for b in post.blocks if b.get("text", {}).get("type") == "plain_text"]
    assert plain_texts == [title]  # shown as written: plain_text has no markup to misread
    markup = [b["text"]["text"] for b in post.blocks if b.get("text", {}).get("type") == "mrkdwn"]
    assert not any("urgent" in text for text in markup)
    [dm] = wait_for_dm(bot)
    assert [b["text"]["text"] for b in dm.blocks if b.get("text", {}).get("type") == "plain_text"] == [title]
