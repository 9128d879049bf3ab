"""Socket Mode: the bot's WebSocket to Slack, opened in the background and tried until it is up.

slack_sdk's client reconnects by itself once a session has been established; opening the first
one (apps.connections.open, then the WebSocket) is left to the caller, and Slack may be down when
the bot starts. Here it is tried again with a growing pause (1 s, 2 s, ... at most a minute)
until it succeeds or the bot stops, so commands start arriving as soon as Slack is reachable.
"""

from __future__ import annotations

import logging
import threading

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from handlers.slack.listeners import payloads

log = logging.getLogger(__name__)

FIRST_PAUSE_SECONDS = 1.0
MAX_PAUSE_SECONDS = 60.0


class CheckedSocketModeHandler(SocketModeHandler):
    """Bolt's handler, but a malformed payload (payloads.shape_problem) is audited, acknowledged
    (so Slack does not send it again) and not handed to Bolt, as over HTTP."""

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]  # as Bolt's
        problem = payloads.shape_problem(req.payload)
        if problem is None:
            super().handle(client, req)
            return
        payloads.audit_malformed(problem, payloads.kind_of(req.payload))
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


class SocketModeConnection:
    def __init__(self, bolt: App, app_token: str) -> None:
        self._handler = CheckedSocketModeHandler(bolt, app_token)
        self._stopping = threading.Event()
        self._opener = threading.Thread(target=self._open, name="slack-socket-mode", daemon=True)

    def start(self) -> None:
        self._opener.start()

    def close(self) -> None:
        """Stop trying, and close the session if one is open."""
        self._stopping.set()
        if self._opener.is_alive():
            self._opener.join(timeout=15)  # an attempt in progress times out by itself
        self._handler.close()

    def _open(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while not self._stopping.is_set():
            try:
                self._handler.connect()
            except Exception as exc:  # Slack unreachable, a bad app token...: said, and tried again
                log.error("Socket Mode: cannot connect to Slack (%s); trying again in %.0f s", exc, pause)
            else:
                log.info("Socket Mode: connected to Slack")
                return
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, MAX_PAUSE_SECONDS)
