"""How uvicorn serves the app: deadlines for reading a request's headers and its body, and a cap on
connections, so that half-sent requests cannot hold the bot's connections open."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from settings import Settings


class ReadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with deadlines: a request's headers must arrive within
    `header_seconds` of its first byte (or of the connection), its body within `body_seconds` of
    its headers; otherwise the connection is closed. An idle keep-alive connection is uvicorn's
    own keep-alive timeout's."""

    header_seconds = 10.0
    body_seconds = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_seconds)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_seconds)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request did not arrive in time")
            self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config / uvicorn.run keywords for the bot's limits (the same in `serve` and tests)."""
    protocol = type(
        "ConfiguredReadDeadlineProtocol",
        (ReadDeadlineProtocol,),
        {
            "header_seconds": settings.http_header_timeout_seconds,
            "body_seconds": settings.http_body_timeout_seconds,
        },
    )
    return {
        "http": protocol,
        "limit_concurrency": settings.http_max_connections,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
    }
