"""The operator CLI as a subprocess against a real database: exit codes and output."""

from __future__ import annotations

import getpass
import json
import sqlite3
from pathlib import Path

import pytest

from engine.audit_checkpoints import latest_anchor
from storage.audit_chain import Anchor
from tests.conftest import eventually
from tests.support.processes import BotProcess
from tests.test_bot_process import RUNBOOKS, TOKEN, bot_env, run_cli, start_bot


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "runbooks.yml").write_text(RUNBOOKS)
    (tmp_path / "incident.json").write_text(
        json.dumps(
            {
                "incident_id": "INC-9",
                "title": "Connection pool exhausted",
                "category": "database",
                "priority": "high",
                "confidence_score": 0.95,
                "created_by": "U012ABCDEF",
                "service": "orders-db",
            }
        )
    )
    return tmp_path


def test_help_lists_every_sub_command_with_examples(workdir):
    result = run_cli(workdir, "--help")
    assert result.returncode == 0
    for command in ("serve", "check", "killswitch", "config", "audit", "runbooks", "db", "demo"):
        assert f"    {command}" in result.stdout
    assert "examples:" in result.stdout


def test_check_passes_on_a_good_setup(workdir):
    run_cli(workdir, "db", "upgrade")
    result = run_cli(workdir, "check")
    assert result.returncode == 0, result.stdout
    assert "ok    runbooks: 1 loaded" in result.stdout
    assert result.stdout.strip().endswith("all good")


@pytest.mark.parametrize(
    ("setup", "env", "expected"),
    [
        ("runbooks: [oops", {}, "FAIL  runbooks: "),
        ("", {"DATABASE_URL": "mysql://x"}, "FAIL  DATABASE_URL 'mysql://x': unsupported scheme 'mysql'"),
        ("", {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "cannot connect"),
        (
            "",
            {"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_SIGNING_SECRET": "s"},
            "SLACK_BOT_TOKEN: a bot token starts",
        ),
        ("", {"SLACK_BOT_TOKEN": "xoxb-x"}, "SLACK_BOT_TOKEN needs SLACK_SIGNING_SECRET"),
        ("", {"PORT": "0"}, "PORT: Input should be greater than or equal to 1"),
    ],
)
def test_check_names_what_is_wrong(workdir, setup, env, expected):
    if setup:
        (workdir / "runbooks.yml").write_text(setup)
    result = run_cli(workdir, "check", **env)
    assert result.returncode == 1
    assert expected in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_misnamed_setting_is_named_with_the_one_meant_by_check_and_by_every_command(workdir):
    (workdir / ".env").write_text("AUDIT_CHANEL=C0AUDIT\n")
    misnamed = {"SLACK_ADMIN_USERS": "U0ADMIN", "HTTP_PROXY": "http://proxy.internal:3128"}
    checked = run_cli(workdir, "check", **misnamed)
    assert "warn  SLACK_ADMIN_USERS is not a setting, so it changes nothing (did you mean ADMIN_USERS?)" in (
        checked.stdout
    )
    assert "warn  AUDIT_CHANEL is not a setting, so it changes nothing (did you mean AUDIT_CHANNEL?)" in (
        checked.stdout
    )
    assert "HTTP_PROXY" not in checked.stdout  # another program's setting, not a typo of ours
    status = run_cli(workdir, "killswitch", "status", **misnamed)
    assert status.returncode == 0
    assert "WARNING cli: SLACK_ADMIN_USERS is not a setting" in status.stderr


def test_check_warns_about_missing_programs_and_unconfigured_categories(workdir):
    (workdir / "runbooks.yml").write_text(
        "runbooks:\n  - {id: x, category: payments, steps: [{name: s, command: [no-such-tool-here]}]}\n"
    )
    run_cli(workdir, "db", "upgrade")
    result = run_cli(workdir, "check")
    assert result.returncode == 0
    assert "program 'no-such-tool-here' is not on this machine's PATH" in result.stdout
    assert "category 'payments' is not configured" in result.stdout


def test_killswitch_from_the_command_line(workdir):
    on = run_cli(
        workdir, "killswitch", "on", "--reason", "db migration", "--duration", "2h", "--actor", "ops-ada"
    )
    assert on.returncode == 0
    assert on.stdout.splitlines()[-1].startswith("kill switch: ON by ops-ada since ")
    assert on.stdout.rstrip().endswith(": db migration")
    assert "kill switch: ON" in run_cli(workdir, "killswitch", "status").stdout
    off = run_cli(workdir, "killswitch", "off")
    assert off.stdout.splitlines()[-1] == "kill switch: OFF (automation runs)"
    bad = run_cli(workdir, "killswitch", "on", "--duration", "soon")
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "error: --duration: 'soon' is not a duration like 500ms, 10s, 5m or 1h",
    )
    trail = run_cli(workdir, "audit", "query", "--json").stdout.splitlines()
    assert [json.loads(row)["action"] for row in trail] == [
        "kill_switch_deactivated",
        "kill_switch_activated",
    ]


