"""PROCESSES=2: one `serve` starting two bot processes on one port (real processes, real PostgreSQL);
signals reach them, a killed one is replaced, a refused configuration stops them all."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually
from tests.faults.conftest import sql
from tests.support.factories import incident_body
from tests.support.processes import BotProcess, alive, children_of, clean_env, run_cli

pytestmark = pytest.mark.replicas

TOKEN = "processes-token"
RUNBOOKS = "runbooks:\n  - {id: fix, category: database, steps: [{name: Fix, log: 'fixed {service}'}]}\n"


def env_for(pg_url: str, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "runbooks.yml").write_text(RUNBOOKS)
    return clean_env(
        DATABASE_URL=pg_url,
        RUNBOOKS_FILE=str(tmp_path / "runbooks.yml"),
        API_TOKEN=TOKEN,
        LOG_LEVEL="INFO",
        PROCESSES="2",
    )


def wait_for_children(pid: int, kept: set[int], gone: set[int]) -> set[int]:
    """Its two processes, once there are two, `kept` among them and `gone` not."""
    found: set[int] = set()

    def two() -> bool:
        nonlocal found
        found = children_of(pid)
        return len(found) == 2 and kept <= found and not found & gone

    eventually(two, timeout=30)
    return found


def deliver(port: int, incident_id: str) -> dict[str, object]:
    """One incident on a connection of its own (the kernel hands each to either process)."""
    answer = httpx.post(
        f"http://127.0.0.1:{port}/webhooks/incidents", json=incident_body(incident_id=incident_id), timeout=30
    )
    assert answer.status_code == 202, answer.text
    accepted: dict[str, object] = answer.json()["accepted"][0]
    return accepted


def test_two_processes_serve_one_port_replace_a_killed_one_and_stop_together(pg_url, tmp_path):
    bot = BotProcess(tmp_path, env_for(pg_url, tmp_path), token=TOKEN)
    try:
        first = wait_for_children(bot.pid, set(), set())
        delivered = [f"P-{n}" for n in range(20)]
        for incident_id in delivered:
            assert deliver(bot.port, incident_id)["decision"] == "queued"

        resolved = "SELECT count(*) FROM run WHERE status = 'resolved'"
        # nothing in flight when it is killed (a run it held would wait out its lease: test_replicas)
        eventually(lambda: sql(pg_url, resolved)[0][0] == len(delivered))
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        both = wait_for_children(bot.pid, first - {victim}, {victim})
        (replacement,) = both - first

        def runs_of_the_replacement() -> int:
            delivered.append(f"P-{len(delivered)}")
            assert deliver(bot.port, delivered[-1])["decision"] == "queued"
            claimed = "SELECT count(*) FROM run WHERE claimed_by LIKE %s"
            return int(sql(pg_url, claimed, f"%:{replacement}:%")[0][0])

        eventually(runs_of_the_replacement, timeout=60)  # it serves: incidents it took, it runs

        (tmp_path / "runbooks.yml").write_text(RUNBOOKS.replace("fixed", "mended"))
        bot.process.send_signal(signal.SIGHUP)  # passed on: each process reloads; the supervisor lives on
        eventually(lambda: sql(pg_url, "SELECT count(*) FROM audit_log WHERE actor = 'SIGHUP'")[0][0] >= 1)
        assert alive(bot.pid)
        assert all(alive(pid) for pid in both)

        eventually(lambda: sql(pg_url, resolved)[0][0] == len(delivered))
        output = bot.stop()
        assert output.count("Autoresolve stopped") == 2, output  # both processes shut down gracefully
        assert not any(alive(pid) for pid in both)
        assert "Traceback" not in output
        runs = sql(pg_url, "SELECT incident_id, count(*) FROM run GROUP BY incident_id")
        assert sorted(r[0] for r in runs) == sorted(delivered)
        assert {r[1] for r in runs} == {1}  # every incident ran once, whichever process took it
    finally:
        if bot.process.poll() is None:  # failed part-way: nothing left running
            bot.kill()


def test_a_process_that_refuses_its_configuration_stops_the_others(pg_url, tmp_path):
    env = env_for(pg_url, tmp_path)
    (tmp_path / "runbooks.yml").write_text("runbooks:\n  - {id: broken, steps: [{name: x, wait: soon}]}\n")
    result = run_cli(tmp_path, "serve", env=env)
    assert result.returncode == 2
    assert "error: runbooks file refused" in result.stderr
    assert "refused to start (status 2): stopping" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_with_log_format_json_the_supervisors_own_lines_are_json_too(pg_url, tmp_path):
    env = {**env_for(pg_url, tmp_path), "LOG_FORMAT": "json"}
    (tmp_path / "runbooks.yml").write_text("runbooks:\n  - {id: broken, steps: [{name: x, wait: soon}]}\n")
    result = run_cli(tmp_path, "serve", env=env)
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if "refused to start" in line]
    entry = json.loads(line)
    assert (entry["logger"], entry["level"]) == ("cli.supervisor", "ERROR")


def test_several_processes_are_refused_on_sqlite(tmp_path):
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}", PROCESSES="2")
    result = run_cli(tmp_path, "serve", env=env)
    assert result.returncode == 2
    assert "PROCESSES=2 needs DATABASE_URL=postgresql://" in result.stderr
