"""Runbooks that do real fixes, through real steps: secrets that authenticate a step and appear
nowhere, inputs rules that refuse hostile values before anything runs, and values a step keeps
(captures) flowing into later steps. Real processes, a real local HTTP server that needs a token."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from engine.errors import RunbookError
from engine.runbooks import load_runbooks
from engine.secrets import SecretStore
from runtime import Runtime
from storage import audit, runs
from storage.runs import Run, StepResult
from storage.schema import ALL_MODELS
from storage.statuses import TERMINAL_RUN_STATUSES
from tests.conftest import make_incident, write_runbooks
from tests.support.notifier import RecordingNotifier
from tests.support.servers import EchoServer

SECRET = "s3cr3t-T0ken/with+odd=chars"
LAGGING = json.dumps({"lagging": [{"name": "db2", "lag_seconds": 41}]})
REMEDIATION = """
runbooks:
  - id: resync-lagging-replica
    category: database
    inputs: INPUTS
    steps:
      - id: find
        name: Find the lagging replica
        http:
          url: "URL/api/replicas/lagging?service={service}"
          headers: {Authorization: "Bearer {secret:REPLICA_API_TOKEN}"}
        capture:
          replica: {json: "$.lagging[0].name"}
          lag: {json: "$.lagging[0].lag_seconds"}
      - id: resync
        name: Resync it
        command: [sh, -c, 'printf "resyncing %s with token %s\\n" "$1" "$2"', resync,
                  "{steps.find.replica}", "{secret:REPLICA_API_TOKEN}"]
        capture:
          started: {regex: 'resyncing (\\S+)'}
      - name: Tell the channel
        log: "Resynced {steps.resync.started} (lag was {steps.find.lag}s)"
