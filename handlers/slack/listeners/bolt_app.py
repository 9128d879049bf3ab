"""The Bolt app (sync): listeners registered, WebClient pointed at SLACK_API_URL."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from handlers.slack.delivery.web_client import KeepAliveWebClient
from handlers.slack.listeners import actions, commands, home
from handlers.slack.listeners.services import SlackServices
from settings import Settings

log = logging.getLogger(__name__)


def web_client(settings: Settings) -> KeepAliveWebClient:
    """A client for Slack's Web API, keeping connections open; no built-in retries (the outbox
    schedules its own)."""
    assert settings.slack_bot_token is not None
    base_url = (
        settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    )
    return KeepAliveWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url,
        timeout=settings.slack_timeout_seconds,
        retry_handlers=[],
    )


class _OurClientHasTheToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself, and warns at every start that it goes
    unused beside the client given; the client is built from that same setting, so nothing is wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_bolt_log = logging.getLogger("slack_bolt.App")
_bolt_log.addFilter(_OurClientHasTheToken())


def build_bolt_app(settings: Settings, services: SlackServices, client: WebClient) -> App:
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    app = App(
        client=client,
        signing_secret=signing_secret,
        # Socket Mode connections are authenticated; HTTP requests are always verified.
        request_verification_enabled=signing_secret is not None,
        token_verification_enabled=False,  # no call to Slack at start-up: Slack may be down
        # Each listener acks at once and does its work lazily (handlers/slack/answers.acknowledge):
        # the HTTP answer goes out right after the ack, without Bolt polling for it every 10 ms.
        process_before_response=True,
    )
    commands.register(app, services)
    actions.register(app, services)
    home.register(app, services)

    @app.error
    def unexpected(error: Exception, body: dict[str, Any]) -> None:
        error_id = uuid.uuid4().hex[:8]
        log.error("Slack listener failed (error id %s, type %s): %r", error_id, body.get("type"), error)

    return app