def test_the_cli_kill_switch_also_reads_slacks_form(workdir):
    on = run_cli(workdir, "killswitch", "on", "2h", "db", "migration", "--actor", "ops-ada")
    assert on.returncode == 0, on.stderr
    assert " until " in on.stdout.splitlines()[-1]
    assert on.stdout.rstrip().endswith(": db migration")
    hosts = run_cli(workdir, "killswitch", "on", "5", "hosts", "down")  # a bare number is reason, not seconds
    assert hosts.stdout.rstrip().endswith("db migration; 5 hosts down (cli:" + getpass.getuser() + ")")
    off = run_cli(workdir, "killswitch", "off", "all", "clear")
    assert off.returncode == 0
    trail = [json.loads(row) for row in run_cli(workdir, "audit", "query", "--json").stdout.splitlines()]
    assert (trail[0]["action"], trail[0]["details"]["reason"]) == ("kill_switch_deactivated", "all clear")


def test_cli_kill_switch_durations_are_read_as_by_every_face(workdir):
    zero = run_cli(workdir, "killswitch", "on", "--duration", "0s")
    assert (zero.returncode, zero.stderr.strip()) == (
        2,
        "error: --duration: must be longer than 0s (leave it out for no end)",
    )
    huge = run_cli(workdir, "killswitch", "on", "--duration", "100000000h")
    assert huge.returncode == 0, huge.stderr
    assert "note: duration 100000000h capped at 30 days" in huge.stdout
    assert " until " in huge.stdout.splitlines()[-1]
    assert "Traceback" not in huge.stderr + zero.stderr


def test_a_running_bot_obeys_the_cli_kill_switch(workdir):
    bot = start_bot(workdir)
    try:
        assert run_cli(workdir, "killswitch", "on", "--reason", "slack is down").returncode == 0
        result = bot.client.post(
            "/api/v1/incidents/INC-1/auto-resolve",
            json=json.loads((workdir / "incident.json").read_text()) | {"incident_id": "INC-1"},
        ).json()
        assert result["message"] == "Auto-resolution is globally disabled (kill switch active)"
    finally:
        bot.stop()


def test_config_show_and_set(workdir):
    changed = run_cli(workdir, "config", "set", "database", "threshold", "0.95")
    assert changed.returncode == 0
    assert "database: enabled, threshold 95.00%" in changed.stdout
    document = json.loads(run_cli(workdir, "config", "show", "--json").stdout)
    assert document["categories"]["database"]["threshold"] == 0.95
    assert run_cli(workdir, "config", "set", "global", "max-concurrent", "4").returncode == 0
    assert "max concurrent runs: 4" in run_cli(workdir, "config", "show").stdout
    refused = run_cli(workdir, "config", "set", "database", "threshold", "0.2")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: threshold must be between 0.5 and 1")
    unknown = run_cli(workdir, "config", "set", "payments", "enable")
    assert unknown.stderr.strip() == "error: Unknown category: payments"
    refusals = [json.loads(row) for row in run_cli(workdir, "audit", "query", "--json").stdout.splitlines()]
    [refusal] = [row for row in refusals if row["action"] == "request_refused"]
    assert (refusal["actor"], refusal["error_message"]) == (
        f"cli:{getpass.getuser()}",
        "Unknown category: payments",
    )
    assert refusal["details"]["command"] == "config set payments enable"
    assert run_cli(workdir, "config", "set", "payments", "enable", "--create").returncode == 0


