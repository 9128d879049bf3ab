"""Every /autoresolve and /killswitch sub-command, over signed HTTP, with role refusals audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import outcomes
from tests.conftest import eventually
from tests.handlers.slack.conftest import ADMIN, AUDIT_CHANNEL, OTHER
from tests.handlers.test_calibration_api import seed as seed_outcomes


def text_of(answer: dict) -> str:
    return "\n".join(block["text"]["text"] for block in answer["blocks"] if "text" in block)


def test_help_and_empty_text_show_usage(bot):
    for text in ("help", ""):
        answer = bot.command("/autoresolve", text)
        assert answer["response_type"] == "ephemeral"
        assert "`/autoresolve <sub-command>`" in text_of(answer)


def test_malformed_commands_get_their_usage_not_an_error(bot):
    answer = bot.command("/autoresolve", "frobnicate the database")
    assert "is not a sub-command" in text_of(answer)
    assert "*Usage:*" in text_of(answer)
    answer = bot.command("/autoresolve", "config database threshold lots")
    assert "threshold must be a number, not `lots`" in text_of(answer)
    assert "*Usage:* `/killswitch" in text_of(bot.command("/killswitch", "maybe"))


def test_status_shows_kill_switch_runs_and_recent_outcomes(bot):
    bot.incident("INC-1")
    eventually(lambda: bot.http.get("/api/v1/incidents/INC-1").json()["latest_run"]["status"] == "resolved")
    text = text_of(bot.command("/autoresolve", "status"))
    assert "Kill switch *off*" in text
    assert "0 running (limit 10), 0 queued" in text
    assert "*INC-1* `db-fix`: resolved" in text


def test_runbooks_lists_what_is_loaded(bot):
    assert "`db-fix` (database, 2 steps)" in text_of(bot.command("/autoresolve", "runbooks"))


def test_audit_shows_the_incident_trail(bot):
    bot.incident("INC-1")
    text = text_of(bot.command("/autoresolve", "audit INC-1"))
    assert "*Audit trail of INC-1*" in text
    assert "incident_received" in text
    assert "auto_resolution_queued" in text
    assert "No audit entries for *INC-404*" in text_of(bot.command("/autoresolve", "audit INC-404"))


def test_config_shows_categories(bot):
    text = text_of(bot.command("/autoresolve", "config"))
    assert "• *database*: enabled, threshold 90.00%, 3 retries" in text
    assert "At most 10 runs at once." in text
    assert "Unknown category: payments" in text_of(bot.command("/autoresolve", "config payments"))


def test_admins_change_config_and_it_is_announced(bot):
    text = text_of(bot.command("/autoresolve", "config database threshold 0.95", user=ADMIN))
    assert "threshold 95.00%" in text
    for change, expected in [
        ("disable", "*disabled*"),
        ("enable", "enabled"),
        ("dry-run on", "dry run"),
        ("retries 5", "5 retries"),
        ("approval 0.8", "approval from 80.00%"),
        ("approval off", "retries"),
    ]:
        assert expected in text_of(bot.command("/autoresolve", f"config database {change}", user=ADMIN))
    rows = bot.audit(action="config_updated", actor=ADMIN)
    assert len(rows) == 7
    notices = eventually(
        lambda: [m for m in bot.slack.top_level(AUDIT_CHANNEL) if "Configuration changed" in m.text]
    )
    assert isinstance(notices, list)
    assert f"<@{ADMIN}>" in notices[0].text


def test_non_admins_are_refused_config_changes_and_it_is_audited(bot):
    text = text_of(bot.command("/autoresolve", "config database threshold 0.5", user=OTHER))
    assert "Only admins may change the configuration." in text
    (refusal,) = bot.audit(action="request_refused")
    assert (refusal["actor"], refusal["details"]["permission"]) == (OTHER, "change_config")
    assert bot.http.get("/api/v1/config/category/database").json()["confidence_threshold"] == 0.9


def test_rerun_and_force(bot):
    low = bot.incident("INC-7", confidence_score=0.5)
    assert low["status"] == "skipped"
    text = text_of(bot.command("/autoresolve", "INC-7", user=OTHER))
    assert "Confidence score 50.00% below threshold 90.00%" in text
    refused = text_of(bot.command("/autoresolve", "INC-7 force", user=OTHER))
    assert "Only admins may force a run" in refused
    forced = text_of(bot.command("/autoresolve", "INC-7 force", user=ADMIN))
    assert "*INC-7*: queued" in forced
    eventually(lambda: bot.http.get("/api/v1/incidents/INC-7").json()["status"] == "auto_resolved")
    assert "Unknown incident: INC-404" in text_of(bot.command("/autoresolve", "INC-404"))


def test_anyone_pulls_the_kill_switch_only_admins_release_it(bot):
    text = text_of(bot.command("/killswitch", "on 30m runbook loops on db", user=OTHER))
    assert "Kill switch *ON*" in text
    assert "runbook loops on db" in text
    state = bot.http.get("/api/v1/config").json()["kill_switch"]
    assert (state["active"], state["actor"], state["reason"]) == (True, OTHER, "runbook loops on db")
    assert state["until"] is not None
    assert "Kill switch *ON*" in text_of(bot.command("/killswitch", "status"))
    assert "Only admins may turn the kill switch off." in text_of(
        bot.command("/killswitch", "off", user=OTHER)
    )
    assert bot.http.get("/api/v1/config").json()["kill_switch"]["active"] is True
    assert "Kill switch *off*" in text_of(bot.command("/killswitch", "off all clear", user=ADMIN))

    def kill_switch_notices() -> list[str]:
        found = [m.text for m in bot.slack.top_level(AUDIT_CHANNEL) if "Kill switch" in m.text]
        return found if len(found) >= 2 else []

    notices = eventually(kill_switch_notices)
    assert isinstance(notices, list)
    assert len(notices) == 2
    assert notices[0].startswith(":octagonal_sign: Kill switch ON until")
    assert notices[1].startswith(":large_green_circle: Kill switch OFF")
    assert [r["actor"] for r in bot.audit(action="request_refused")] == [OTHER]


def test_a_number_without_unit_is_part_of_the_reason(bot):
    bot.command("/killswitch", "on 5 hosts down", user=OTHER)
    state = bot.http.get("/api/v1/config").json()["kill_switch"]
    assert (state["reason"], state["until"]) == ("5 hosts down", None)


def test_killswitch_anyone_false_keeps_it_to_admins(make_bot):
    bot = make_bot(killswitch_anyone=False)
    text = text_of(bot.command("/killswitch", "on", user=OTHER))
    assert "Only admins may turn the kill switch on here" in text
    assert bot.http.get("/api/v1/config").json()["kill_switch"]["active"] is False


def test_a_kill_switch_with_a_duration_turns_itself_off(bot):
    bot.command("/killswitch", "on 1s brief pause", user=OTHER)
    eventually(lambda: bot.audit(action="kill_switch_expired"), timeout=10)  # the expiry job ran
    assert bot.http.get("/api/v1/config").json()["kill_switch"]["active"] is False
    assert len(bot.audit(action="kill_switch_expired")) == 1
    eventually(lambda: any("Kill switch OFF" in m.text for m in bot.slack.top_level(AUDIT_CHANNEL)))


def kill_switch(bot) -> dict:
    return bot.http.get("/api/v1/config").json()["kill_switch"]


def test_a_non_admin_cannot_shorten_an_active_kill_switch(bot):
    bot.command("/killswitch", "on db migration", user=ADMIN)
    text = text_of(bot.command("/killswitch", "on 1s test", user=OTHER))
    assert "Note: it stays on with no end: only an admin may end it." in text
    state = kill_switch(bot)
    assert (state["active"], state["until"], state["actor"]) == (True, None, ADMIN)
    assert state["reason"] == f"db migration; test ({OTHER})"
    [extended] = bot.audit(action="kill_switch_extended")
    assert (extended["actor"], extended["details"]["until"]) == (OTHER, None)
    [refused] = bot.audit(action="request_refused")
    assert (refused["actor"], refused["error_message"]) == (OTHER, "not allowed: shorten the kill switch")


def test_a_later_end_extends_the_kill_switch_and_an_admin_may_shorten_it(bot):
    bot.command("/killswitch", "on 30m first", user=OTHER)
    first = datetime.fromisoformat(kill_switch(bot)["until"])
    bot.command("/killswitch", "on 2h longer", user=OTHER)
    longer = datetime.fromisoformat(kill_switch(bot)["until"])
    assert longer - first > timedelta(minutes=80)
    bot.command("/killswitch", "on 10m", user=OTHER)  # shorter: kept out
    assert datetime.fromisoformat(kill_switch(bot)["until"]) == longer
    bot.command("/killswitch", "on 10m wrapping up", user=ADMIN)
    shortened = datetime.fromisoformat(kill_switch(bot)["until"])
    assert shortened < first
    assert [r["actor"] for r in bot.audit(action="kill_switch_extended")] == [ADMIN, OTHER, OTHER]


def test_a_duration_past_the_cap_still_turns_the_switch_on(bot):
    text = text_of(bot.command("/killswitch", "on 100000000h outage", user=OTHER))
    assert "Kill switch *ON*" in text
    assert "Note: duration 100000000h capped at 30 days." in text
    state = kill_switch(bot)
    until = datetime.fromisoformat(state["until"])
    assert state["active"] is True
    assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)


def test_a_zero_duration_is_refused_with_a_message(bot):
    text = text_of(bot.command("/killswitch", "on 0s", user=OTHER))
    assert "duration: must be longer than 0s" in text
    assert "Something went wrong" not in text


def test_a_kill_switch_change_anchors_the_audit_chain_in_the_audit_channel(bot):
    bot.command("/killswitch", "on anchoring", user=OTHER)

    def checkpoints() -> list[str]:
        return [m.text for m in bot.slack.top_level(AUDIT_CHANNEL) if m.text.startswith("Audit checkpoint ")]

    eventually(checkpoints)
    [text] = checkpoints()
    seq, _, chain_hash = text.removeprefix("Audit checkpoint ").partition(":")
    assert int(seq) >= 1
    assert len(chain_hash) == 64


def test_an_answer_slack_refuses_falls_back_to_a_short_one(bot):
    bot.slack.refuse_responses("invalid_blocks")
    answer = bot.command("/autoresolve", "status")
    assert answer["text"].startswith("Kill switch off")
    assert answer["text"].endswith(
        "(The full answer was refused by Slack; the CLI or the REST API shows it.)"
    )


def test_admins_reload_the_runbooks_and_a_bad_file_is_refused(bot, tmp_path):
    runbooks = tmp_path / "runbooks.yml"  # the file the bot was started with
    refused = text_of(bot.command("/autoresolve", "runbooks reload", user=OTHER))
    assert "Only admins may reload the runbooks." in refused
    runbooks.write_text(
        runbooks.read_text() + "  - {id: net-fix, category: network, steps: [{name: N, log: n}]}\n"
    )
    taken = text_of(bot.command("/autoresolve", "runbooks reload", user=ADMIN))
    assert taken.startswith("Runbooks reloaded: 2 from ")
    assert "; added: net-fix" in taken
    assert "`net-fix` (network, 1 step)" in text_of(bot.command("/autoresolve", "runbooks"))
    runbooks.write_text("runbooks:\n  - {id: broken, category: database, steps: []}\n")
    bad = text_of(bot.command("/autoresolve", "runbooks reload", user=ADMIN))
    assert bad.startswith("Refused; the runbooks in force stay (2): ")
    assert "runbook 'broken'" in bad
    assert "`net-fix`" in text_of(bot.command("/autoresolve", "runbooks"))  # the old ones stand
    trail = bot.http.get("/api/v1/audit", params={"action": "runbooks_reload_refused"}).json()
    assert trail[0]["actor"] == ADMIN


def test_calibration_and_corrections_in_slack(bot):
    seed_outcomes("database", 0.97, fixed=40, not_fixed=0)
    text = text_of(bot.command("/autoresolve", "calibration database 14d"))
    assert "*Calibration* over the last 14d:" in text
    assert "• *database* (threshold 0.90, 40 outcome(s)):" in text
    assert "`0.95-1.00` 40 at 0.97: 100% fixed" in text
    assert "Only admins may correct an outcome" in text_of(
        bot.command("/autoresolve", "outcome database-0.97-0 not-fixed", user=OTHER)
    )
    said = text_of(bot.command("/autoresolve", "outcome database-0.97-0 not-fixed", user=ADMIN))
    assert "was not fixed" in said
    row = outcomes.get(incident_id="database-0.97-0")
    assert row is not None
    assert (row.fixed, row.by) == (False, ADMIN)
    assert "is neither a category nor a window" in text_of(bot.command("/autoresolve", "calibration a b c!"))


def test_an_autonomy_proposal_is_posted_with_an_apply_button_for_admins(bot):
    from datetime import timedelta

    from engine import autonomy
    from engine.calibration import Policy
    from storage.fields import utcnow

    assert "now `shadow`" not in text_of(
        bot.command("/autoresolve", "config database mode shadow", user=ADMIN)
    )
    seed_outcomes("database", 0.96, fixed=160, not_fixed=0)
    autonomy.review(bot.app.runtime.resolution.notifier, Policy(), utcnow() - timedelta(days=30))
    posted = eventually(lambda: [m for m in bot.slack.top_level(AUDIT_CHANNEL) if "could move up" in m.text])
    assert isinstance(posted, list)
    (message,) = posted
    assert "from shadow to approval" in message.text
    (button,) = [e for block in message.blocks if block["type"] == "actions" for e in block["elements"]]
    assert (button["action_id"], button["value"]) == ("apply_autonomy", "database:approval")
    refused = bot.click("apply_autonomy", "database:approval", user=OTHER)
    assert "Only admins may change the configuration." in text_of(refused[0])
    applied = bot.click("apply_autonomy", "database:approval", user=ADMIN)
    assert "Category *database* is now `approval`" in text_of(applied[0])
    config = bot.http.get("/api/v1/config").json()["category_configs"]["database"]
    assert (config["dry_run"], config["approval_all"]) == (False, True)
    forged = bot.click("apply_autonomy", "database:sudo", user=ADMIN)
    assert "not an autonomy proposal" in text_of(forged[0])


def test_every_refused_command_and_click_gets_one_audit_row_naming_who_asked_what(bot):
    """A refused command gets a clear answer and an audit row: the ones the engine refuses by rule
    (audited there, once), and the mistakes (unknown incident or category, a value out of range,
    no such sub-command, a click on a request no longer standing)."""
    bot.incident("INC-1")  # resolved: no approval stands for it
    asked = [
        ("/autoresolve", "INC-404", ADMIN, "Unknown incident: INC-404"),
        ("/autoresolve", "config nosuch threshold 0.9", ADMIN, "Unknown category: nosuch"),
        ("/autoresolve", "config database threshold 0.2", ADMIN, "threshold must be between 0.5 and 1"),
        ("/autoresolve", "frobnicate the database", OTHER, "is not a sub-command"),
        ("/killswitch", "off", OTHER, "Only admins may turn the kill switch off."),
    ]
    for command, text, user, answer in asked:
        assert answer in text_of(bot.command(command, text, user=user))
    (clicked,) = bot.click("approve_incident", "INC-1", user=ADMIN)
    assert "is not awaiting approval" in text_of(clicked)
    rows = sorted(bot.audit(action="request_refused"), key=lambda row: row["timestamp"])
    assert [(row["actor"], row["error_message"].split(":")[0]) for row in rows] == [
        (ADMIN, "Unknown incident"),
        (ADMIN, "Unknown category"),
        (ADMIN, "threshold must be between 0.5 and 1"),
        (OTHER, "`frobnicate the database` is not a sub-command"),
        (OTHER, "not allowed"),  # the engine's own row, with the permission: not written twice
        (ADMIN, "Incident INC-1 is not awaiting approval (it is resolved)"),
    ]
    assert rows[0]["details"]["command"] == "/autoresolve INC-404"
    assert rows[4]["details"]["permission"] == "kill_switch_off"
    assert rows[5]["details"]["command"] == "button approve_incident INC-1"
