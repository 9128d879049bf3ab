"""What the Slack listeners may call: the engine's services, handed over at wiring time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.configuration import ConfigurationService
from engine.interventions import Interventions
from engine.permissions import Authorizer
from engine.runbooks import RunbookCatalog


@dataclass(frozen=True)
class SlackServices:
    configuration: ConfigurationService
    interventions: Interventions
    authorizer: Authorizer
    catalog: Callable[[], RunbookCatalog]