"""
SERVICE_RULE = "{service: {pattern: '[a-z0-9-]{1,40}'}}"


def remediation(url: str, inputs: str = SERVICE_RULE) -> str:
    return REMEDIATION.replace("URL", url).replace("INPUTS", inputs)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "REPLICA_API_TOKEN").write_text(SECRET + "\n", encoding="utf-8")  # as mounted: a newline
    return directory


@pytest.fixture
def api(http_server: EchoServer) -> EchoServer:
    http_server.api_token = SECRET
    http_server.answers["/api/replicas/lagging"] = LAGGING
    return http_server


def finish(runtime: Runtime, incident_id: str = "INC-1") -> Run:
    latest = runs.latest_for(incident_id=incident_id)
    assert latest is not None, "no run was queued"
    run = runtime.resolution.wait_for_run(latest.id, 20)
    assert run.status in TERMINAL_RUN_STATUSES, f"run still {run.status}"
    return run


def step_rows(run_id: int) -> list[StepResult]:
    return list(StepResult.select().where(StepResult.run_id == run_id).order_by(StepResult.position))


def everything_stored() -> str:
    """Every row of every table, as text."""
    return "\n".join(repr(row.__data__) for model in ALL_MODELS for row in model.select())


def test_a_secret_authenticates_a_step_and_is_never_written_anywhere(engine, api, secrets_dir, caplog):
    caplog.set_level(logging.DEBUG)
    runtime = engine(remediation(api.url), runbook_secrets_dir=secrets_dir)
    runtime.resolution.submit(make_incident(service="orders-db"))
    run = finish(runtime)
    assert run.status == "resolved", run.message
    (call,) = api.requests
    assert call.headers["Authorization"] == f"Bearer {SECRET}"  # the real value went where it was asked
    stored = everything_stored()
    assert SECRET not in stored
    assert "s3cr3t" not in stored  # nor any part of it
    notifier = runtime.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert "s3cr3t" not in repr(notifier.__dict__)  # nothing any notifier (Slack, the console) was told
    assert "s3cr3t" not in caplog.text
    resync = step_rows(run.id)[1]
    assert resync.output.strip() == "resyncing db2 with token [secret:REPLICA_API_TOKEN]"  # echoed: masked
    assert resync.action.endswith("db2 [secret:REPLICA_API_TOKEN]")


def test_a_kept_value_flows_into_later_steps(engine, api, secrets_dir):
    runtime = engine(remediation(api.url), runbook_secrets_dir=secrets_dir)
    runtime.resolution.submit(make_incident(service="orders-db"))
    run = finish(runtime)
    assert run.status == "resolved", run.message
    kept = {row.details["step"]: row.details.get("kept") for row in audit.query(action="step_succeeded")}
    assert kept == {
        "Find the lagging replica": {"replica": "db2", "lag": "41"},
        "Resync it": {"started": "db2"},
        "Tell the channel": None,
    }
    assert step_rows(run.id)[2].output == "Resynced db2 (lag was 41s)"
    assert api.requests[0].path == "/api/replicas/lagging?service=orders-db"


def test_a_capture_that_finds_nothing_fails_its_step(engine, api, secrets_dir):
    api.answers["/api/replicas/lagging"] = json.dumps({"lagging": []})  # nothing lags
    runtime = engine(remediation(api.url), runbook_secrets_dir=secrets_dir)
    runtime.resolution.submit(make_incident(service="orders-db"))
    run = finish(runtime)
    assert (run.status, run.message) == ("failed", "Step 1 (Find the lagging replica) failed")
    (failed,) = audit.query(action="step_failed")
    assert failed.error_message == "capture replica: $.lagging[0].name: not in the answer"
    assert len(step_rows(run.id)) == 1  # the resync never ran


def test_a_kept_value_that_breaks_its_inputs_rule_fails_the_step(engine, api, secrets_dir):
    api.answers["/api/replicas/lagging"] = json.dumps(
        {"lagging": [{"name": "db2; reboot", "lag_seconds": 1}]}
    )
    inputs = "{service: {pattern: '[a-z0-9-]+'}, steps.find.replica: {pattern: 'db[0-9]{1,3}'}}"
    runtime = engine(remediation(api.url, inputs), runbook_secrets_dir=secrets_dir)
    runtime.resolution.submit(make_incident(service="orders-db"))
    run = finish(runtime)
    assert run.status == "failed"
    (failed,) = audit.query(action="step_failed")
    assert failed.error_message == (
        "Input steps.find.replica = 'db2; reboot' does not match db[0-9]{1,3} (the runbook's inputs)"
    )


def test_a_hostile_value_is_refused_by_its_inputs_rule_before_anything_runs(engine, api, secrets_dir):
    runtime = engine(remediation(api.url), runbook_secrets_dir=secrets_dir)
    submission = runtime.resolution.submit(make_incident(service="orders-db&admin=1"))
    assert submission.decision.outcome == "skipped"
    assert submission.decision.reason == (
        "Input service = 'orders-db&admin=1' does not match [a-z0-9-]{1,40} (the runbook's inputs)"
    )
    assert submission.run_id is None
    assert api.requests == []
    (decided,) = audit.query(action="auto_resolution_skipped")
    assert decided.details["gate"] == "inputs"


def test_a_url_host_from_incident_data_needs_a_rule_that_says_which_hosts(tmp_path, engine, http_server):
    host_step = 'steps: [{name: Probe, http: {url: "http://{labels[host]}/health"}}]'
    bare = f"runbooks:\n  - id: probe\n    category: database\n    {host_step}\n"
    with pytest.raises(
        RunbookError, match=r"\{labels\[host\]\} chooses the URL's host: declare it under inputs"
    ):
        load_runbooks(write_runbooks(tmp_path, bare))
    length_only = bare.replace("    steps:", '    inputs: {"labels[host]": {max_length: 40}}\n    steps:')
    with pytest.raises(RunbookError, match="chooses the URL's host"):
        load_runbooks(write_runbooks(tmp_path, length_only))
    ours = http_server.url.removeprefix("http://")
    allowed = length_only.replace("{max_length: 40}", f"{{one_of: ['{ours}']}}")
    runtime = engine(allowed)
    runtime.resolution.submit(make_incident(incident_id="INC-1", labels={"host": ours}))
    assert finish(runtime).status == "resolved"
    elsewhere = runtime.resolution.submit(
        make_incident(incident_id="INC-2", labels={"host": "evil.example:80"})
    )
    assert elsewhere.decision.outcome == "skipped"
    assert elsewhere.decision.reason.startswith("Input labels[host] = 'evil.example:80' not one of ")
    assert http_server.paths() == ["/health"]


def test_a_missing_secret_is_refused_at_load_naming_the_step(tmp_path, secrets_dir):
    text = remediation("http://127.0.0.1:9").replace("secret:REPLICA_API_TOKEN", "secret:NO_SUCH_TOKEN")
    with pytest.raises(RunbookError) as refused:
        load_runbooks(write_runbooks(tmp_path, text), SecretStore(directory=secrets_dir))
    assert "step 'Find the lagging replica'" in str(refused.value)
    assert "the secret 'NO_SUCH_TOKEN' does not exist" in str(refused.value)


def test_an_environment_secret_is_read_only_when_listed(tmp_path):
    text = remediation("http://127.0.0.1:9")
    environ = {"REPLICA_API_TOKEN": SECRET}
    with pytest.raises(RunbookError, match="REPLICA_API_TOKEN"):  # set, but not listed: not a secret
        load_runbooks(write_runbooks(tmp_path, text), SecretStore(environ=environ))
    store = SecretStore(["REPLICA_API_TOKEN"], environ=environ)
    assert load_runbooks(write_runbooks(tmp_path, text), store).get("resync-lagging-replica") is not None


@pytest.mark.parametrize(
    ("step", "refusal"),
    [
        ('{name: Say, log: "token {secret:REPLICA_API_TOKEN}"}', "a log step's message is shown to people"),
        ('{name: Use, log: "{steps.nowhere.value}"}', "no earlier step with the id 'nowhere' keeps 'value'"),
        ('{name: Keep, log: hi, capture: {x: {regex: "."}}}', "needs an id"),
        ('{id: k, name: Keep, log: hi, capture: {x: {json: "$.a"}}}', "json is for http steps"),
    ],
)
def test_what_a_runbook_cannot_say_is_refused_at_load(tmp_path, secrets_dir, step, refusal):
    text = f"runbooks:\n  - id: r\n    category: database\n    steps: [{step}]\n"
    with pytest.raises(RunbookError, match=refusal.replace("(", r"\(").replace(")", r"\)")):
        load_runbooks(write_runbooks(tmp_path, text), SecretStore(directory=secrets_dir))


POLLING = """
runbooks:
  - id: wait-for-catch-up
    category: database
    steps:
      - name: Pause writes
        log: paused
        rollback: {http: {url: "URL/undo/pause"}}
      - id: check
        name: Wait until the replica caught up
        http: {url: "URL/api/replicas/db2"}
        capture: {lag: {json: "$.lag_seconds"}}
        until: "steps.check.lag < 5"
        every: 0.1
        within: WITHIN
      - name: Resume writes
        log: "resumed at lag {steps.check.lag}s"
