"""The supervisor behind PROCESSES > 1 (run as a script, on the standard library only, so that it holds
no more memory than it needs): starts that many bot processes on one inherited socket, passes signals
on, replaces a process that dies, and stops them all when one refuses its configuration."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

log = logging.getLogger("cli.supervisor")

BOT = Path(__file__).resolve().parents[1] / "bot.py"
REFUSED = 2  # a process's status when its settings, runbooks or database were refused (cli/main.py)
RESTART_DELAY_SECONDS = 1.0
QUICK_END_SECONDS = 10.0  # a process that ends this soon after its start is restarted later each time
MAX_RESTART_DELAY_SECONDS = 30.0
STOP_GRACE_SECONDS = 40.0  # a process's own shutdown waits for its runs' grace (runtime.stop) and more


class Supervisor:
    """Starts `count` `bot.py serve --listen-fd` processes on one socket and keeps that many running."""

    def __init__(self, count: int, sock: socket.socket) -> None:
        self._count = count
        self._sock = sock
        self._children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self._stopping = threading.Event()
        self._delay = RESTART_DELAY_SECONDS / 2

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        signal.signal(signal.SIGHUP, self._pass_on)
        for index in range(self._count):
            self._start(index)
        print(f"Autoresolve: {self._count} processes serving one socket (PROCESSES).", flush=True)
        status = 0
        while not status and not self._stopping.wait(0.5):
            status = self._replace_the_dead()
        self._stop_all()
        return status

    def _start(self, index: int) -> None:
        fd = self._sock.fileno()
        # Started with SIGHUP ignored (an ignored signal stays ignored across exec) until it has its
        # own handler: a reload asked for while it starts must not end it.
        handler = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            child = subprocess.Popen(
                [sys.executable, str(BOT), "serve", "--listen-fd", str(fd)],
                pass_fds=[fd],
                # Its own process group: Ctrl-C reaches this process only, which stops the others once.
                start_new_session=True,
            )
        finally:
            signal.signal(signal.SIGHUP, handler)
        self._children[index] = (child, time.monotonic())

    def _replace_the_dead(self) -> int:
        """Restart a process that ended (sooner again each time one ends right after its start, up to
        MAX_RESTART_DELAY_SECONDS apart); REFUSED if one refused its configuration (the CLI's status 2:
        settings, runbooks, database), which another start would refuse too."""
        for index, (child, started) in list(self._children.items()):
            code = child.poll()
            if code is None or self._stopping.is_set():
                continue
            if code == REFUSED:
                log.error("bot process %d refused to start (status %d): stopping", child.pid, code)
                return REFUSED
            quick = time.monotonic() - started < QUICK_END_SECONDS
            self._delay = min(MAX_RESTART_DELAY_SECONDS, self._delay * 2) if quick else RESTART_DELAY_SECONDS
            log.error(
                "bot process %d ended (status %s); starting another in %.0f s", child.pid, code, self._delay
            )
            if not self._stopping.wait(self._delay):
                self._start(index)
        return 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        for child, _ in self._children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def _stop_all(self) -> None:
        for child, _ in self._children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child, _ in self._children.values():
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("bot process %d did not stop in %.0f s: killed", child.pid, STOP_GRACE_SECONDS)
                child.kill()
                child.wait()


def main(argv: list[str]) -> int:
    """`supervisor.py <listening socket's descriptor> <processes> <log level> <text|json>`, as
    cli/processes.py starts it."""
    fd, count, level, log_format = int(argv[0]), int(argv[1]), argv[2], argv[3]
    sys.path.insert(0, str(BOT.parent))  # run as a script: the log formats are the package's
    from cli.logs import JsonFormatter, TextFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    return Supervisor(count, socket.socket(fileno=fd)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
