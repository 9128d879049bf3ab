"""Step executors against real things: subprocesses and a local HTTP server."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from engine.runbooks import Action
from engine.step_kinds.base import MAX_OUTPUT_CHARS, run_attempt, truncate
from engine.steps import prepare
from tests.conftest import eventually

NO_CANCEL = threading.Event()
VALUES = {"service": "orders; rm -rf / $(whoami)", "incident_id": "INC-1", "labels": {}}


def run(action: dict, timeout: float = 5.0):
    prepared = prepare(Action.model_validate({**action, "timeout": timeout}), VALUES)
    return prepared, prepared.run(timeout, NO_CANCEL)


def test_command_runs_argv_without_a_shell():
    prepared, outcome = run(
        {"command": [sys.executable, "-c", "import sys; print(sys.argv[1])", "{service}"]}
    )
    assert outcome.ok
    assert outcome.output.strip() == "orders; rm -rf / $(whoami)"  # one argument, never interpreted
    assert prepared.describe().endswith("orders; rm -rf / $(whoami)")


def test_command_exit_status_is_a_failure_with_output_kept():
    _, outcome = run({"command": [sys.executable, "-c", "print('boom'); raise SystemExit(3)"]})
    assert not outcome.ok
    assert outcome.error == "exit status 3"
    assert "boom" in outcome.output


def test_command_timeout_kills_the_process_group():
    started = time.monotonic()
    script = (
        "import subprocess, time; subprocess.Popen(['sleep', '30']); "
        "print('started', flush=True); time.sleep(30)"
    )
    _, outcome = run({"command": [sys.executable, "-c", script]}, timeout=0.5)
    assert not outcome.ok
    assert outcome.error == "timed out after 0.5s"
    assert "started" in outcome.output
    assert time.monotonic() - started < 5  # the grandchild did not keep the pipe open


def test_command_does_not_inherit_the_bots_secrets(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    _, outcome = run({"command": [sys.executable, "-c", "import os; print(sorted(os.environ))"]})
    assert outcome.ok
    assert "SLACK_BOT_TOKEN" not in outcome.output


def test_missing_program_is_reported():
    _, outcome = run({"command": ["/nonexistent/program"]})
    assert not outcome.ok
    assert outcome.error == "program not found: /nonexistent/program"


def test_long_output_is_truncated_keeping_head_and_tail():
    _, outcome = run({"command": [sys.executable, "-c", "print('A' * 5000 + 'END')"]})
    assert outcome.ok
    assert len(outcome.output) < MAX_OUTPUT_CHARS + 100
    assert outcome.output.startswith("AAAA")
    assert outcome.output.rstrip().endswith("END")
    assert "characters cut" in truncate("x" * 10_000)


def test_http_step_succeeds_on_expected_status(http_server):
    prepared, outcome = run({"http": {"url": http_server.url + "/svc/{incident_id}", "expect_status": [200]}})
    assert outcome.ok
    assert outcome.output.startswith("HTTP 200")
    assert http_server.paths() == ["/svc/INC-1"]
    assert prepared.describe() == f"GET {http_server.url}/svc/INC-1"


def test_http_step_fails_on_unexpected_status(http_server):
    _, outcome = run({"http": {"url": http_server.url + "/status/503"}})
    assert not outcome.ok
    assert outcome.error == "HTTP 503, expected 2xx"
    _, outcome = run({"http": {"url": http_server.url + "/status/200", "expect_status": [204]}})
    assert outcome.error == "HTTP 200, expected 204"


def test_http_step_sends_method_headers_and_json_body(http_server):
    _, outcome = run(
        {
            "http": {
                "method": "post",
                "url": http_server.url + "/hooks",
                "headers": {"X-Incident": "{incident_id}"},
                "json": {"service": "{service}", "n": 1},
            }
        }
    )
    assert outcome.ok
    request = http_server.requests[-1]
    assert request.method == "POST"
    assert request.headers["X-Incident"] == "INC-1"
    assert request.body == b'{"service":"orders; rm -rf / $(whoami)","n":1}'


def test_http_step_times_out(http_server):
    _, outcome = run({"http": {"url": http_server.url + "/slow/3"}}, timeout=0.3)
    assert not outcome.ok
    assert outcome.error == "timed out after 0.3s"


def test_http_step_reports_connection_refused():
    _, outcome = run({"http": {"url": "http://127.0.0.1:9/"}})
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.startswith("request failed: ConnectError")


def test_wait_waits_and_stops_early_when_cancelled():
    prepared = prepare(Action.model_validate({"wait": "200ms"}), VALUES)
    started = time.monotonic()
    assert prepared.run(1, threading.Event()).ok
    assert time.monotonic() - started >= 0.2
    cancelled = threading.Event()
    cancelled.set()
    outcome = prepare(Action.model_validate({"wait": "10s"}), VALUES).run(1, cancelled)
    assert (outcome.ok, outcome.stopped) == (False, True)


def test_log_records_its_message():
    prepared, outcome = run({"log": "restarting {incident_id}"})
    assert outcome.ok
    assert outcome.output == "restarting INC-1"
    assert prepared.describe() == "log: restarting INC-1"


@pytest.mark.parametrize("value", ["-rf", "--help"])
def test_option_like_values_never_reach_a_command(value):
    action = Action.model_validate({"command": ["echo", "{service}"]})
    with pytest.raises(ValueError, match="option"):
        prepare(action, {**VALUES, "service": value})


def test_an_exception_no_step_kind_expects_is_the_attempts_failure():
    # A label value of "xn--" in the host makes httpx raise IDNAError, which is no httpx.HTTPError.
    action = Action.model_validate({"http": {"url": "http://{labels[host]}/health"}})
    prepared = prepare(action, {**VALUES, "labels": {"host": "xn--"}})
    outcome = run_attempt(prepared, 5.0, NO_CANCEL)
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.startswith("unexpected error: IDNAError")


def test_a_child_left_holding_the_output_does_not_hold_the_step():
    # The shell ends at once; the sleep it leaves in a session of its own keeps the output open.
    started = time.monotonic()
    _, outcome = run({"command": ["sh", "-c", "setsid sleep 15 & echo started"]}, timeout=2)
    assert outcome.ok, outcome.error
    assert outcome.output.strip() == "started"
    assert time.monotonic() - started < 10  # it used to wait for the sleep: 15 s


def test_a_command_is_stopped_by_its_stop_while_it_runs(tmp_path):
    marker = tmp_path / "started"
    stop = threading.Event()
    touch = f"pathlib.Path({str(marker)!r}).touch()"
    script = f"import pathlib, time; {touch}; print('up', flush=True); time.sleep(60)"
    prepared = prepare(Action.model_validate({"command": [sys.executable, "-c", script]}), VALUES)
    result: list = []
    runner = threading.Thread(target=lambda: result.append(prepared.run(120, stop)))
    runner.start()
    eventually(marker.exists)
    stop.set()
    runner.join(30)
    [outcome] = result
    assert (outcome.ok, outcome.stopped, outcome.error) == (False, True, "stopped before it finished")
    assert outcome.output.strip() == "up"


def test_an_http_step_is_bounded_by_its_timeout_as_a_whole(http_server):
    # /drip sends a byte every 0.2 s for 5 s: no single read waits long enough to trip httpx.
    _, outcome = run({"http": {"url": http_server.url + "/drip/5"}}, timeout=0.5)
    assert not outcome.ok
    assert outcome.error == "timed out after 0.5s"


def test_a_wait_is_stopped_by_its_stop():
    stop = threading.Event()
    stop.set()
    outcome = prepare(Action.model_validate({"wait": "1h"}), VALUES).run(1, stop)
    assert (outcome.ok, outcome.stopped) == (False, True)


def test_a_command_runs_in_an_empty_directory_of_its_own(tmp_path):
    _, outcome = run(
        {"command": [sys.executable, "-c", "import os; print(os.getcwd()); print(os.listdir('.'))"]}
    )
    assert outcome.ok
    where, listing = outcome.output.splitlines()
    assert listing == "[]"
    assert where != os.getcwd()  # not the bot's directory, where .env and the database live
    assert not os.path.exists(where)  # removed after the attempt
    chosen = prepare(Action.model_validate({"command": ["pwd"]}), VALUES, workdir=str(tmp_path))
    assert chosen.run(5, NO_CANCEL).output.strip() == str(tmp_path)
