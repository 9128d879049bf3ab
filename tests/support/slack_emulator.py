"""A small Slack Web API emulator: real HTTP on a random loopback port, Slack's response shapes.

It answers the methods the bot uses, keeps the channels' messages (updates applied in place), records
every call and every post to a response_url, and can be told to rate-limit (429 + Retry-After), fail
(5xx), refuse with a Slack error, hang, keep a post but lose its answer, or go down altogether
(connection refused) and come back on the same port. It refuses what real Slack refuses in a
message (tests/support/slack_limits: too many blocks, too much text, metadata of the wrong types),
with Slack's error, so that what it accepts, Slack accepts too.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.support.servers import SHUTDOWN_POLL_SECONDS
from tests.support.slack_limits import MAX_VIEW_BLOCKS, message_problem

DROPPED = 0  # in place of an HTTP status: the connection is closed without an answer


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # as many connections at once as a busy client opens (the default 5
    # drops the rest, which the client's kernel retries a second later)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()
        self.connections_accepted = 0
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self.open_connections.add(request)
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close the connections clients keep open (as a server going away does)."""
        with self._connections_lock:
            connections, self.open_connections = self.open_connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str
    at: float
    status: int = 0  # the HTTP status answered
    retry_after: float | None = None  # with a 429
    error: str | None = None  # the Slack error answered (ok false), if any


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    updates: int = 0
    metadata: dict[str, Any] | None = None

    @property
    def outbox_ids(self) -> list[int]:
        """The outbox row the bot put this post's batch under (its metadata), if any: a row
        posted twice shows as the same id on two posts."""
        head = ((self.metadata or {}).get("event_payload") or {}).get("outbox_id")
        return [int(head)] if head is not None else []