def test_cli_pauses_and_resumes_a_category_and_sets_its_budget(workdir):
    assert run_cli(workdir, "config", "set", "database", "budget", "5", "per", "2h").returncode == 0
    paused = run_cli(workdir, "config", "set", "database", "pause")
    assert paused.returncode == 0, paused.stderr
    assert "paused" in run_cli(workdir, "config", "show").stdout
    document = json.loads(run_cli(workdir, "config", "show", "--json").stdout)["categories"]["database"]
    assert (document["paused_reason"], document["failure_budget"]) == ("paused by hand", 5)
    assert run_cli(workdir, "config", "set", "database", "resume").returncode == 0
    document = json.loads(run_cli(workdir, "config", "show", "--json").stdout)["categories"]["database"]
    assert document["paused_reason"] is None
    trail = [
        json.loads(row)["action"] for row in run_cli(workdir, "audit", "query", "--json").stdout.splitlines()
    ]
    assert trail[0] == "category_resumed"


def test_audit_verify_finds_rows_changed_or_cut_from_the_end(workdir):
    bot = BotProcess(workdir, bot_env(workdir, AUDIT_CHECKPOINT_SECONDS="1"), token=TOKEN)
    try:
        bot.client.post("/api/v1/config/kill-switch/activate", params={"reason": "maintenance"})
        bot.client.post("/api/v1/config/kill-switch/deactivate")
        checkpoints = workdir / "audit-checkpoints.log"
        # every kill-switch change is anchored once it is sealed (the sealer runs every second)
        eventually(lambda: (latest_anchor(checkpoints) or Anchor(0, "")).seq >= 2)
    finally:
        bot.stop()
    assert (workdir / "audit.key").stat().st_mode & 0o777 == 0o600
    assert checkpoints.stat().st_mode & 0o777 == 0o600
    anchor = latest_anchor(checkpoints)
    assert anchor is not None
    intact = run_cli(workdir, "audit", "verify")
    assert intact.returncode == 0, intact.stdout
    assert intact.stdout.startswith("audit trail intact: ")
    assert f"checkpoint {anchor.seq} (from audit-checkpoints.log)" in intact.stdout
    with sqlite3.connect(workdir / "bot.db") as connection:  # rows cut from the end, as SQL can
        connection.execute("DELETE FROM audit_log WHERE seq >= ?", (anchor.seq,))
    cut = run_cli(workdir, "audit", "verify")
    assert cut.returncode == 1
    assert f"were removed: the checkpoint says the trail had {anchor.seq} rows" in cut.stdout
    copied = run_cli(workdir, "audit", "verify", "--anchor", f"{anchor.seq}:{anchor.chain_hash}")
    assert copied.returncode == 1  # the anchor copied from the audit channel says the same
    with sqlite3.connect(workdir / "bot.db") as connection:
        connection.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    changed = run_cli(workdir, "audit", "verify", "--anchor", "1:" + "0" * 64)
    assert changed.returncode == 1
    assert "audit trail BROKEN after 0 good rows: row 1 (audit_id " in changed.stdout


def test_audit_tail_and_bad_times(workdir):
    run_cli(workdir, "killswitch", "on", "--reason", "r1")
    tail = run_cli(workdir, "audit", "tail", "-n", "5").stdout
    assert "kill_switch_activated" in tail
    assert ": r1" in tail
    bad = run_cli(workdir, "audit", "query", "--since", "yesterday")
    assert (bad.returncode, bad.stderr.strip()) == (2, "error: --since: not a time like 2026-11-27T10:00:00Z")


def test_runbooks_list_and_dry_run(workdir):
    listing = run_cli(workdir, "runbooks", "list").stdout
    assert "db-fix (database, 1 step)" in listing
    dry = run_cli(workdir, "runbooks", "test", "db-fix", "--incident", str(workdir / "incident.json"))
    assert dry.returncode == 0
    assert "runbook db-fix matches incident INC-9 (database);" in dry.stdout
    assert "1. Fix [command, timeout 30.0s]: echo fixing orders-db" in dry.stdout
    missing = run_cli(workdir, "runbooks", "test", "nope", "--incident", str(workdir / "incident.json"))
    assert missing.returncode == 2
    (workdir / "bad.json").write_text('{"incident_id": "X"}')
    bad = run_cli(workdir, "runbooks", "test", "db-fix", "--incident", str(workdir / "bad.json"))
    assert bad.stderr.strip() == "error: --incident: title: Field required"


def test_demo_runs_nothing_and_shows_decisions(workdir):
    result = run_cli(workdir, "demo", RUNBOOKS_FILE=str(Path(__file__).parents[1] / "runbooks.yml"))
    assert result.returncode == 0, result.stderr
    assert "DEMO-1 database        0.97  dry_run" in result.stdout
    assert (
        "DEMO-4 network         0.85  skipped   Confidence score 85.00% below threshold 90.00%"
        in result.stdout
    )
    assert "[slack offline] would send to #audit (demo)" in result.stdout
    assert not (workdir / "bot.db").exists()  # a throw-away database


