"""The bot as separate OS processes (`python bot.py serve`), for restart, replica and fault tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children_of(pid: int) -> set[int]:
    """The live (not zombie) processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        fields = proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def clean_env(**settings: str) -> dict[str, str]:
    """The machine's environment without any of the bot's settings, plus `settings`."""
    prefixes = (
        "SLACK_",
        "API_",
        "WEBHOOK_",
        "DATABASE_",
        "RUNBOOKS_",
        "AUDIT_",
        "ADMIN_",
        "HOST",
        "PORT",
        "PROCESSES",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(settings)
    return env


def run_cli(workdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class BotProcess:
    """One `python bot.py serve`; started at construction, ready when /health answers."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int | None = None, token: str = "") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.env = {**env, "PORT": str(self.port)}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), "serve"],
            cwd=workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Read as it comes: a pipe read only at the end fills (64 KB of log lines) and blocks the bot.
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers=headers, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        output = self.kill()
        raise RuntimeError(f"the bot did not start: {output[-3000:]}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)

    def _output(self, timeout: float) -> str:
        self.process.wait(timeout=timeout)
        self._reader.join(timeout)
        if not self._reader.is_alive() and self.process.stdout is not None:
            self.process.stdout.close()
        return "".join(self._lines)

    def stop(self) -> str:
        """SIGTERM, as systemd would; uvicorn shuts down gracefully, then re-raises the signal."""
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        output = self._output(timeout=60)
        assert self.process.returncode in (0, -signal.SIGTERM), output
        assert "Autoresolve stopped" in output, output
        return output

    def kill(self) -> str:
        """kill -9: no shutdown, leases left to lapse. Returns what it printed."""
        self.client.close()
        self.process.kill()
        return self._output(timeout=30)
