"""Figure 7, the alert storm (issue 22): 10,000 alerts in Alertmanager deliveries of 100, 32 at once;
a tenth below the threshold, one in twenty inside the approval floor; against the Slack emulator
enforcing Slack's limits (per channel, chat.update's Tier 3, message size). How long until every
alert is decided, until the audit channel is complete (every run resolved, every approval
actionable), until every DM is delivered; nothing over Slack's limits, nothing lost or sent twice;
the bot's peak resident memory."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.end_to_end import RUNBOOK, Delivered, creator, started_emulator
from bench.harness import AUDIT_CHANNEL, Database, intake_processes, slack_settings, start_bot
from tests.support.slack_emulator import Call

ALERTS = int(os.environ.get("BENCH_STORM_ALERTS", "10000"))
PER_DELIVERY = 100
AT_ONCE = 32
BELOW_EVERY = 10  # one alert in ten is below the threshold (and the floor): skipped
APPROVAL_EVERY = 20  # one in twenty is inside the approval floor: waits for an admin
DECIDED_WITHIN = 30.0
CHANNEL_WITHIN = 300.0
PEAK_MB = 300.0
STORM_ID = re.compile(r"am-storm\d{8}")


def confidence(n: int) -> float:
    if n % BELOW_EVERY == 1:
        return 0.5
    return 0.85 if n % APPROVAL_EVERY == 0 else 0.95


def delivery(first: int) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "ReplicationLag",
                "category": "database",
                "confidence": str(confidence(n)),
                "created_by": creator(n),
                "service": "orders-db",
                "severity": "critical",
            },
            "annotations": {"summary": f"Replication lag E2E-{n}"},
            "startsAt": "2026-12-01T10:00:00Z",
            "fingerprint": f"storm{n:08d}",
        }
        for n in range(first, min(first + PER_DELIVERY, ALERTS))
    ]
    return {"version": "4", "status": "firing", "receiver": "autoresolve", "alerts": alerts}


def figure_storm(scratch: Path, database: Database) -> dict[str, Any]:
    emulator = started_emulator(slack_limits=True)
    runbooks = scratch / "storm-runbooks.yml"
    runbooks.write_text(RUNBOOK)
    ran = sum(1 for n in range(ALERTS) if confidence(n) >= 0.9)
    waiting = sum(1 for n in range(ALERTS) if confidence(n) == 0.85)
    processes = intake_processes(database)
    bot = start_bot(scratch, database, runbooks, **slack_settings(emulator.api_url, fast=False), **processes)
    try:
        with httpx.Client(base_url=bot.url, timeout=120) as client:
            client.put("/api/v1/config", json={"max_concurrent_resolutions": 20}).raise_for_status()
            floor = {"category_config": {"category": "database", "approval_floor": 0.8}}
            client.put("/api/v1/config", json=floor).raise_for_status()
            time.sleep(0.5)  # the configuration notices go out before the clock starts
            start = time.monotonic()

            def send(first: int) -> int:
                answer = client.post("/webhooks/alertmanager", json=delivery(first))
                answer.raise_for_status()
                return len(answer.json()["accepted"])

            with ThreadPoolExecutor(AT_ONCE) as pool:
                accepted = sum(pool.map(send, range(0, ALERTS, PER_DELIVERY)))
            decided = time.monotonic() - start
            channel_s = dms_s = None
            while time.monotonic() - start < CHANNEL_WITHIN * 2:
                seen = Delivered.read(emulator, STORM_ID)
                now = time.monotonic() - start
                if (
                    channel_s is None
                    and len(seen.resolved_in_channel) >= ran
                    and len(seen.actionable) >= waiting
                ):
                    channel_s = now
                if dms_s is None and len(seen.dms) >= ran:
                    dms_s = now
                if channel_s is not None and dms_s is not None:
                    break
                time.sleep(1.0)
            seen = Delivered.read(emulator, STORM_ID)
        memory = bot.peak_mb()
    finally:
        bot.stop()
        emulator.stop()
    with emulator._lock:
        calls = list(emulator.calls)
    refused = sum(1 for c in calls if c.error and c.error != "ratelimited")
    taken = [c for c in calls if c.status == 200 and not c.error and c.at >= start]
    channel_calls = [c for c in taken if c.params.get("channel") == AUDIT_CHANNEL]
    dm_posts = [
        c for c in taken if c.method == "chat.postMessage" and str(c.params.get("channel"))[:1] in "UD"
    ]
    result = {
        "figure": "7 alert storm: 10,000 alerts in deliveries of 100, 32 at once, under Slack's limits",
        "database": database.label,
        "processes": int(processes["PROCESSES"]),
        "alerts": ALERTS,
        "accepted": accepted,
        "decided_s": round(decided, 1),
        "channel_complete_s": round(channel_s, 1) if channel_s is not None else None,
        "dms_delivered_s": round(dms_s, 1) if dms_s is not None else None,
        "dms": f"{len(seen.dms)} of {ran}",
        "resolved_in_audit_channel": f"{len(seen.resolved_in_channel)} of {ran}",
        "dms_twice": sum(1 for n in seen.dms.values() if n > 1),
        "approvals_actionable": f"{len(seen.actionable)} of {waiting}",
        "posted_twice": sum(1 for n in seen.posts_per_outbox_id.values() if n > 1),
        "refused_by_slack": refused,
        "calls_inside_retry_after": len(emulator.calls_inside_retry_after()),
        "answered_429": sum(1 for c in calls if c.error == "ratelimited"),
        "peak_rss_mb": round(memory, 1),
        "audit_channel_calls": _tally(channel_calls, start),
        "dm_posts": _tally(dm_posts, start),
        "target": "decided in 30 s, channel complete in 5 min, peak < 300 MB, nothing refused, lost or twice",
    }
    result["met"] = (
        accepted == ALERTS
        and decided <= DECIDED_WITHIN
        and channel_s is not None
        and channel_s <= CHANNEL_WITHIN
        and memory < PEAK_MB
        and refused == 0
        and result["dms_twice"] == 0
        and result["posted_twice"] == 0
    )
    return result


def _tally(calls: list[Call], start: float) -> str:
    """What Slack took, by method, with digests counted apart, and when the last call came."""
    digests = sum(1 for c in calls if "(digest)" in str(c.params.get("text", "")))
    methods = Counter(c.method.removeprefix("chat.") for c in calls)
    last = max((c.at for c in calls), default=start) - start
    shown = ", ".join(f"{n} {method}" for method, n in sorted(methods.items()))
    return f"{shown} ({digests} digests), the last at {last:.0f} s"
