"""The bot as an operator runs it: `python bot.py` in a real process, restarted, and refusing bad setups."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.support.processes import BotProcess, clean_env
from tests.support.processes import run_cli as run_process_cli

TOKEN = "process-token"
RUNBOOKS = """
runbooks:
  - id: db-fix
    category: database
    steps:
      - {name: Fix, command: ["echo", "fixing", "{service}"]}
"""


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "RUNBOOKS_FILE": str(tmp_path / "runbooks.yml"),
        "API_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    return clean_env(**(settings | extra))


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_process_cli(tmp_path, *args, env=bot_env(tmp_path, **env))


def start_bot(tmp_path: Path) -> BotProcess:
    return BotProcess(tmp_path, bot_env(tmp_path), token=TOKEN)


@pytest.fixture
def bot_dir(tmp_path: Path) -> Path:
    (tmp_path / "runbooks.yml").write_text(RUNBOOKS)
    return tmp_path


def test_state_survives_a_restart(bot_dir):
    incident = {
        "incident_id": "INC-1",
        "title": "Connection pool exhausted",
        "category": "database",
        "priority": "high",
        "confidence_score": 0.95,
        "created_by": "U012ABCDEF",
        "service": "orders-db",
    }
    bot = start_bot(bot_dir)
    result = bot.client.post("/api/v1/incidents/INC-1/auto-resolve", json=incident).json()
    assert result["success"] is True
    assert result["resolution_steps"][0]["output"] == "fixing orders-db\n"
    bot.client.put(
        "/api/v1/config", json={"category_config": {"category": "network", "confidence_threshold": 0.97}}
    )
    bot.client.post(
        "/api/v1/config/kill-switch/activate", params={"actor": "U0ONCALL", "reason": "maintenance"}
    )
    trail_before = bot.client.get("/api/v1/audit/incident/INC-1").json()
    output = bot.stop()
    assert "[slack offline] would send to DM U012ABCDEF" in output

    bot = start_bot(bot_dir)
    try:
        detail = bot.client.get("/api/v1/incidents/INC-1").json()
        assert (detail["status"], detail["latest_run"]["status"]) == ("auto_resolved", "resolved")
        assert bot.client.get("/api/v1/audit/incident/INC-1").json() == trail_before
        config = bot.client.get("/api/v1/config").json()
        assert config["kill_switch"]["active"] is True
        assert config["kill_switch"]["reason"] == "maintenance"
        assert config["category_configs"]["network"]["confidence_threshold"] == 0.97
    finally:
        bot.stop()


def test_a_malformed_runbooks_file_is_refused_at_start_up(bot_dir):
    (bot_dir / "runbooks.yml").write_text(
        "runbooks:\n  - id: broken\n    category: database\n    steps: [{name: x, wait: soon}]\n"
    )
    result = run_cli(bot_dir, "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: runbooks file refused: {bot_dir / 'runbooks.yml'}: runbook 'broken': step 'x': "
        "steps[0].wait: 'soon' is not a duration like 500ms, 10s, 5m or 1h"
    )
    assert "Traceback" not in result.stderr + result.stdout


def test_binding_beyond_loopback_without_auth_is_refused(bot_dir):
    result = run_cli(bot_dir, "serve", HOST="0.0.0.0", API_TOKEN="")
    assert result.returncode == 2
    assert "HOST=0.0.0.0 accepts connections from other machines" in result.stderr
    assert "API_TOKEN (or API_TOKENS) and WEBHOOK_TOKEN or WEBHOOK_SECRET must be set" in result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("PORT", "http", "invalid settings: PORT: Input should be a valid integer"),
        # an admin no one can be: every admin command would be refused, silently misconfigured
        ("ADMIN_USERS", "U0LEAD, bob", "invalid settings: ADMIN_USERS: 'bob' is not a Slack user ID"),
        ("SLACK_API_URL", "slack.example.com", "invalid settings: SLACK_API_URL: 'slack.example.com' is not"),
        ("RESULT_WEBHOOK_URL", "ftp://x", "invalid settings: RESULT_WEBHOOK_URL: 'ftp://x' is not an http"),
        # a scheme peewee knows but the bot does not support: was a trace from the MySQL driver
        ("DATABASE_URL", "mysql://db/ar", "DATABASE_URL 'mysql://db/ar': unsupported scheme 'mysql'"),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(bot_dir, setting, value, message):
    result = run_cli(bot_dir, "serve", **{setting: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_env_file_that_is_not_utf8_is_one_line_too(bot_dir):
    (bot_dir / ".env").write_bytes("AUDIT_CHANNEL=café\n".encode("latin-1"))  # was a UnicodeDecodeError trace
    result = run_cli(bot_dir, "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: invalid settings: .env is not UTF-8 text (byte 0xe9)"


def test_db_upgrade_and_help(bot_dir):
    first = run_cli(bot_dir, "db", "upgrade")
    assert (first.returncode, first.stdout.strip()) == (
        0,
        "applied [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]; schema version 12",
    )
    again = run_cli(bot_dir, "db", "upgrade")
    assert again.stdout.strip() == "up to date (schema version 12)"
    help_text = run_cli(bot_dir, "--help").stdout
    assert "serve" in help_text
    assert "db upgrade" in help_text


def test_forged_requests_cannot_write_lines_or_escapes_into_the_log(bot_dir):
    bot = BotProcess(
        bot_dir,
        bot_env(bot_dir, LOG_LEVEL="INFO", SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="s3cret"),
        token=TOKEN,
    )
    forged = "x\n2026-12-01 09:00:00,000 ERROR root: FORGED LINE \x1b[31mred"
    try:
        bot.client.get("/api/v1/incidents/%0A2026-12-01%2009:00:00,000%20ERROR%20root:%20FORGED%1b[31m")
        bot.client.post(
            "/slack/events",
            content=forged.encode(),
            headers={"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"},
        )
        bot.client.post(
            "/webhooks/incidents", content=forged.encode(), headers={"Authorization": "Bearer no"}
        )
    finally:
        output = bot.stop()
    assert "FORGED LINE" not in output  # a refused body is not logged (Bolt logged it whole at INFO)
    assert "\x1b" not in output
    assert '"GET /api/v1/incidents/%0A2026-12-01' in output  # the access log has the path, quoted


def test_a_well_configured_start_warns_about_nothing(bot_dir):
    """An operator reads the first lines: a warning there must mean something is wrong (Bolt warned
    that SLACK_BOT_TOKEN went unused beside the bot's client, at every start, though it is the
    client's token)."""
    bot = BotProcess(
        bot_dir,
        bot_env(
            bot_dir,
            LOG_LEVEL="INFO",
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET="s3cret",
            AUDIT_CHANNEL="C0AUDIT",
        ),
        token=TOKEN,
    )
    output = bot.stop()
    assert "Autoresolve on http://" in output
    assert [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line] == []


def test_log_lines_escape_control_characters():
    import logging

    from cli.logs import TextFormatter

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "refused %s", ("a\nFAKE \x1b[31m",), None)
    assert TextFormatter().format(record).endswith("x: refused a\\nFAKE \\x1b[31m")


