"""PagerDuty's REST API, emulated for resolving back: a real HTTP server on 127.0.0.1 that records
every call and answers as PagerDuty does (`POST /incidents/{id}/notes` 201, `PUT /incidents/{id}`
200), checks the headers PagerDuty requires, and answers an error when told to (429 with
Retry-After, 5xx, 404)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.servers import SHUTDOWN_POLL_SECONDS


@dataclass
class PagerDutyCall:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class PagerDutyEmulator:
    token: str
    calls: list[PagerDutyCall] = field(default_factory=list)
    _refusals: list[tuple[int, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers = outer._respond(
                    self.command, self.path, dict(self.headers.items()), raw
                )
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refuse(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        with self._lock:
            self._refusals.extend([(status, retry_after)] * times)

    def _respond(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        body = json.loads(raw) if raw else None
        with self._lock:
            refusal = self._refusals.pop(0) if self._refusals else None
        extra: dict[str, str]
        if lowered.get("authorization") != f"Token token={self.token}":
            status, answer, extra = 401, {"error": {"message": "Unauthorized", "code": 2006}}, {}
        elif not lowered.get("from") or "version=2" not in lowered.get("accept", ""):
            status, answer, extra = 400, {"error": {"message": "Invalid Input Provided", "code": 2001}}, {}
        elif refusal is not None:
            status, retry_after = refusal
            answer = {"error": {"message": "refused as told", "code": 0}}
            extra = {"retry-after": retry_after} if retry_after else {}
        elif method == "POST" and path.endswith("/notes"):
            status, answer, extra = 201, {"note": {"id": "PWL7QXS", **(body or {}).get("note", {})}}, {}
        elif method == "PUT" and path.startswith("/incidents/"):
            status, answer, extra = 200, {"incident": {"id": path.split("/")[2], "status": "resolved"}}, {}
        else:
            status, answer, extra = 404, {"error": {"message": "Not Found", "code": 2100}}, {}
        with self._lock:
            self.calls.append(PagerDutyCall(method, path, headers, body, status))
        return status, answer, extra
