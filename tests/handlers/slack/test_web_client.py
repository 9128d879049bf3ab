"""The Web API client keeps its connection open between calls, replaces one the server closed, and
reports Slack's errors as slack_sdk does; against the emulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from handlers.slack.delivery.web_client import KeepAliveWebClient
from tests.support.slack_emulator import SlackEmulator


@pytest.fixture
def client(slack: SlackEmulator) -> Iterator[KeepAliveWebClient]:
    web = KeepAliveWebClient(token="xoxb-test-token", base_url=slack.api_url, timeout=5, retry_handlers=[])
    yield web
    web.close()


def post(client: KeepAliveWebClient, text: str) -> str:
    answer = client.api_call("chat.postMessage", json={"channel": "C0AUDIT", "text": text})
    return str(answer["ts"])


def test_calls_share_one_connection(client, slack):
    for n in range(5):
        post(client, f"message {n}")
    assert [m.text for m in slack.top_level("C0AUDIT")] == [f"message {n}" for n in range(5)]
    assert slack.connections_accepted == 1


def test_a_connection_the_server_closed_is_replaced_and_nothing_is_sent_twice(client, slack):
    post(client, "before")
    slack.drop_connections()  # as a server closing an idle connection
    post(client, "after")
    assert [m.text for m in slack.top_level("C0AUDIT")] == ["before", "after"]
    assert slack.connections_accepted == 2


def test_slack_refusing_a_call_is_reported_with_its_status_and_headers(client, slack):
    slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as refused:
        post(client, "too soon")
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "7"
    assert post(client, "later")  # the same client goes on
