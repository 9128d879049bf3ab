"""What the Slack listeners may call: the engine's services, handed over at wiring time."""

from __future__ import annotations

from dataclasses import dataclass

from engine.calibration import Policy
from engine.configuration import ConfigurationService
from engine.interventions import Interventions
from engine.permissions import Authorizer
from engine.runbook_library import RunbookLibrary


@dataclass(frozen=True)
class SlackServices:
    configuration: ConfigurationService
    interventions: Interventions
    authorizer: Authorizer
    catalog: RunbookLibrary  # called: the runbooks in force; `reload` for admins
    calibration_policy: Policy  # what the calibration report holds thresholds to
