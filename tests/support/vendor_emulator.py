"""A vendor's REST API, emulated: a real HTTP server on 127.0.0.1 that records every call, answers as
the vendor does (each emulator says how), checks the headers the vendor requires, and answers an
error when told to (429 with Retry-After, 5xx, 404)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.servers import SHUTDOWN_POLL_SECONDS

Answer = tuple[int, dict[str, Any]]


@dataclass
class VendorCall:
    method: str
    path: str  # with its query string
    headers: dict[str, str]
    body: Any
    status: int

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


class VendorEmulator(ABC):
    def __init__(self) -> None:
        self.calls: list[VendorCall] = []
        self._refusals: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()

    @abstractmethod
    def refusal_for(self, headers: dict[str, str]) -> Answer | None:
        """The vendor's answer to a call missing what it requires (lower-cased header names)."""

    @abstractmethod
    def route(self, method: str, path: str, body: Any) -> Answer:
        """The vendor's answer to an authenticated call."""

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

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _answer

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
        """Answer the next `times` calls with `status` (and Retry-After, if given)."""
        with self._lock:
            self._refusals.extend([(status, retry_after)] * times)

    def calls_to(self, method: str) -> list[VendorCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def _respond(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        body = json.loads(raw) if raw else None
        extra: dict[str, str] = {}
        answer = self.refusal_for(lowered)
        if answer is None:
            with self._lock:
                told = self._refusals.pop(0) if self._refusals else None
            if told is not None:
                status, retry_after = told
                answer = (status, {"message": "refused as told"})
                extra = {"retry-after": retry_after} if retry_after else {}
            else:
                answer = self.route(method, path, body)
        with self._lock:
            self.calls.append(VendorCall(method, path, headers, body, answer[0]))
        return answer[0], answer[1], extra
