"""Figures 1 and 3: webhook ingest beside a bare endpoint, and slash-command acks under that load."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    PYTHON,
    ROOT,
    SIGNING_SECRET,
    Database,
    Server,
    free_port,
    intake_processes,
    percentile,
    slack_settings,
    start_bot,
    wrk,
)
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import signed_headers, slash_command

INGEST_SCRIPT = ROOT / "bench" / "ingest.lua"
ALERTMANAGER_SCRIPT = ROOT / "bench" / "alertmanager.lua"
ALERTS_PER_DELIVERY = 100
GROUPED_CLIENTS = 8
COMMAND_INTERVAL = 0.1  # seconds between slash commands during the load


def bare_baseline() -> dict[str, Any]:
    """The bare FastAPI endpoint under the same load: the ceiling of this stack (and of wrk) here."""
    port = free_port()
    bare = Server([PYTHON, "-m", "bench.bare_endpoint", str(port)], dict(os.environ), port, ROOT, "/docs")
    try:
        return wrk(f"{bare.url}/webhooks/incidents", script=INGEST_SCRIPT)
    finally:
        bare.stop()


class SlashCommands(threading.Thread):
    """Signed `/autoresolve status` commands, one every COMMAND_INTERVAL, timing each acknowledgement."""

    def __init__(self, bot_url: str, response_url: str) -> None:
        super().__init__(daemon=True)
        self.bot_url = bot_url
        self.response_url = response_url
        self.latencies_ms: list[float] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.bot_url, timeout=10) as client:
            while not self.stopping.wait(COMMAND_INTERVAL):
                body = slash_command(
                    "/autoresolve", "status", user_id="U0BENCH", response_url=self.response_url
                )
                headers = signed_headers(body, secret=SIGNING_SECRET)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                start = time.perf_counter()
                try:
                    answer = client.post("/slack/events", content=body, headers=headers)
                except httpx.HTTPError:
                    self.failures += 1
                    continue
                self.latencies_ms.append((time.perf_counter() - start) * 1000)
                if answer.status_code != 200:
                    self.failures += 1


def figures_ingest(scratch: Path, database: Database, baseline: dict[str, Any]) -> list[dict[str, Any]]:
    emulator = SlackEmulator()
    emulator.start()
    runbooks = scratch / "ingest-runbooks.yml"
    runbooks.write_text("runbooks:\n  - {id: fix, category: database, steps: [{name: a, log: b}]}\n")
    processes = intake_processes(database)
    bot = start_bot(scratch, database, runbooks, **slack_settings(emulator.api_url, fast=True), **processes)
    commands = SlashCommands(bot.url, emulator.response_url("bench"))
    try:
        # The bench process's own collector stops every thread in it, the command timer too, and on
        # two busy cores a collection can take 160 ms of wall clock (seen in full runs, timed with
        # gc.callbacks): none while the commands are timed.
        gc.collect()
        gc.disable()
        try:
            measured = wrk(f"{bot.url}/webhooks/incidents", script=INGEST_SCRIPT, once_started=commands.start)
        finally:
            gc.enable()
        commands.stopping.set()
        commands.join()
    finally:
        bot.stop()
        emulator.stop()
    acks = commands.latencies_ms
    return [
        {
            "figure": "1 webhook ingest (32 clients)",
            "database": database.label,
            "processes": int(processes["PROCESSES"]),
            "bot_per_s": round(measured["rate"]),
            "bot_p50_ms": measured["p50_ms"],
            "bot_p99_ms": measured["p99_ms"],
            "bot_errors": measured["errors"] + measured["non2xx"],
            "bare_per_s": round(baseline["rate"]),
            "ratio": round(measured["rate"] / baseline["rate"], 3),
            "target": ">= 0.35 of bare",
            "met": measured["rate"] >= 0.35 * baseline["rate"],
        },
        {
            "figure": "3 slash-command ack during figure 1's load",
            "database": database.label,
            "commands": len(acks),
            "ack_p50_ms": round(percentile(acks, 0.50), 1) if acks else None,
            "ack_p99_ms": round(percentile(acks, 0.99), 1) if acks else None,
            "failures": commands.failures,
            "target": "p99 < 100 ms",
            "met": bool(acks) and commands.failures == 0 and percentile(acks, 0.99) < 100,
        },
    ]


def figure_grouped_ingest(scratch: Path, database: Database, baseline: dict[str, Any]) -> dict[str, Any]:
    """Figure 1b: Alertmanager deliveries of 100 alerts (as it groups them), 8 clients; incidents per
    second against the bare endpoint's single requests per second in the same run."""
    runbooks = scratch / "ingest-runbooks.yml"
    runbooks.write_text("runbooks:\n  - {id: fix, category: database, steps: [{name: a, log: b}]}\n")
    processes = intake_processes(database)
    bot = start_bot(scratch, database, runbooks, **processes)
    try:
        measured = wrk(
            f"{bot.url}/webhooks/alertmanager", script=ALERTMANAGER_SCRIPT, connections=GROUPED_CLIENTS
        )
    finally:
        bot.stop()
    incidents = measured["rate"] * ALERTS_PER_DELIVERY
    return {
        "figure": "1b grouped ingest (100 alerts a delivery, 8 clients)",
        "database": database.label,
        "processes": int(processes["PROCESSES"]),
        "incidents_per_s": round(incidents),
        "deliveries_per_s": round(measured["rate"], 1),
        "delivery_p99_ms": measured["p99_ms"],
        "errors": measured["errors"] + measured["non2xx"],
        "bare_per_s": round(baseline["rate"]),
        "ratio": round(incidents / baseline["rate"], 3),
        "target": ">= 1.5 x bare",
        "met": incidents >= 1.5 * baseline["rate"] and measured["errors"] + measured["non2xx"] == 0,
    }
