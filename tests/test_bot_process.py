"""The bot as an operator runs it: `python bot.py` in a real process, restarted, and refusing bad setups."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "process-token"
RUNBOOKS = """
runbooks:
  - id: db-fix
    category: database
    steps:
      - {name: Fix, command: ["echo", "fixing", "{service}"]}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "API_", "WEBHOOK_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        RUNBOOKS_FILE=str(tmp_path / "runbooks.yml"),
        API_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        cwd=tmp_path,
        env=bot_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


class BotProcess:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), "serve"],
            cwd=tmp_path,
            env=bot_env(tmp_path, PORT=str(self.port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the bot did not start")

    def stop(self) -> str:
        """SIGTERM, as systemd would; uvicorn shuts down gracefully, then re-raises the signal."""
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=30)
        assert self.process.returncode in (0, -signal.SIGTERM), output
        assert "Autoresolve stopped" in output, output
        return output


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
    bot = BotProcess(bot_dir)
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

    bot = BotProcess(bot_dir)
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
        f"error: runbooks file refused: {bot_dir / 'runbooks.yml'}: runbook 'broken': steps[0].wait: "
        "'soon' is not a duration like 500ms, 10s, 5m or 1h"
    )
    assert "Traceback" not in result.stderr + result.stdout


def test_binding_beyond_loopback_without_auth_is_refused(bot_dir):
    result = run_cli(bot_dir, "serve", HOST="0.0.0.0", API_TOKEN="")
    assert result.returncode == 2
    assert "HOST=0.0.0.0 accepts connections from other machines" in result.stderr
    assert "API_TOKEN and WEBHOOK_TOKEN or WEBHOOK_SECRET must be set" in result.stderr


def test_bad_settings_are_one_line_naming_the_variable(bot_dir):
    result = run_cli(bot_dir, "serve", PORT="http")
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid settings: PORT: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_db_upgrade_and_help(bot_dir):
    first = run_cli(bot_dir, "db", "upgrade")
    assert (first.returncode, first.stdout.strip()) == (0, "applied [1, 2, 3, 4, 5]; schema version 5")
    again = run_cli(bot_dir, "db", "upgrade")
    assert again.stdout.strip() == "up to date (schema version 5)"
    help_text = run_cli(bot_dir, "--help").stdout
    assert "serve" in help_text
    assert "db upgrade" in help_text
