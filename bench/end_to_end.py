"""Figures 2, 5 and 7: 1,000 incidents through a three-step runbook to resolved, DMs and the audit
channel delivered to the Slack emulator; once at full speed (figure 2), once under Slack's limits
(figure 5), and once under them with some incidents awaiting approval and some running a 30-step
runbook (figure 7: every approval must stay actionable, and no message over Slack's limits)."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import AUDIT_CHANNEL, Database, intake_processes, slack_settings, start_bot
from tests.support.slack_emulator import SlackEmulator

INCIDENTS = 1000
CREATORS = 100
PER_REQUEST = 50
RUNBOOK = """runbooks:
  - id: restart-db
    category: database
    steps:
      - {name: check, log: "checking {incident_id}"}
      - {name: restart, log: "restarting {service}"}
      - {name: verify, log: "verified {incident_id}"}
"""
LONG_RUNBOOK = "".join(
    f'      - {{name: "step {n} of a long runbook", log: "step {n} for {{incident_id}}"}}\n'
    for n in range(30)
)
RUNBOOKS_WITH_LONG = RUNBOOK + "  - id: long-fix\n    category: database\n    steps:\n" + LONG_RUNBOOK
INCIDENT_ID = re.compile(r"E2E-\d+")
APPROVAL_EVERY = 20  # figure 7: one incident in 20 waits for approval
LONG_EVERY = 10  # figure 7: one in 10 runs the 30-step runbook


def creator(n: int) -> str:
    return f"U0E{n % CREATORS:04d}"


def incident(n: int, *, mixed: bool = False) -> dict[str, Any]:
    """The nth incident; `mixed` (figure 7): some wait for approval, some run the long runbook."""
    waits = mixed and n % APPROVAL_EVERY == 0
    return {
        "incident_id": f"E2E-{n}",
        "title": "Replication lag",
        "category": "database",
        "priority": "high",
        "confidence_score": 0.85 if waits else 0.95,
        "created_by": creator(n),
        "service": "orders-db",
        **({"runbook": "long-fix"} if mixed and n % LONG_EVERY == 1 else {}),
    }


@dataclass
class Delivered:
    """What the emulator holds, read as a person in Slack would: who got a DM, what the channel says."""

    dms: Counter[str]
    resolved_in_channel: set[str]
    posts_per_outbox_id: Counter[int]
    actionable: set[str]  # incidents with Approve buttons in the audit channel

    @classmethod
    def read(cls, emulator: SlackEmulator, incident_id: re.Pattern[str] = INCIDENT_ID) -> Delivered:
        dms: Counter[str] = Counter()
        resolved: set[str] = set()
        per_id: Counter[int] = Counter()
        actionable: set[str] = set()
        with emulator._lock:
            channels = {name: list(posts) for name, posts in emulator.messages.items()}
        for name, posts in channels.items():
            for post in posts:
                for outbox_id in post.outbox_ids:
                    per_id[int(outbox_id)] += 1
                if name.startswith("D"):  # a DM, or a digest of them: each incident once a post
                    texts = [post.text] + [str(b.get("text", {}).get("text", "")) for b in post.blocks]
                    dms.update(set(incident_id.findall("\n".join(texts))))
                elif name == AUDIT_CHANNEL:
                    for block in post.blocks:
                        for element in block.get("elements", []) if block.get("type") == "actions" else []:
                            if element.get("action_id") == "approve_incident":
                                actionable.add(str(element.get("value", "")).split("@")[0])
                    texts = [post.text] + [str(b.get("text", {}).get("text", "")) for b in post.blocks]
                    for text in texts:
                        for line in text.splitlines():
                            if ": resolved" in line:
                                resolved.update(incident_id.findall(line.split(": resolved")[0]))
        return cls(dms, resolved, per_id, actionable)

    def complete(self, incidents: int, waiting: int = 0) -> bool:
        """Every incident that ran told its creator and shows resolved; every waiting one is actionable."""
        ran = incidents - waiting
        return (
            len(self.dms) == ran and len(self.resolved_in_channel) == ran and len(self.actionable) == waiting
        )


def started_emulator(*, slack_limits: bool) -> SlackEmulator:
    """The Slack emulator with the figures' creators, enforcing Slack's limits if asked, started."""
    emulator = SlackEmulator(
        users={creator(n): {"email": f"e2e{n}@example.com"} for n in range(CREATORS)},
        enforce_channel_rate=slack_limits,
        enforce_update_rate=slack_limits,
    )
    emulator.start()
    return emulator


def run_burst(
    scratch: Path,
    database: Database,
    *,
    slack_limits: bool,
    give_up_after: float,
    incidents: int = INCIDENTS,
    mixed: bool = False,
    processes: int = 1,
) -> dict[str, Any]:
    emulator = started_emulator(slack_limits=slack_limits)
    runbooks = scratch / "e2e-runbooks.yml"
    runbooks.write_text(RUNBOOKS_WITH_LONG if mixed else RUNBOOK)
    waiting = sum(1 for n in range(incidents) if incident(n, mixed=mixed)["confidence_score"] < 0.9)
    slack = slack_settings(emulator.api_url, fast=not slack_limits)
    bot = start_bot(scratch, database, runbooks, **slack, PROCESSES=str(processes))
    try:
        with httpx.Client(base_url=bot.url, timeout=60) as client:
            client.put("/api/v1/config", json={"max_concurrent_resolutions": 20}).raise_for_status()
            if mixed:
                floor = {"category_config": {"category": "database", "approval_floor": 0.8}}
                client.put("/api/v1/config", json=floor).raise_for_status()
            time.sleep(0.5)  # let the configuration notice go out before the clock starts
            start, cpu_before = time.monotonic(), bot.cpu_seconds()
            for first in range(0, incidents, PER_REQUEST):
                batch = [incident(n, mixed=mixed) for n in range(first, min(first + PER_REQUEST, incidents))]
                answer = client.post("/webhooks/incidents", json=batch)
                answer.raise_for_status()
                expected = ("queued", "awaiting_approval") if mixed else ("queued",)
                assert all(item["decision"] in expected for item in answer.json()["accepted"]), answer.text
            accepted = time.monotonic() - start
            delivered = Delivered.read(emulator)
            while not delivered.complete(incidents, waiting) and time.monotonic() - start < give_up_after:
                time.sleep(0.25)
                delivered = Delivered.read(emulator)
            took = time.monotonic() - start
            cpu = bot.cpu_seconds() - cpu_before
    finally:
        bot.stop()
        emulator.stop()
    with emulator._lock:
        calls = list(emulator.calls)
    return {
        "database": database.label,
        "accepted_s": round(accepted, 2),
        "complete_s": round(took, 2),
        "per_s": round(incidents / took, 1),
        "processes": processes,
        "bot_cpu_ms_per_incident": round(cpu * 1000 / incidents, 2),
        "dms": len(delivered.dms),
        "dms_twice": sum(1 for n in delivered.dms.values() if n > 1),
        "resolved_in_audit_channel": len(delivered.resolved_in_channel),
        "posted_twice": sum(1 for n in delivered.posts_per_outbox_id.values() if n > 1),
        "slack_calls": len(calls),
        "answered_429": sum(1 for c in calls if c.status == 429),
        "calls_inside_retry_after": len(emulator.calls_inside_retry_after()),
        "refused_by_slack": sum(1 for c in calls if c.error and c.error != "ratelimited"),
        "awaiting_approval": waiting,
        "approvals_actionable": len(delivered.actionable),
        "complete": delivered.complete(incidents, waiting),
    }


def figure_end_to_end(scratch: Path, database: Database, baseline: dict[str, Any]) -> dict[str, Any]:
    processes = int(intake_processes(database)["PROCESSES"])
    result = run_burst(scratch, database, slack_limits=False, give_up_after=120, processes=processes)
    bare = baseline["rate"]
    return {
        "figure": "2 end to end, 1,000 incidents, 3 log steps, Slack answering at once",
        **result,
        "bare_per_s": round(bare),
        "ratio": round(result["per_s"] / bare, 3),
        "target": ">= 0.06 of bare, nothing missing",
        "met": result["complete"] and result["per_s"] >= 0.06 * bare and result["dms_twice"] == 0,
    }


def figure_burst(scratch: Path, database: Database) -> dict[str, Any]:
    result = run_burst(scratch, database, slack_limits=True, give_up_after=330)
    return {
        "figure": "5 burst of 1,000 under Slack's limits (1 msg/s/channel, Tier 3 updates)",
        **result,
        "target": "complete within 300 s, nothing lost or twice, nothing sent inside a Retry-After",
        "met": result["complete"]
        and result["complete_s"] <= 300
        and result["dms_twice"] == 0
        and result["posted_twice"] == 0
        and result["calls_inside_retry_after"] == 0,
    }


def figure_mixed_burst(scratch: Path, database: Database) -> dict[str, Any]:
    result = run_burst(scratch, database, slack_limits=True, give_up_after=420, mixed=True)
    return {
        "figure": "5b burst of 1,000 under Slack's limits, 1 in 20 awaiting approval, 1 in 10 with 30 steps",
        **result,
        "target": "complete within 400 s, every approval actionable, nothing refused by Slack, lost or twice",
        "met": result["complete"]
        and result["complete_s"] <= 400
        and result["refused_by_slack"] == 0
        and result["dms_twice"] == 0
        and result["posted_twice"] == 0,
    }