def test_sighup_and_the_cli_reload_the_runbooks_without_a_restart(bot_dir):
    incident = {
        "title": "Connection pool exhausted",
        "category": "database",
        "priority": "high",
        "confidence_score": 0.95,
        "created_by": "U012ABCDEF",
        "service": "orders-db",
    }

    def output_of(incident_id: str) -> str:
        body = {**incident, "incident_id": incident_id}
        result = bot.client.post(f"/api/v1/incidents/{incident_id}/auto-resolve", json=body).json()
        return str(result["resolution_steps"][0]["output"]).strip()

    def reloads() -> int:
        return len(bot.client.get("/api/v1/audit", params={"action": "runbooks_reloaded"}).json())

    bot = start_bot(bot_dir)
    try:
        assert output_of("INC-1") == "fixing orders-db"
        (bot_dir / "runbooks.yml").write_text(RUNBOOKS.replace("fixing", "mending"))
        bot.process.send_signal(signal.SIGHUP)
        eventually(lambda: reloads() == 1)
        assert output_of("INC-2") == "mending orders-db"

        (bot_dir / "runbooks.yml").write_text("runbooks: [{id: db-fix, category: database, steps: []}]")
        refused = run_cli(bot_dir, "runbooks", "reload", "--actor", "ops")
        assert refused.returncode != 0
        assert "reload refused; the running bots keep their runbooks" in refused.stderr
        assert output_of("INC-3") == "mending orders-db"

        (bot_dir / "runbooks.yml").write_text(RUNBOOKS.replace("fixing", "repairing"))
        taken = run_cli(bot_dir, "runbooks", "reload", "--actor", "ops")
        assert taken.returncode == 0, taken.stderr
        eventually(lambda: reloads() == 2)  # the bot follows within RUNBOOKS_FOLLOW_SECONDS
        assert output_of("INC-4") == "repairing orders-db"
    finally:
        bot.stop()