"""


def lags(*seconds: int) -> list[str]:
    return [json.dumps({"name": "db2", "lag_seconds": s}) for s in seconds]


def test_until_polls_until_it_holds(engine, http_server):
    http_server.answers["/api/replicas/db2"] = lags(30, 12, 2)
    runtime = engine(POLLING.replace("URL", http_server.url).replace("WITHIN", "10"))
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "resolved", run.message
    assert http_server.paths() == ["/api/replicas/db2"] * 3  # held on the third poll
    polls = audit.query(action="step_retry")
    assert sorted((p.details["attempt"], p.details["poll"], p.error_message) for p in polls) == [
        (2, True, "until steps.check.lag < 5: not yet"),
        (3, True, "until steps.check.lag < 5: not yet"),
    ]
    assert step_rows(run.id)[1].attempts == 3
    assert step_rows(run.id)[2].output == "resumed at lag 2s"


def test_until_that_never_holds_fails_within_its_time_and_rolls_back(engine, http_server):
    http_server.answers["/api/replicas/db2"] = lags(30)
    runtime = engine(POLLING.replace("URL", http_server.url).replace("WITHIN", "0.35"))
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "failed"
    assert run.message == "Step 2 (Wait until the replica caught up) failed; rolled back 1 of 1 step(s)"
    (failed,) = audit.query(action="step_failed")
    assert (failed.error_message or "").startswith(
        "until steps.check.lag < 5: not yet; steps.check.lag < 5 did not hold within 0.35s ("
    )
    polls = [p for p in http_server.paths() if p.startswith("/api/")]
    assert 2 <= len(polls) <= 4  # every 0.1 s, none begun after 0.35 s
    assert http_server.paths()[-1] == "/undo/pause"


def test_when_skips_a_step_that_does_not_apply_and_refuses_one_it_cannot_decide(engine):
    runtime = engine(
        """
    runbooks:
      - id: r
        category: database
        match: {title: "(?i)pool"}
        steps:
          - {name: Page the DBA, log: paged, when: "priority == 'critical'"}
          - {name: Note it, log: noted, when: "priority != 'critical' and confidence_score >= 0.9"}
      - id: undecided
        category: database
        match: {title: "(?i)rack"}
        steps:
          - {name: Power cycle, log: cycled, when: "labels[rack] == 'r1'"}
    """
    )
    runtime.resolution.submit(make_incident(title="Connection pool exhausted", priority="high"))
    run = finish(runtime)
    assert run.status == "resolved"
    assert [(row.name, row.status) for row in step_rows(run.id)] == [
        ("Page the DBA", "skipped"),
        ("Note it", "succeeded"),
    ]
    (skipped,) = audit.query(action="step_skipped")
    assert skipped.details["why"] == "when priority == 'critical': did not hold"
    runtime.resolution.submit(make_incident(incident_id="INC-2", title="Rack power lost"))
    run = finish(runtime, "INC-2")
    assert run.status == "failed"  # in doubt: not run, and the run stops
    (failed,) = audit.query(action="step_failed")
    assert failed.error_message == "when labels[rack] == 'r1': labels[rack] has no value"


def test_expect_decides_success_beyond_the_exit_code_and_the_status(engine, http_server):
    http_server.answers["/api/health"] = json.dumps({"status": "degraded", "replicas": 2})
    runtime = engine(
        f"""
    runbooks:
      - id: http-check
        category: database
        match: {{title: "(?i)pool"}}
        steps:
          - name: Replicas healthy
            http: {{url: "{http_server.url}/api/health"}}
            expect: {{json: {{"$.status": "ok", "$.replicas": 2}}}}
            retries: 0
      - id: command-check
        category: database
        match: {{title: "(?i)sync"}}
        steps:
          - {{name: Check, command: [echo, "3 in sync"], expect: {{regex: "[0-9]+ in sync"}}}}
    """
    )
    runtime.resolution.submit(make_incident(title="Connection pool exhausted"))
    assert finish(runtime).status == "failed"
    (failed,) = audit.query(action="step_failed")
    assert failed.error_message == "expected $.status == ok, found degraded"
    runtime.resolution.submit(make_incident(incident_id="INC-2", title="Replica sync lost"))
    assert finish(runtime, "INC-2").status == "resolved"


@pytest.mark.parametrize(
    ("step", "refusal"),
    [
        ("{name: P, log: x, until: 'priority == 1'}", "until, every and within go together"),
        ("{name: P, log: x, until: 'priority == 1', every: 2, within: 1}", "every must be at least"),
        ("{name: P, log: x, until: 'priority == 1', every: 1, within: 2, retries: 2}", "leave retries out"),
        ("{name: P, log: x, when: 'priority = 1'}", "cannot read"),
        ("{name: P, log: x, when: '__import__(\"os\")'}", "is not an incident field"),
        ("{name: P, log: x, when: 'steps.a.b == 1'}", "no step before it"),
        ("{name: P, log: x, expect: {json: {'status': ok}}}", "is not a path"),
    ],
)
def test_conditions_and_schedules_that_cannot_work_are_refused_at_load(tmp_path, step, refusal):
    text = f"runbooks:\n  - id: r\n    category: database\n    steps: [{step}]\n"
    with pytest.raises(RunbookError, match=refusal):
        load_runbooks(write_runbooks(tmp_path, text))


VERSIONED = """
runbooks:
  - id: r
    category: database
    steps:
      - {name: Hold, http: {url: "URL/hold/reload"}}
      - {name: Say, log: "VERSION"}
