"""slack_sdk's WebClient, keeping its HTTP connections open between calls.

The stock client opens a new connection for every call (urllib), so each message costs a TCP, and
against slack.com a TLS, handshake. Here each thread keeps one connection per host and reuses it.
A kept connection is looked at before it is reused: an idle connection has nothing to read, so one
with something waiting (the server closed it) is replaced, and one idle longer than IDLE_SECONDS is
not trusted; a request is never sent twice, so a post cannot be duplicated by a retry here.
As with urllib, a failure to send the request is a URLError: the server cannot have acted on it;
any other error (no answer, a reset while waiting for it) leaves that open.
"""

from __future__ import annotations

import http.client
import io
import select
import threading
import time
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient

IDLE_SECONDS = 4.0  # servers close idle connections after a while; past this, open a new one


class _Kept:
    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.connection = connection
        self.used = time.monotonic()

    def reusable(self) -> bool:
        sock = self.connection.sock
        if sock is None or time.monotonic() - self.used > IDLE_SECONDS:
            return False
        return not select.select([sock], [], [], 0)[0]


class KeepAliveWebClient(WebClient):
    """A WebClient whose calls reuse their thread's connection to the API host."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept = threading.local()
        self._all: set[http.client.HTTPConnection] = set()  # every thread's, for close()
        self._all_lock = threading.Lock()

    def close(self) -> None:
        """Close every connection kept open (when no call is being made any more)."""
        with self._all_lock:
            connections, self._all = self._all, set()
        for connection in connections:
            connection.close()

    # slack_sdk's private sender: the sync client has no transport hook. slack-sdk is pinned and
    # tests/test_library_contracts.py holds the contract this relies on.
    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            return dict(super()._perform_urllib_http_request_internal(url, req))
        connection = self._connection(parts.scheme, parts.netloc)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            headers = {name.title(): value for name, value in req.header_items()}  # as urllib sends them
            try:
                connection.request("POST", path, body=req.data, headers=headers)
            except OSError as exc:  # not (wholly) sent; reported as urllib does, so callers can tell
                raise URLError(exc) from exc
            response = connection.getresponse()  # a failure from here on: the server may have acted
            body = response.read()
        except BaseException:
            self._forget(parts.scheme, parts.netloc)
            raise
        if response.will_close:
            self._forget(parts.scheme, parts.netloc)
        if response.status >= 300:  # as urllib reports it, for the caller's error handling
            raise HTTPError(url, response.status, response.reason, response.headers, io.BytesIO(body))
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.headers, "body": body.decode(charset)}

    def _by_host(self) -> dict[tuple[str, str], _Kept]:
        """This thread's kept connections, by scheme and host."""
        kept: dict[tuple[str, str], _Kept] = self._kept.__dict__.setdefault("by_host", {})
        return kept

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        kept = self._by_host()
        current = kept.get((scheme, netloc))
        if current is not None and current.reusable():
            current.used = time.monotonic()
            return current.connection
        if current is not None:
            self._discard(current.connection)
        if scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                netloc, timeout=self.timeout, context=self.ssl
            )
        else:
            connection = http.client.HTTPConnection(netloc, timeout=self.timeout)
        kept[(scheme, netloc)] = _Kept(connection)
        with self._all_lock:
            self._all.add(connection)
        return connection

    def _forget(self, scheme: str, netloc: str) -> None:
        current = self._by_host().pop((scheme, netloc), None)
        if current is not None:
            self._discard(current.connection)

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        with self._all_lock:
            self._all.discard(connection)
        connection.close()
