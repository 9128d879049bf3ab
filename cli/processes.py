"""`serve` with PROCESSES > 1: one listening socket, that many bot processes serving it (started by
cli/supervisor.py), each a replica of the others on the one PostgreSQL database."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from cli.errors import CliError
from settings import Settings

SUPERVISOR = Path(__file__).resolve().with_name("supervisor.py")
LISTEN_BACKLOG = 2048
PARENT_CHECK_SECONDS = 1.0


def listening_socket(settings: Settings) -> socket.socket:
    """The one socket every process accepts on (bound here, so a port in use fails before any starts)."""
    try:
        sock = socket.create_server((settings.host, settings.port), backlog=LISTEN_BACKLOG)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from exc
    sock.set_inheritable(True)
    return sock


def supervise(settings: Settings) -> NoReturn:
    """Bind the socket here (a port in use fails with one line), then become the supervisor: this
    process's image, with everything the command line imported, is replaced by cli/supervisor.py's."""
    sock = listening_socket(settings)
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, str(SUPERVISOR), str(sock.fileno()), str(settings.processes)]
    command += [settings.log_level, settings.log_format]  # its own log lines as the processes write theirs
    os.execv(sys.executable, command)  # noqa: S606 (our interpreter and our file, no shell, no input)


def end_with_parent() -> None:
    """In a supervised process: stop (as on SIGTERM) if the supervisor is gone, so none outlives it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def inherited_socket(fd: int) -> socket.socket:
    """The supervisor's listening socket, by its descriptor (family and type read from it)."""
    try:
        return socket.socket(fileno=fd)
    except OSError as exc:
        raise CliError(f"--listen-fd {fd}: not a socket ({exc.strerror})") from exc
