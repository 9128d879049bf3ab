"""Half-sent requests cannot hold the bot's connections: its headers and its body have deadlines."""

from __future__ import annotations

import socket
import time

from tests.handlers.test_rest_api import SIMPLE


def connect(app) -> socket.socket:
    host, port = app.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_after(connection: socket.socket) -> float:
    """Seconds until the server closes the connection (recv returns nothing)."""
    started = time.monotonic()
    while connection.recv(4096):
        pass
    return time.monotonic() - started


def test_a_request_whose_headers_never_end_is_closed(served):
    app = served(SIMPLE, http_header_timeout_seconds=0.3)
    with connect(app) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: bot\r\nX-Slow: ")
        assert closed_after(connection) < 5  # the socket's own timeout (10 s) would raise instead


def test_a_request_whose_body_never_ends_is_closed(served):
    app = served(SIMPLE, http_body_timeout_seconds=0.3)
    with connect(app) as connection:
        connection.sendall(
            b"POST /webhooks/incidents HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"incident_id": '
        )
        assert closed_after(connection) < 5


def test_a_silent_connection_is_closed(served):
    app = served(SIMPLE, http_header_timeout_seconds=0.3)
    with connect(app) as connection:
        assert closed_after(connection) < 5


def test_requests_that_arrive_in_time_are_served_on_a_kept_alive_connection(served):
    app = served(SIMPLE, http_header_timeout_seconds=0.5)
    with app.client() as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            time.sleep(0.2)  # idle between requests: the keep-alive timeout's, not the header deadline's
