"""What the HTTP faces use of the bot: a few engine services, wired by runtime.py and given to create_app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from slack_bolt import App

from engine.calibration import Policy
from engine.configuration import ConfigurationService
from engine.service import ResolutionService
from handlers.refusals import RefusalLog
from handlers.webhooks.destinations import CallbackPolicy
from handlers.webhooks.pagerduty_api import PagerDutyUsers
from settings import Settings


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Services:
    """Each route takes the ones it names (handlers/deps.py); none sees the wiring behind them."""

    settings: Settings
    configuration: ConfigurationService
    resolution: ResolutionService
    refusals: RefusalLog  # unauthenticated refusals, collapsed before they are audited
    callback_policy: CallbackPolicy  # where result callbacks may go
    metrics_registry: CollectorRegistry
    calibration_policy: Policy  # what the calibration report holds thresholds to
    bolt: App | None = None  # Slack's requests, when Slack is configured
    pagerduty_users: PagerDutyUsers | None = None  # who triggered a PagerDuty incident, by e-mail
    start: Callable[[], None] = field(default=_nothing)  # the worker and jobs, started with the app
    stop: Callable[[], None] = field(default=_nothing)