"""


def test_a_reload_replaces_the_runbooks_for_new_runs_and_a_running_run_does_not_notice(
    engine, http_server, tmp_path
):
    runtime = engine(VERSIONED.replace("URL", http_server.url).replace("VERSION", "first version"))
    runtime.resolution.submit(make_incident(incident_id="INC-1"))
    assert http_server.arrival("reload").wait(15)  # the run is in its first step
    write_runbooks(tmp_path, VERSIONED.replace("URL", http_server.url).replace("VERSION", "second version"))
    outcome = runtime.runbooks.reload("U0ADMIN")
    assert (outcome.taken, outcome.changed["changed"]) == (True, ["r"])
    http_server.release("reload")
    first = finish(runtime, "INC-1")
    assert step_rows(first.id)[1].output == "first version"  # the version it started with
    runtime.resolution.submit(make_incident(incident_id="INC-2"))
    second = finish(runtime, "INC-2")
    assert step_rows(second.id)[1].output == "second version"
    (reloaded,) = audit.query(action="runbooks_reloaded")
    assert reloaded.actor == "U0ADMIN"
    assert reloaded.details["sha256"] == hashlib.sha256((tmp_path / "runbooks.yml").read_bytes()).hexdigest()
    versions = [row.details["runbook_version"] for row in audit.query(action="auto_resolution_attempted")]
    assert len(set(versions)) == 2  # each run records the version it ran


def test_a_bad_file_is_refused_and_the_runbooks_in_force_stay(engine, tmp_path):
    runtime = engine(VERSIONED.replace("URL", "http://127.0.0.1:9").replace("VERSION", "v1"))
    (tmp_path / "runbooks.yml").write_text(
        "runbooks: [{id: r, category: database, steps: [{name: x, wait: soon}]}]"
    )
    outcome = runtime.runbooks.reload("SIGHUP")
    assert not outcome.taken
    assert "'soon' is not a duration" in outcome.message
    assert runtime.catalog.get("r") is not None
    (refused,) = audit.query(action="runbooks_reload_refused")
    assert (refused.actor, refused.success) == ("SIGHUP", False)
    assert audit.query(action="runbooks_reloaded") == []


def test_a_secret_stays_masked_when_its_step_is_refused_or_errs(engine, tmp_path, caplog):
    directory = tmp_path / "odd-secrets"
    directory.mkdir()
    (directory / "DASHED").write_text("--dangerous-s3cr3t")  # would be read as an option: refused
    (directory / "QUERY_KEY").write_text("q-s3cr3t&x")
    text = """
    runbooks:
      - id: refused
        category: database
        match: {title: "(?i)pool"}
        steps: [{name: Use, command: [echo, "{secret:DASHED}"], retries: 0}]
      - id: unreachable
        category: database
        match: {title: "(?i)replica"}
        steps: [{name: Call, http: {url: "http://127.0.0.1:9/api?key={secret:QUERY_KEY}"}, retries: 0}]
    """
    runtime = engine(text, runbook_secrets_dir=directory)
    runtime.resolution.submit(make_incident(title="Connection pool exhausted"))
    assert finish(runtime).status == "failed"
    runtime.resolution.submit(make_incident(incident_id="INC-2", title="Replica lag"))
    assert finish(runtime, "INC-2").status == "failed"
    stored = everything_stored()
    assert "s3cr3t" not in stored
    assert "s3cr3t" not in caplog.text
    errors = [row.error_message for row in audit.query(action="step_failed")]
    assert any("[secret:DASHED]" in (e or "") for e in errors)
    assert any(row.action.endswith("key=[secret:QUERY_KEY]") for row in StepResult.select())