def test_database_passwords_are_never_shown(workdir):
    result = run_cli(workdir, "check", DATABASE_URL="postgresql://nobody:s3cret-pw@127.0.0.1:1/none")
    assert "cannot connect" in result.stdout
    assert "postgresql://nobody:***@127.0.0.1:1/none" in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr
    bad = run_cli(workdir, "check", DATABASE_URL="mysql://ops:s3cret-pw@db/x")
    assert "s3cret-pw" not in bad.stdout + bad.stderr


def test_the_sqlite_file_is_created_readable_by_its_owner_only(workdir):
    assert run_cli(workdir, "db", "upgrade").returncode == 0
    assert (workdir / "bot.db").stat().st_mode & 0o777 == 0o600


def test_runbooks_test_shows_kept_values_by_name_and_secrets_masked_reading_none(workdir):
    (workdir / "runbooks.yml").write_text(
        """
runbooks:
  - id: db-fix
    category: database
    inputs: {service: {pattern: "[a-z-]+"}}
    steps:
      - id: find
        name: Find
        http: {url: "https://api.internal/{service}?key={secret:API_KEY}"}
        capture: {replica: {json: "$.name"}}
      - {name: Fix, command: [echo, "{steps.find.replica}"]}
"""
    )
    secrets = workdir / "secrets"
    secrets.mkdir()
    (secrets / "API_KEY").write_text("never-shown")
    dry = run_cli(
        workdir,
        "runbooks",
        "test",
        "db-fix",
        "--incident",
        str(workdir / "incident.json"),
        RUNBOOK_SECRETS_DIR=str(secrets),
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert (
        "1. Find [http, timeout 30.0s]: GET https://api.internal/orders-db?key=[secret:API_KEY]" in dry.stdout
    )
    assert "2. Fix [command, timeout 30.0s]: echo steps.find.replica" in dry.stdout
    assert "never-shown" not in dry.stdout + dry.stderr
    (workdir / "hostile.json").write_text(
        (workdir / "incident.json").read_text().replace('"orders-db"', '"orders-db;reboot"')
    )
    hostile = run_cli(
        workdir,
        "runbooks",
        "test",
        "db-fix",
        "--incident",
        str(workdir / "hostile.json"),
        RUNBOOK_SECRETS_DIR=str(secrets),
    )
    assert hostile.returncode == 1
    assert (
        "would skip incident INC-9: Input service = 'orders-db;reboot' does not match [a-z-]+"
        in hostile.stdout
    )


def test_report_calibration_as_text_json_and_a_reliability_diagram(workdir):
    from storage import outcomes
    from storage.database import bind, open_database
    from storage.fields import utcnow

    assert (
        run_cli(workdir, "report", "calibration").stdout.strip() == "No automated decisions in the last 30d."
    )
    bind(open_database(f"sqlite:///{workdir / 'bot.db'}"))
    for index in range(40):
        outcomes.record_decision(
            incident_id=f"INC-{index}", category="database", confidence=0.95, threshold=0.9, decision="auto"
        )
        outcomes.set_outcome(
            incident_id=f"INC-{index}", kind="stayed_resolved", fixed=index != 0, known_at=utcnow()
        )
    text = run_cli(workdir, "report", "calibration").stdout
    assert "database: threshold 0.90, 40 outcome(s), 0 without a verdict" in text
    assert "at 0.90: 1 of 40 not fixed (2.5%, upper bound 11.3%)" in text
    document = json.loads(run_cli(workdir, "report", "calibration", "--json").stdout)
    assert document[0]["current"]["not_fixed"] == 1
    drawn = run_cli(workdir, "report", "calibration", "--png", str(workdir / "reliability.png"))
    assert drawn.returncode == 0, drawn.stderr
    assert (workdir / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    corrected = run_cli(workdir, "outcome", "INC-0", "fixed", "--actor", "ops")
    assert corrected.stdout.strip() == "INC-0: recorded as fixed by ops"
    assert "at 0.90: 0 of 40 not fixed" in run_cli(workdir, "report", "calibration").stdout
    unknown = run_cli(workdir, "outcome", "INC-404", "fixed")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "error: No automated decision was recorded for INC-404",
    )
