"""Slack's Socket Mode end, emulated: a WebSocket on a random loopback port that greets the app as
Slack does, hands it envelopes (slash commands, interactions, events) and records its acks.

The app finds it through the Web API emulator: apps.connections.open (with the xapp- token) answers
this server's URL.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class SocketModeServer:
    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []  # what the app sent back, in order
        self.connections = 0  # sessions opened since start
        self._lock = threading.Lock()
        self._current: ServerConnection | None = None
        self._ids = itertools.count(1)
        self._server: Server | None = None

    def start(self) -> None:
        self._server = serve(self._session, "127.0.0.1", 0, compression=None)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=emulated&app_id=A0AUTO"

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._current is not None

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False) -> str:
        """Hand the connected app an envelope of `kind` (slash_commands, interactive, events_api);
        returns its envelope_id, which the app must ack."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": 0, "retry_reason": ""}
        with self._lock:
            connection = self._current
        assert connection is not None, "no app is connected"
        connection.send(json.dumps(envelope))
        return envelope_id

    def acked(self, envelope_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((ack for ack in self.acks if ack.get("envelope_id") == envelope_id), None)

    def _session(self, connection: ServerConnection) -> None:
        with self._lock:
            self._current = connection
            self.connections += 1
        hello = {
            "type": "hello",
            "num_connections": 1,
            "connection_info": {"app_id": "A0AUTO"},
            "debug_info": {"host": "emulator", "approximate_connection_time": 18060},
        }
        try:
            connection.send(json.dumps(hello))
            for message in connection:
                with self._lock:
                    self.acks.append(json.loads(message))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if self._current is connection:
                    self._current = None
