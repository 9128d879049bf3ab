"""Real processes on one PostgreSQL: three replicas, one killed with SIGKILL mid-run and restarted,
one stopped with SIGTERM mid-step. Nothing runs twice, the limit holds, nothing is lost.

Run alone with: TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test pytest -m replicas
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.faults.conftest import sql
from tests.support.processes import BotProcess, clean_env, run_cli
from tests.support.servers import EchoServer
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SIGNING_SECRET

pytestmark = pytest.mark.replicas

AUDIT_CHANNEL = "C0AUDIT"
TOKEN = "replica-token"
INCIDENTS = 150  # enough that every replica runs some, the kill lands mid-run, and the limit binds
LIMIT = 4


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path, http_server: EchoServer) -> Iterator[dict[str, Any]]:
    slack = SlackEmulator(users={f"U0R{n:04d}": {"email": f"r{n}@example.com"} for n in range(INCIDENTS + 5)})
    slack.start()
    (tmp_path / "runbooks.yml").write_text(
        "runbooks:\n"
        "  - id: slow-fix\n"
        "    category: database\n"
        "    steps:\n"
        f"      - {{name: Work, http: {{url: '{http_server.url}/slow/0.2?incident={{incident_id}}'}}}}\n"
        "      - {name: Note, log: 'done {incident_id}'}\n"
    )
    env = clean_env(
        DATABASE_URL=pg_url,
        DATABASE_POOL_SIZE="10",
        RUNBOOKS_FILE=str(tmp_path / "runbooks.yml"),
        SLACK_BOT_TOKEN="xoxb-replicas",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        SLACK_CHANNEL_RATE="100",
        SLACK_CHANNEL_BURST="100",
        SLACK_UPDATES_PER_MINUTE="6000",
        AUDIT_CHANNEL=AUDIT_CHANNEL,
        WEBHOOK_TOKEN=TOKEN,
        API_TOKEN=TOKEN,
        RUN_LEASE_SECONDS="5",
        WORKER_POLL_SECONDS="0.2",
        LOG_LEVEL="WARNING",
    )
    assert run_cli(tmp_path, "db", "upgrade", env=env).returncode == 0
    assert run_cli(tmp_path, "config", "set", "global", "max-concurrent", str(LIMIT), env=env).returncode == 0
    processes: list[BotProcess] = []
    yield {"env": env, "slack": slack, "dir": tmp_path, "processes": processes, "url": pg_url}
    for process in processes:
        if process.process.poll() is None:
            process.kill()
    slack.stop()


def deliver(replicas: list[BotProcess], incident_id: str, creator: str) -> None:
    """POST like a sender behind a load balancer: a replica that drops the request, the next one."""
    body = {
        "incident_id": incident_id,
        "title": "Connection pool exhausted",
        "category": "database",
        "priority": "high",
        "confidence_score": 0.97,
        "created_by": creator,
        "service": "orders-db",
    }
    for attempt in range(20):
        replica = replicas[(hash(incident_id) + attempt) % len(replicas)]
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{replica.port}", timeout=30) as client:
                response = client.post(
                    "/webhooks/incidents", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
                )
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert response.status_code == 202, response.text
        return
    raise AssertionError(f"{incident_id} was never accepted")


def test_replicas_share_the_work_survive_a_kill_and_lose_nothing(cluster, http_server):
    env, slack, workdir, url = cluster["env"], cluster["slack"], cluster["dir"], cluster["url"]
    replicas: list[BotProcess] = []
    for _ in range(3):
        replicas.append(BotProcess(workdir, env, token=TOKEN))
        cluster["processes"].append(replicas[-1])
    ids = [f"R-{n:03d}" for n in range(INCIDENTS)]
    creators = {incident_id: f"U0R{n:04d}" for n, incident_id in enumerate(ids)}
    senders = [
        threading.Thread(target=deliver, args=(replicas, incident_id, creators[incident_id]))
        for incident_id in ids
    ]
    for sender in senders:
        sender.start()

    # Kill (SIGKILL) a replica while it runs something, the one delivering to Slack if it does:
    # its posts in flight are then found again by their metadata, not posted twice.
    def running_on(replica: BotProcess) -> int:
        query = "SELECT count(*) FROM run WHERE status = 'running' AND claimed_by LIKE %s"
        return int(sql(url, query, f"%:{replica.pid}:%")[0][0])

    def victim() -> BotProcess | None:
        delivering = [
            owner for (owner,) in sql(url, "SELECT owner FROM job_lease WHERE name = 'slack-outbox'")
        ]
        busy = [replica for replica in replicas if running_on(replica)]
        preferred = [r for r in busy if any(f":{r.pid}:" in owner for owner in delivering)]
        chosen = preferred or busy
        return chosen[0] if chosen else None

    def frozen_while_running() -> BotProcess | None:
        """A busy replica, stopped (SIGSTOP) and seen still running something: its run cannot
        finish between the look and the kill."""
        chosen = victim()
        if chosen is None:
            return None
        os.kill(chosen.pid, signal.SIGSTOP)
        if running_on(chosen):
            return chosen
        os.kill(chosen.pid, signal.SIGCONT)
        return None

    killed = eventually(frozen_while_running, timeout=30)
    assert isinstance(killed, BotProcess)
    killed.kill()
    for sender in senders:
        sender.join()
    time.sleep(1)
    restarted = BotProcess(workdir, env, port=killed.port, token=TOKEN)
    cluster["processes"].append(restarted)

    eventually(lambda: not sql(url, "SELECT 1 FROM run WHERE status IN ('queued', 'running')"), timeout=120)
    eventually(
        lambda: not sql(url, "SELECT 1 FROM outbox_message WHERE status IN ('pending', 'sending')"),
        timeout=90,
    )

    # Each incident decided and run at most once; never more than LIMIT steps at once, anywhere.
    per_incident = dict(sql(url, "SELECT incident_id, count(*) FROM run GROUP BY incident_id"))
    assert per_incident == dict.fromkeys(ids, 1)
    calls = [r.path for r in http_server.requests]
    assert all(calls.count(f"/slow/0.2?incident={i}") <= 1 for i in ids)
    assert http_server.max_in_flight <= LIMIT
    claimed_by = [owner for (owner,) in sql(url, "SELECT claimed_by FROM run")]
    for replica in replicas:  # the work was shared: every replica ran some of it
        assert any(f":{replica.pid}:" in owner for owner in claimed_by), replica.pid
    statuses = dict(sql(url, "SELECT incident_id, status FROM run"))
    interrupted = sorted(i for i, status in statuses.items() if status == "interrupted")
    assert set(statuses.values()) <= {"resolved", "interrupted"}
    assert interrupted, "the killed replica was running something"
    assert all(
        f":{killed.pid}:" in owner
        for (owner,) in sql(url, "SELECT claimed_by FROM run WHERE status = 'interrupted'")
    )

    # Interrupted runs are marked and announced; every Slack message arrived exactly once.
    announced = {
        i
        for (i,) in sql(url, "SELECT incident_id FROM audit_log WHERE action = 'auto_resolution_interrupted'")
    }
    assert announced == set(interrupted)
    # An incident's own message (updated in place) or, past a backlog, a digest line shows its outcome.
    shown = [
        line
        for message in slack.channel(AUDIT_CHANNEL)
        for text in [message.text, *(str(b.get("text", {}).get("text", "")) for b in message.blocks)]
        for line in text.splitlines()
    ]
    for incident_id in ids:
        assert any(line.startswith(f"{incident_id}: {statuses[incident_id]}") for line in shown), incident_id
    posts_per_outbox_id = Counter(
        outbox_id
        for messages in slack.messages.values()
        for message in messages
        for outbox_id in message.outbox_ids
    )
    assert [i for i, n in posts_per_outbox_id.items() if n > 1] == []  # nothing posted twice
    notices = [m.text for m in slack.top_level(AUDIT_CHANNEL) if m.text.startswith(":gear:")]
    assert len(notices) == 1
    assert notices[0].startswith(":gear: Configuration changed by cli:")
    assert notices[0].endswith(": max_concurrent_resolutions=4")
    for incident_id in ids:
        dms = slack.channel("D" + creators[incident_id][1:])
        assert len(dms) == (1 if statuses[incident_id] == "resolved" else 0), incident_id

    # The audit trail is whole.
    verify = run_cli(workdir, "audit", "verify", env=env)
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.startswith("audit trail intact")


def test_sigterm_lets_the_step_in_flight_finish_and_claims_nothing_new(cluster, http_server):
    env, workdir, url = cluster["env"], cluster["dir"], cluster["url"]
    assert run_cli(workdir, "config", "set", "global", "max-concurrent", "1", env=env).returncode == 0
    (workdir / "runbooks.yml").write_text(
        "runbooks:\n"
        "  - id: held\n"
        "    category: database\n"
        f"    steps: [{{name: Hold, http: {{url: '{http_server.url}/hold/{{incident_id}}'}}}}]\n"
    )
    replica = BotProcess(workdir, env, token=TOKEN)
    cluster["processes"].append(replica)
    deliver([replica], "T-1", "U0R0001")
    deliver([replica], "T-2", "U0R0002")  # queued behind T-1 (limit 1)
    assert http_server.arrival("T-1").wait(10)
    stopping = threading.Thread(target=replica.stop)
    stopping.start()
    time.sleep(1.0)
    http_server.release("T-1")  # the step in flight finishes within the grace period
    stopping.join(30)
    assert dict(sql(url, "SELECT incident_id, status FROM run")) == {"T-1": "resolved", "T-2": "queued"}

    successor = BotProcess(workdir, env, token=TOKEN)  # the queued run is left for another to claim
    cluster["processes"].append(successor)
    http_server.release("T-2")
    eventually(lambda: dict(sql(url, "SELECT incident_id, status FROM run"))["T-2"] == "resolved", timeout=30)
