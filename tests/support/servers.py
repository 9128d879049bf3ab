"""Real servers for tests: a scriptable HTTP endpoint for `http` steps, and the bot served by uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import uvicorn

from handlers.app import create_app
from handlers.http_server import server_options
from runtime import Runtime

# How often a test server's loop looks for shutdown(): the library's 0.5 s, paid at every teardown,
# was most of what the suite spent waiting.
SHUTDOWN_POLL_SECONDS = 0.02


@dataclass
class Recorded:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class EchoServer:
    """HTTP on 127.0.0.1:<random>. Paths: /status/<code>, /slow/<seconds>, /flaky/<key>/<failures>,
    /hold/<key> (blocks until release(key)), /drip/<seconds> (a body sent a byte each 0.2 s),
    /retry-after/<value> (503 with that Retry-After), /api/<...> (the JSON set in `answers` for that
    path, 404 without one; a list: one answer per call, the last repeated; only with
    `Authorization: Bearer <api_token>` when `api_token` is set);
    anything else answers 200 "ok". Records every request."""

    answers: dict[str, str | list[str]] = field(default_factory=dict)
    api_token: str | None = None

    requests: list[Recorded] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _flaky_counts: dict[str, int] = field(default_factory=dict)
    _holds: dict[str, threading.Event] = field(default_factory=dict)
    _arrivals: dict[str, threading.Event] = field(default_factory=dict)
    port: int = 0

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.requests.append(
                        Recorded(self.command, self.path, body, dict(self.headers.items()), time.monotonic())
                    )
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    if self.path.startswith("/drip/"):
                        self._drip(float(self.path.split("/")[2]))
                        return
                    if self.path.startswith("/retry-after/"):
                        self.send_response(503)
                        self.send_header("Retry-After", self.path.split("/")[2])
                        self.send_header("content-length", "0")
                        self.end_headers()
                        return
                    if self.path.startswith("/api/"):
                        status, text = outer._api(self.path, self.headers.get("authorization"))
                    else:
                        status, text = outer._respond(self.path)
                finally:
                    with outer._lock:
                        outer.in_flight -= 1
                payload = text.encode()
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    # the client may be gone (a killed bot, a step that timed out)
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(payload)

            def _drip(self, seconds: float) -> None:
                count = max(1, int(seconds / 0.2))
                self.send_response(200)
                self.send_header("content-length", str(count))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    for _ in range(count):
                        self.wfile.write(b".")
                        self.wfile.flush()
                        time.sleep(0.2)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _api(self, path: str, authorization: str | None) -> tuple[int, str]:
        if self.api_token is not None and authorization != f"Bearer {self.api_token}":
            return 401, '{"error": "unauthorized"}'
        with self._lock:
            answer = self.answers.get(path.split("?")[0])
            if isinstance(answer, list):
                answer = answer.pop(0) if len(answer) > 1 else answer[0]
        return (200, answer) if answer is not None else (404, '{"error": "not found"}')

    def _respond(self, path: str) -> tuple[int, str]:
        parts = path.split("?")[0].strip("/").split("/")
        if parts[0] == "status" and len(parts) == 2:
            return int(parts[1]), f"status {parts[1]}"
        if parts[0] == "slow" and len(parts) == 2:
            time.sleep(float(parts[1]))
            return 200, "slow ok"
        if parts[0] == "flaky" and len(parts) == 3:
            with self._lock:
                seen = self._flaky_counts.get(parts[1], 0)
                self._flaky_counts[parts[1]] = seen + 1
            return (503, "not yet") if seen < int(parts[2]) else (200, "ok now")
        if parts[0] == "hold" and len(parts) == 2:
            self.arrival(parts[1]).set()
            self.hold(parts[1]).wait(30)
            return 200, "released"
        return 200, "ok"

    def hold(self, key: str) -> threading.Event:
        with self._lock:
            return self._holds.setdefault(key, threading.Event())

    def arrival(self, key: str) -> threading.Event:
        with self._lock:
            return self._arrivals.setdefault(key, threading.Event())

    def release(self, key: str) -> None:
        self.hold(key).set()

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def stop(self) -> None:
        for event in list(self._holds.values()):
            event.set()
        self._server.shutdown()
        self._server.server_close()


@dataclass
class ServedApp:
    runtime: Runtime
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve_app(runtime: Runtime) -> ServedApp:
    """Start uvicorn with the bot's app on a random loopback port; returns once it accepts requests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(runtime.services), log_level="warning", lifespan="on", **server_options(runtime.settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    return ServedApp(runtime, f"http://127.0.0.1:{port}", server, thread)
