"""What the figures share: the bot and the baseline as processes, wrk as the load, the databases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import children_of, clean_env, free_port, proc_stat

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DURATION = os.environ.get("BENCH_SECONDS", "10")
SIGNING_SECRET = "bench-signing-secret"  # noqa: S105  # the emulator's, not a real secret
BOT_TOKEN = "xoxb-bench"  # noqa: S105
AUDIT_CHANNEL = "C0AUDIT"


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Server:
    """A process serving HTTP on `port`, ready when `ready_path` answers; output discarded."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, cwd: Path, ready_path: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_ready(f"http://127.0.0.1:{port}{ready_path}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the process and its children used so far (with PROCESSES > 1
        the bot processes are the supervisor's children)."""
        total = 0
        for pid in [self.process.pid, *children_of(self.process.pid)]:
            fields = proc_stat(pid)
            if fields is not None:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def peak_mb(self) -> float:
        """The peak resident memory (VmHWM) of the process and its children, summed."""
        total = 0.0
        for pid in [self.process.pid, *children_of(self.process.pid)]:
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            total += sum(int(line.split()[1]) / 1024 for line in lines if line.startswith("VmHWM:"))
        return total

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def intake_processes(database: Database) -> dict[str, str]:
    """The bot processes figures 1, 1b, 2 and 7 start: on PostgreSQL BENCH_PROCESSES (default 2: one
    bot process uses about one core, docs/deployment.md), on SQLite one (it has one writer)."""
    count = os.environ.get("BENCH_PROCESSES", "2") if database.label == "postgresql" else "1"
    return {"PROCESSES": count}


def wrk(
    url: str,
    *,
    script: Path | None = None,
    connections: int = 32,
    once_started: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Run wrk (one thread) for BENCH_SECONDS; its summary with `rate` added. `once_started` is
    called when wrk's process is running (what is measured under its load starts then)."""
    script = script or ROOT / "bench" / "report.lua"
    args = ["wrk", "-t1", f"-c{connections}", f"-d{DURATION}s", "--latency", "-s", str(script), url]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        once_started()
        stdout, stderr = process.communicate(timeout=int(DURATION) + 60)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, args, stdout, stderr)
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["rate"] = result["requests"] / result["seconds"]
    return result


@dataclass(frozen=True)
class Database:
    """Where a figure's bot keeps its data: a SQLite file, or a fresh PostgreSQL database."""

    label: str
    url: str


def sqlite_database(scratch: Path, name: str) -> Database:
    return Database("sqlite", f"sqlite:///{scratch / name}")


def postgres_server() -> str | None:
    """The PostgreSQL server to run the figures on too (BENCH_POSTGRES_URL or TEST_DATABASE_URL), if
    it answers."""
    url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL")
    if not url or not url.startswith("postgres"):
        return None
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.Error:
        return None
    return url


@contextmanager
def postgres_database(server_url: str) -> Iterator[Database]:
    """A database of its own on the server for one figure, dropped afterwards."""
    import psycopg2

    name = f"autoresolve_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = server_url.rpartition("/")
        yield Database("postgresql", f"{base}/{name}")
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


AUDIT_KEY = "bench-audit-key-" + "0" * 32  # the figures' trails are sealed with it (bench/audit.py)


def bot_env(database: Database, runbooks: Path, port: int, **settings: str) -> dict[str, str]:
    """The machine's environment without the bot's settings, plus what this figure sets."""
    return clean_env(
        DATABASE_URL=database.url,
        RUNBOOKS_FILE=str(runbooks),
        PORT=str(port),
        LOG_LEVEL="WARNING",
        AUDIT_KEY=AUDIT_KEY,
        **settings,
    )


def slack_settings(api_url: str, *, fast: bool) -> dict[str, str]:
    """Slack pointed at the emulator; `fast` lifts the bot's own pacing (an emulator that never limits)."""
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "AUDIT_CHANNEL": AUDIT_CHANNEL,
    }
    if fast:
        settings |= {
            "SLACK_CHANNEL_RATE": "100",
            "SLACK_CHANNEL_BURST": "100",
            "SLACK_UPDATES_PER_MINUTE": "6000",
            "SLACK_WORKSPACE_RATE": "1000",
            "SLACK_WORKSPACE_BURST": "1000",
        }
    return settings


def start_bot(scratch: Path, database: Database, runbooks: Path, **settings: str) -> Server:
    port = free_port()
    return Server(
        [PYTHON, str(ROOT / "bot.py"), "serve"],
        bot_env(database, runbooks, port, **settings),
        port,
        scratch,
        "/health",
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
