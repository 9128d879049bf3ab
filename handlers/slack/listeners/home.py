"""The App Home tab, published when someone opens it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from engine.calibration import calibration_report
from engine.overview import overview
from handlers.slack.layout.replies import build_home
from handlers.slack.listeners.answers import acknowledge
from handlers.slack.listeners.services import SlackServices
from storage.fields import utcnow

log = logging.getLogger(__name__)
HOME_WINDOW = timedelta(days=30)


def publish_home(client: WebClient, services: SlackServices, user: str, notice: str | None = None) -> None:
    """Publish the user's Home tab as things stand (with `notice`: the answer to their click there)."""
    calibration = calibration_report(utcnow() - HOME_WINDOW, policy=services.calibration_policy)
    view = build_home(
        overview(services.catalog()),
        is_admin=services.authorizer.is_admin(user),
        notice=notice,
        calibration=calibration,
    )
    try:
        client.views_publish(user_id=user, view=view)
    except SlackApiError as exc:  # the next opening publishes it again
        log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))


def register(app: App, services: SlackServices) -> None:
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        publish_home(client, services, str(event.get("user", "")))

    app.event("app_home_opened")(ack=acknowledge, lazy=[home_opened])
