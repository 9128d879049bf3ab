"""`make bench`: figures measured against their baseline in one run; a table, and JSON in bench/out/.

Figures done so far (issue 6 lists six): 1 webhook ingest beside a bare FastAPI endpoint, 4 audit
queries on a million rows, 6 resident memory after figure 4. Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from storage import audit_chain

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DURATION = os.environ.get("BENCH_SECONDS", "10")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    def __init__(self, args: list[str], env: dict[str, str], port: int, cwd: Path, ready_path: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_ready(f"http://127.0.0.1:{port}{ready_path}")

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


def wrk(url: str, *, script: Path | None = None, connections: int = 32) -> dict[str, Any]:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{DURATION}s", "--latency"]
    if script:
        args += ["-s", str(script)]
    else:
        args += ["-s", str(ROOT / "bench" / "report.lua")]
    done = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=int(DURATION) + 60, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["rate"] = result["requests"] / result["seconds"]
    return result


def bot_env(database: Path, runbooks: Path, port: int) -> dict[str, str]:
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "API_", "WEBHOOK_", "DATABASE_"))
    }
    return keep | {
        "DATABASE_URL": f"sqlite:///{database}",
        "RUNBOOKS_FILE": str(runbooks),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }


def figure_ingest(scratch: Path) -> dict[str, Any]:
    bare_port = free_port()
    env = dict(os.environ)
    bare = Server([PYTHON, "-m", "bench.bare_endpoint", str(bare_port)], env, bare_port, ROOT, "/docs")
    try:
        baseline = wrk(
            f"http://127.0.0.1:{bare_port}/webhooks/incidents", script=ROOT / "bench" / "ingest.lua"
        )
    finally:
        bare.stop()
    port = free_port()
    runbooks = scratch / "runbooks.yml"
    runbooks.write_text("runbooks:\n  - {id: fix, category: database, steps: [{name: a, log: b}]}\n")
    bot = Server(
        [PYTHON, str(ROOT / "bot.py"), "serve"],
        bot_env(scratch / "ingest.db", runbooks, port),
        port,
        scratch,
        "/health",
    )
    try:
        measured = wrk(f"http://127.0.0.1:{port}/webhooks/incidents", script=ROOT / "bench" / "ingest.lua")
    finally:
        bot.stop()
    return {
        "figure": "1 webhook ingest (32 clients)",
        "bot_per_s": round(measured["rate"]),
        "bot_p50_ms": measured["p50_ms"],
        "bot_p99_ms": measured["p99_ms"],
        "bot_errors": measured["errors"] + measured["non2xx"],
        "bare_per_s": round(baseline["rate"]),
        "ratio": round(measured["rate"] / baseline["rate"], 3),
        "target": ">= 1000/s and >= 0.5 of bare",
        "met": measured["rate"] >= 1000 and measured["rate"] >= baseline["rate"] / 2,
    }


INSERT_AUDIT = (
    "INSERT INTO audit_log (audit_id, timestamp, action, incident_id, actor, details, success, seq, "
    "chain_hash) VALUES (?, ?, ?, ?, 'system', ?, 1, ?, ?)"
)


def fill_audit(database: Path, rows: int) -> str:
    """A million audit rows (over 100,000 incidents), written sealed into a migrated database, as
    the bot's own sealing job would have left them (so it has nothing to do during the figure)."""
    subprocess.run(
        [PYTHON, str(ROOT / "bot.py"), "db", "upgrade"],
        env=bot_env(database, ROOT / "runbooks.yml", 0) | {"PORT": "1"},
        check=True,
        capture_output=True,
    )
    start = datetime.now(UTC) - timedelta(days=30)
    actions = [
        "incident_received",
        "auto_resolution_queued",
        "step_started",
        "step_succeeded",
        "auto_resolution_success",
    ]
    previous = audit_chain.GENESIS
    with sqlite3.connect(database) as connection:
        batch = []
        for n in range(rows):
            moment = start + timedelta(seconds=n * 2)
            row = SimpleNamespace(
                audit_id=uuid.uuid4().hex,
                timestamp=moment,
                action=actions[n % 5],
                incident_id=f"INC-{n // 10}",
                actor="system",
                confidence_score=None,
                details={"n": n},
                success=True,
                error_message=None,
                run_id=None,
            )
            previous = audit_chain.row_digest(previous, row)  # type: ignore[arg-type]
            batch.append(
                (
                    row.audit_id,
                    moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
                    row.action,
                    row.incident_id,
                    json.dumps(row.details),
                    n + 1,
                    previous,
                )
            )
            if len(batch) == 50_000:
                connection.executemany(INSERT_AUDIT, batch)
                batch.clear()
        connection.executemany(INSERT_AUDIT, batch)
    return f"INC-{rows // 20}"


def figure_audit(scratch: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    database = scratch / "audit.db"
    incident = fill_audit(database, 1_000_000)
    port = free_port()
    bot = Server(
        [PYTHON, str(ROOT / "bot.py"), "serve"],
        bot_env(database, ROOT / "runbooks.yml", port),
        port,
        scratch,
        "/health",
    )
    try:
        trail = wrk(f"http://127.0.0.1:{port}/api/v1/audit/incident/{incident}", connections=8)
        page = wrk(
            f"http://127.0.0.1:{port}/api/v1/audit?action=step_started&limit=50&offset=100", connections=8
        )
        rss = bot.rss_mb()
    finally:
        bot.stop()
    queries = {
        "figure": "4 audit queries on 1,000,000 rows (8 clients)",
        "incident_trail_p99_ms": trail["p99_ms"],
        "incident_trail_per_s": round(trail["rate"]),
        "filtered_page_p99_ms": page["p99_ms"],
        "filtered_page_per_s": round(page["rate"]),
        "target": "p99 < 10 ms and < 50 ms",
        "met": trail["p99_ms"] < 10 and page["p99_ms"] < 50,
    }
    memory = {
        "figure": "6 resident memory after figure 4",
        "rss_mb": round(rss, 1),
        "target": "< 200 MB",
        "met": rss < 200,
    }
    return queries, memory


def main() -> int:
    if shutil.which("wrk") is None:
        print("make bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="autoresolve-bench-") as scratch:
        results.append(figure_ingest(Path(scratch)))
        results.extend(figure_audit(Path(scratch)))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "figures": results,
    }
    (out / "results.json").write_text(json.dumps(document, indent=2))
    print(f"machine: {machine}")
    for figure in results:
        verdict = "met" if figure["met"] else "MISSED"
        details = ", ".join(f"{k}={v}" for k, v in figure.items() if k not in ("figure", "met", "target"))
        print(f"{figure['figure']}: {details}  [{figure['target']}: {verdict}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