@dataclass
class SlackEmulator:
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    messages: dict[str, list[Posted]] = field(default_factory=dict)
    enforce_channel_rate: bool = False
    # Tier 3, about 50 calls a minute each: chat.update, and a DM's conversations.open, users.lookupByEmail
    enforce_update_rate: bool = False
    workspace_post_rate: float | None = None  # chat.postMessage a second across all channels, if set
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rate_limits: dict[str, list[float]] = field(default_factory=dict)
    _failures: dict[str, list[int]] = field(default_factory=dict)
    _refusals: dict[str, list[str]] = field(default_factory=dict)
    _refused_responses: list[str] = field(default_factory=list)
    _hangs: dict[str, float] = field(default_factory=dict)
    _hang_after: dict[str, float] = field(default_factory=dict)
    _lost_answers: dict[str, list[int]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _last_post: dict[str, list[float]] = field(default_factory=dict)
    _tier3: dict[str, list[float]] = field(default_factory=dict)  # method -> its recent calls
    port: int = 0
    socket_mode_url: str | None = None  # what apps.connections.open answers (a SocketModeServer's)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept open between calls, as Slack's are
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait between

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = emulator._handle(self.path, dict(self.headers.items()), raw)
                if status == DROPPED:
                    self.close_connection = True  # no answer at all: the client sees the connection end
                    return
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                # the client may have given up waiting (a hang test), as it would with Slack
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, daemon=True
        ).start()

    def down(self) -> None:
        """Slack unreachable: the port refuses connections until up(), and those open are closed."""
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()

    def up(self) -> None:
        self.start()

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since the last start (a client that keeps its own open uses one)."""
        return self._server.connections_accepted

    def drop_connections(self) -> None:
        """Close the connections clients keep open, as a server does after they sit idle."""
        self._server.drop_connections()

    stop = down

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    # -- faults ---------------------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: float = 1) -> None:
        with self._lock:
            self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, times: int = 1, status: int = 500) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend([status] * times)

    def refuse(self, method: str, error: str, times: int = 1) -> None:
        """Answer the method's next calls with a Slack error (HTTP 200, ok false), as Slack does
        for cant_update_message, channel_not_found and the like."""
        with self._lock:
            self._refusals.setdefault(method, []).extend([error] * times)

    def refuse_responses(self, error: str = "invalid_blocks", times: int = 1) -> None:
        """Refuse the next answers posted to a response_url (HTTP 400 with the error)."""
        with self._lock:
            self._refused_responses.extend([error] * times)

    def hang(self, method: str, seconds: float, *, channel: str | None = None) -> None:
        """Wait `seconds` before answering the method (only for calls to `channel`, if given)."""
        with self._lock:
            self._hangs[f"{method}@{channel}" if channel else method] = seconds

    def accept_then_hang(self, method: str, seconds: float) -> None:
        """Do the call (store the message), then wait before answering: a client that dies
        meanwhile never learns that Slack kept it."""
        with self._lock:
            self._hang_after[method] = seconds

    def keep_then_lose_answer(self, method: str, times: int = 1, status: int = DROPPED) -> None:
        """Do the call (store the message), then answer `status` (a 5xx: Slack's internal_error, "some
        aspect of the operation may have succeeded"), or with DROPPED close the connection unanswered:
        the client cannot tell whether Slack kept it."""
        with self._lock:
            self._lost_answers.setdefault(method, []).extend([status] * times)

    def post_as_others(self, channel: str, count: int) -> None:
        """Messages from other people in a channel (no metadata), newer than everything so far."""
        with self._lock:
            for number in range(count):
                posted = Posted(channel, self._next_ts(), f"chatter {number}", [], thread_ts=None)
                self.messages.setdefault(channel, []).append(posted)

    # -- what arrived ---------------------------------------------------------------------------

    def calls_inside_retry_after(self) -> list[Call]:
        """Calls made before a 429's Retry-After ran out: to the same channel for chat.postMessage
        (limited per channel), to the same method for the others."""
        holds: dict[str, float] = {}
        early = []
        with self._lock:
            calls = sorted(self.calls, key=lambda c: c.at)
        for call in calls:
            scope = call.method
            if call.method == "chat.postMessage":
                scope += f":{call.params.get('channel')}"
            if call.at < holds.get(scope, 0.0) - 0.05:  # 50 ms: the clock is read after the request arrived
                early.append(call)
            if call.status == 429 and call.retry_after is not None:
                holds[scope] = call.at + call.retry_after
        return early

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def channel(self, channel: str) -> list[Posted]:
        with self._lock:
            return list(self.messages.get(channel, []))

    def top_level(self, channel: str) -> list[Posted]:
        return [m for m in self.channel(channel) if m.thread_ts is None]

    def thread(self, channel: str, ts: str) -> list[Posted]:
        return [m for m in self.channel(channel) if m.thread_ts == ts]

    def responses_to(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for key, body in self.responses if key == name]

    # -- the API --------------------------------------------------------------------------------

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        parsed = urlparse(path)
        if parsed.path.startswith("/respond/"):
            answer = json.loads(raw or b"{}")
            with self._lock:
                problem = self._refused_responses.pop(0) if self._refused_responses else None
            problem = problem or message_problem(answer)
            if problem:  # Slack answers a refused response_url post with a 400 and the error
                return 400, {}, {"ok": False, "error": problem}
            with self._lock:
                self.responses.append((parsed.path.removeprefix("/respond/"), answer))
            return 200, {}, {"ok": True}
        method = parsed.path.removeprefix("/api/")
        content_type = headers.get("Content-Type", headers.get("content-type", ""))
        if "json" in content_type:
            params: dict[str, Any] = json.loads(raw or b"{}")
        else:
            params = dict(parse_qsl(raw.decode()))
        params.update(dict(parse_qsl(parsed.query)))
        token = headers.get("Authorization", headers.get("authorization", "")).removeprefix("Bearer ")
        call = Call(method, params, token, time.monotonic())
        with self._lock:
            self.calls.append(call)
        status, answer_headers, body = self._answer(call)
        call.status = status
        if isinstance(body, dict) and body.get("ok") is False:
            call.error = str(body.get("error"))
        if status == 429:
            call.retry_after = float(answer_headers.get("Retry-After", "0"))
        return status, answer_headers, body

    def _answer(self, call: Call) -> tuple[int, dict[str, str], Any]:
        method, params, token = call.method, call.params, call.token
        with self._lock:
            hang = self._hangs.get(f"{method}@{params.get('channel')}") or self._hangs.get(method, 0.0)
            limited = self._rate_limits.get(method, [])
            retry_after = limited.pop(0) if limited else None
            failures = self._failures.get(method, [])
            failure = failures.pop(0) if failures else None
            refusals = self._refusals.get(method, [])
            refusal = refusals.pop(0) if refusals else None
        if hang:
            time.sleep(hang)
        if retry_after is not None:
            return 429, {"Retry-After": f"{retry_after:g}"}, {"ok": False, "error": "ratelimited"}
        if failure is not None:
            return failure, {}, {"ok": False, "error": "internal_error"}
        if refusal is not None:
            return self._error(refusal)
        if not token.startswith("xapp-" if method == "apps.connections.open" else "xoxb-"):
            return 200, {}, {"ok": False, "error": "not_allowed_token_type" if token else "not_authed"}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        answer: tuple[int, dict[str, str], Any] = handler(params)
        with self._lock:
            after = self._hang_after.get(method, 0.0)
            lost = self._lost_answers.get(method, [])
            lost_answer = lost.pop(0) if lost else None
        if after:
            time.sleep(after)
        if lost_answer is not None:
            return lost_answer, {}, {"ok": False, "error": "internal_error"}
        return answer

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _ok(self, **body: Any) -> tuple[int, dict[str, str], Any]:
        return 200, {}, {"ok": True, **body}

    def _error(self, error: str) -> tuple[int, dict[str, str], Any]:
        return 200, {}, {"ok": False, "error": error}

    def _apps_connections_open(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if self.socket_mode_url is None:
            return self._error("socket_mode_not_enabled")
        return self._ok(url=self.socket_mode_url)

    def _auth_test(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        return self._ok(
            url="https://emulated.slack.com/",
            team="Emulated",
            user="autoresolve",
            team_id="T0EMU",
            user_id="U0BOT",
            bot_id="B0BOT",
            is_enterprise_install=False,
        )

    def _dm_channel(self, user: str) -> str:
        return "D" + user[1:]

    def _chat_postMessage(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        channel = str(params.get("channel", ""))
        if channel[:1] in ("U", "W"):  # Slack opens the app's DM with the user, and answers its ID
            if channel not in self.users:
                return self._error("channel_not_found")
            channel = self._dm_channel(channel)
        if channel[:1] not in ("C", "D", "G"):
            return self._error("channel_not_found")
        if self.workspace_post_rate is not None and not self._within_workspace_rate():
            return 429, {"Retry-After": "2"}, {"ok": False, "error": "ratelimited"}
        if self.enforce_channel_rate and not self._within_channel_rate(channel):
            return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        problem = message_problem({"text": params.get("text"), "blocks": blocks, "metadata": metadata})
        if problem:
            return self._error(problem)
        with self._lock:
            message = Posted(
                channel,
                self._next_ts(),
                str(params.get("text", "")),
                blocks,
                params.get("thread_ts"),
                metadata=metadata,
            )
            self.messages.setdefault(channel, []).append(message)
        return self._ok(channel=channel, ts=message.ts, message={"text": message.text, "ts": message.ts})

    def _within_channel_rate(self, channel: str) -> bool:
        """About one message a second per channel, with a burst of three."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._last_post.get(channel, []) if now - t < 3.0]
            if len(recent) >= 3:
                self._last_post[channel] = recent
                return False
            recent.append(now)
            self._last_post[channel] = recent
        return True

    def _within_workspace_rate(self) -> bool:
        """At most `workspace_post_rate` posts in any second, whatever the channel."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._last_post.get("*workspace*", []) if now - t < 1.0]
            if len(recent) >= (self.workspace_post_rate or 0):
                self._last_post["*workspace*"] = recent
                return False
            recent.append(now)
            self._last_post["*workspace*"] = recent
        return True

    def _tier3_limited(self, method: str) -> tuple[int, dict[str, str], Any] | None:
        """Tier 3 (with `enforce_update_rate`): at most 50 calls of the method in any minute; past
        that a 429 with the seconds until one is allowed."""
        if not self.enforce_update_rate:
            return None
        now = time.monotonic()
        with self._lock:
            recent = self._tier3[method] = [t for t in self._tier3.get(method, []) if now - t < 60.0]
            if len(recent) < 50:
                recent.append(now)
                return None
            wait = 60.0 - (now - recent[0])
        return 429, {"Retry-After": str(max(1, round(wait + 0.5)))}, {"ok": False, "error": "ratelimited"}

    def _chat_update(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if (limited := self._tier3_limited("chat.update")) is not None:
            return limited
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        problem = message_problem({"text": params.get("text"), "blocks": blocks})
        if problem:
            return self._error(problem)
        with self._lock:
            for message in self.messages.get(channel, []):
                if message.ts == ts:
                    message.text = str(params.get("text", ""))
                    message.blocks = blocks
                    message.updates += 1
                    return self._ok(channel=channel, ts=ts, text=message.text)
        return self._error("message_not_found")

    def _chat_postEphemeral(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        return self._ok(message_ts=self._next_ts())

    def _listed(self, message: Posted, with_metadata: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text, "bot_id": "B0BOT"}
        if message.thread_ts:
            item["thread_ts"] = message.thread_ts
        if with_metadata and message.metadata:
            item["metadata"] = message.metadata
        return item

    def _conversations_history(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        channel = str(params.get("channel", ""))
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
        with self._lock:
            found = [
                self._listed(m, with_metadata)
                for m in reversed(self.messages.get(channel, []))
                if m.thread_ts is None and float(m.ts) >= oldest
            ]
        return self._page(found, params)

    def _conversations_replies(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
        with self._lock:
            found = [
                self._listed(m, with_metadata)
                for m in self.messages.get(channel, [])
                if m.ts == ts or m.thread_ts == ts
            ]
        if not found:
            return self._error("thread_not_found")
        return self._page(found, params)

    def _page(self, found: list[dict[str, Any]], params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """One page of a listing, as Slack pages: `limit` (100 by default), then a cursor for the rest."""
        start = int(params.get("cursor") or 0)
        end = start + int(params.get("limit") or 100)
        more = end < len(found)
        metadata = {"next_cursor": str(end) if more else ""}
        return self._ok(messages=found[start:end], has_more=more, response_metadata=metadata)

    def _conversations_open(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if (limited := self._tier3_limited("conversations.open")) is not None:
            return limited
        user = str(params.get("users", "")).split(",")[0]
        if user not in self.users:
            return self._error("user_not_found")
        return self._ok(channel={"id": self._dm_channel(user)})

    def _user(self, user_id: str) -> dict[str, Any]:
        info = self.users[user_id]
        return {
            "id": user_id,
            "name": info.get("name", user_id.lower()),
            "real_name": info.get("name", user_id),
            "profile": {"email": info.get("email"), "real_name": info.get("name", user_id)},
        }

    def _users_lookupByEmail(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if (limited := self._tier3_limited("users.lookupByEmail")) is not None:
            return limited
        email = str(params.get("email", ""))
        for user_id, info in self.users.items():
            if info.get("email") == email:
                return self._ok(user=self._user(user_id))
        return self._error("users_not_found")

    def _users_info(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        user_id = str(params.get("user", ""))
        if user_id not in self.users:
            return self._error("user_not_found")
        return self._ok(user=self._user(user_id))

    def _views_publish(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        view = params.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        problem = message_problem({"blocks": view.get("blocks") or []}, max_blocks=MAX_VIEW_BLOCKS)
        if problem:
            return self._error(problem)
        return self._ok(view={"id": "V0HOME", **view})

    def _views_open(self, params: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        return self._views_publish(params)
