"""Headers from outside, generated: whatever the timestamp, signature or authorization headers hold,
and whatever the unsigned body is, the bot answers 4xx (401 for bad credentials), never a 500."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.handlers.slack.conftest import SlackBot


def sendable(value: bytes) -> bool:
    """What an HTTP client can send at all: visible bytes and inner blanks (RFC 9110 field values)."""
    return value == value.strip(b" \t") and all(
        byte in (9, 32) or 33 <= byte <= 126 or byte >= 128 for byte in value
    )


HEADER_VALUES = st.one_of(
    st.sampled_from([b"", b"abc", "\u00b2".encode(), b"1" * 4301, b"-1", b"1e9", b"0x10", b"1 2", b"v0=zz"]),
    st.binary(max_size=60).filter(sendable),
)
BODIES = st.one_of(
    st.sampled_from(
        [b"", b"payload=", b"payload=%7B", b"payload=" + b"[" * 5000, b"command=/killswitch&text=off"]
    ),
    st.binary(max_size=300),
)


def send(bot: SlackBot, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """The status; 400 when the HTTP server itself refuses a header's bytes (before the bot)."""
    return bot.http.post(path, content=body, headers=headers).status_code


def refused(status: int) -> bool:
    return status == 401 or status == 400  # 400: a header uvicorn's parser does not take


@pytest.fixture
def open_bot(make_bot) -> SlackBot:
    return make_bot(webhook_token="hook-token", webhook_secret="hook-secret")


def test_slack_headers_and_bodies_never_answer_500(open_bot):
    @given(timestamp=HEADER_VALUES, signature=HEADER_VALUES, body=BODIES)
    @settings(max_examples=80, derandomize=True, deadline=None, database=None)
    def checked(timestamp: bytes, signature: bytes, body: bytes) -> None:
        headers = [
            (b"X-Slack-Request-Timestamp", timestamp),
            (b"X-Slack-Signature", signature),
            (b"Content-Type", b"application/x-www-form-urlencoded"),
        ]
        assert refused(send(open_bot, "/slack/events", headers, body))

    checked()


def test_webhook_headers_never_answer_500(open_bot):
    @given(
        path=st.sampled_from(["/webhooks/incidents", "/webhooks/alertmanager"]),
        timestamp=HEADER_VALUES,
        signature=HEADER_VALUES,
        authorization=st.one_of(st.none(), HEADER_VALUES.map(lambda value: (b"Bearer " + value).strip())),
        body=BODIES,
    )
    @settings(max_examples=80, derandomize=True, deadline=None, database=None)
    def checked(
        path: str, timestamp: bytes, signature: bytes, authorization: bytes | None, body: bytes
    ) -> None:
        headers = [
            (b"X-Autoresolve-Timestamp", timestamp),
            (b"X-Autoresolve-Signature", signature),
            (b"Content-Type", b"application/json"),
        ]
        if authorization is not None:
            headers.append((b"Authorization", authorization))
        assert refused(send(open_bot, path, headers, body))

    checked()


def test_api_authorization_headers_never_answer_500(make_bot):
    bot = make_bot(api_token="the-api-token")

    @given(authorization=HEADER_VALUES, forwarded=st.one_of(st.none(), HEADER_VALUES))
    @settings(max_examples=60, derandomize=True, deadline=None, database=None)
    def checked(authorization: bytes, forwarded: bytes | None) -> None:
        headers = [(b"Authorization", authorization)]
        if forwarded is not None:
            headers.append((b"X-Forwarded-For", forwarded))
        assert refused(bot.http.post("/api/v1/config/kill-switch/deactivate", headers=headers).status_code)

    checked()
