"""The autonomy ladder: each category is `off`, `shadow` (dry run: what would have run is recorded),
`approval` (an admin approves each run) or `auto`. The mode is a view over the category's settings
(`auto_resolution_enabled`, `dry_run`, `approval_all`), so every existing configuration has one.

A category never moves by itself. The evidence (engine/calibration.py) proposes: one step up when the
category has enough outcomes and the bound on false resolutions at its threshold is under the target,
one step down when, with enough outcomes, even the lower end of the measured rate is over the target.
A proposal is posted to the audit channel with an *Apply* button (admins only); applying it is a
configuration change like any other, audited. The failure budget still pauses a category at once when
failures pile up: the ladder is for the slow evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.audit_actions import AuditAction
from engine.calibration import CategoryCalibration, Policy, calibration_report
from engine.calibration_stats import clopper_pearson
from engine.configuration import ConfigurationService
from engine.events import AutonomyProposal, Notifier
from storage import audit, config_store
from storage.config_store import CategorySetting
from storage.database import in_write_transaction, key_lock


class Mode(StrEnum):
    OFF = "off"
    SHADOW = "shadow"
    APPROVAL = "approval"
    AUTO = "auto"


LADDER = (Mode.OFF, Mode.SHADOW, Mode.APPROVAL, Mode.AUTO)


def mode_of(setting: CategorySetting) -> Mode:
    if not setting.auto_resolution_enabled:
        return Mode.OFF
    if setting.dry_run:
        return Mode.SHADOW
    return Mode.APPROVAL if setting.approval_all else Mode.AUTO


def settings_for(mode: Mode) -> dict[str, Any]:
    """The category settings that make `mode` (the others are left as they are)."""
    return {
        "auto_resolution_enabled": mode is not Mode.OFF,
        "dry_run": mode is Mode.SHADOW,
        "approval_all": mode is Mode.APPROVAL,
    }


@dataclass(frozen=True)
class Proposal:
    category: str
    current: Mode
    proposed: Mode
    evidence: str  # the numbers, in a sentence


def proposal_for(report: CategoryCalibration, current: Mode, policy: Policy) -> Proposal | None:
    """What the evidence says the category's mode could be; None when it says nothing."""
    at = report.current
    if at is None or at.count < policy.minimum:
        return None
    position = LADDER.index(current)
    numbers = (
        f"{at.not_fixed} of {at.count} outcomes at or above {at.threshold:.2f} not fixed "
        f"({at.rate:.1%}; upper bound {at.upper:.1%}, target {policy.target:.1%})"
    )
    lowest = clopper_pearson(at.not_fixed, at.count, policy.confidence)[0]
    if lowest > policy.target and position > 1:  # even the low end of its measured rate fails the target
        return Proposal(report.category, current, LADDER[position - 1], f"Failing: {numbers}")
    if at.upper <= policy.target and 0 < position < len(LADDER) - 1:
        return Proposal(report.category, current, LADDER[position + 1], f"Ready: {numbers}")
    return None


def review(notifier: Notifier, policy: Policy, since: datetime) -> list[Proposal]:
    """Propose what the evidence supports, once per change of proposal (a periodic job; replicas
    take turns per category, so each proposal is posted once)."""
    made = []
    for report in calibration_report(since, policy=policy):
        with in_write_transaction():
            key_lock(f"autonomy:{report.category}")
            setting = config_store.get_category(category=report.category)
            if setting is None:
                continue
            proposal = proposal_for(report, mode_of(setting), policy)
            wanted = proposal.proposed.value if proposal else None
            if wanted == setting.proposed_mode:
                continue  # proposed already (or nothing to propose, still)
            config_store.set_proposal(category=report.category, mode=wanted)
            if proposal is None:
                continue
            audit.record(
                action=AuditAction.AUTONOMY_PROPOSED,
                details={
                    "category": proposal.category,
                    "from": proposal.current.value,
                    "to": proposal.proposed.value,
                    "evidence": proposal.evidence,
                },
            )
            event = AutonomyProposal(report.category, proposal.current, proposal.proposed, proposal.evidence)
            notifier.tell(event)
            made.append(proposal)
    return made


def apply(configuration: ConfigurationService, category: str, mode: Mode, *, actor: str) -> CategorySetting:
    """Put the category in `mode` (an admin's Apply, or `config <category> mode <mode>`); audited as
    the configuration change it is, and as the proposal it applies."""
    with in_write_transaction():
        row = configuration.update_category(category=category, actor=actor, changes=settings_for(mode))
        config_store.set_proposal(category=category, mode=None)
        audit.record(
            action=AuditAction.AUTONOMY_APPLIED,
            actor=actor,
            details={"category": category, "mode": mode.value},
        )
    return row
