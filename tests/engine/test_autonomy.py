"""The autonomy ladder: modes as views over the category's settings, the approval mode's gate,
proposals from the evidence (up when ready, down when failing, once each), and where new categories start."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import autonomy
from engine.autonomy import Mode, mode_of, proposal_for, settings_for
from engine.calibration import Policy, calibrate
from storage import audit, config_store, incidents
from storage.fields import utcnow
from storage.outcomes import Outcome
from tests.conftest import make_incident
from tests.engine.test_calibration import seed
from tests.support.notifier import RecordingNotifier

RUNBOOKS = """
runbooks:
  - id: fix
    category: database
    steps: [{name: Fix, log: fixed}]
"""


def rows(confidence: float, fixed: int, not_fixed: int) -> list[Outcome]:
    return [
        Outcome(
            incident_id=f"x{i}",
            category="c",
            confidence=confidence,
            threshold=0.9,
            decision="auto",
            fixed=i < fixed,
        )
        for i in range(fixed + not_fixed)
    ]


@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_is_a_view_over_the_settings(mode):
    setting = config_store.CategorySetting(category="c", **settings_for(mode))
    assert mode_of(setting) is mode


def test_the_evidence_proposes_one_step_up_or_down_or_nothing():
    policy = Policy()
    ready = calibrate("c", 0.9, rows(0.95, fixed=160, not_fixed=0), policy)
    assert proposal_for(ready, Mode.SHADOW, policy).proposed is Mode.APPROVAL  # type: ignore[union-attr]
    assert proposal_for(ready, Mode.APPROVAL, policy).proposed is Mode.AUTO  # type: ignore[union-attr]
    assert proposal_for(ready, Mode.AUTO, policy) is None  # at the top
    assert proposal_for(ready, Mode.OFF, policy) is None  # off is a person's choice: never proposed up
    failing = calibrate("c", 0.9, rows(0.95, fixed=80, not_fixed=20), policy)
    proposal = proposal_for(failing, Mode.AUTO, policy)
    assert proposal is not None
    assert (proposal.proposed, proposal.evidence[:8]) == (Mode.APPROVAL, "Failing:")
    assert proposal_for(failing, Mode.SHADOW, policy) is None  # shadow runs nothing: nothing to stop
    unsure = calibrate("c", 0.9, rows(0.95, fixed=48, not_fixed=2), policy)  # 4%: not ready, not failing
    assert proposal_for(unsure, Mode.AUTO, policy) is None
    assert proposal_for(unsure, Mode.SHADOW, policy) is None
    assert proposal_for(calibrate("c", 0.9, rows(0.95, 10, 0), policy), Mode.SHADOW, policy) is None


def test_in_approval_mode_every_run_waits_for_an_admin(engine):
    runtime = engine(RUNBOOKS, admin_users="U0ADMIN")
    runtime.configuration.update_category(
        category="database", actor="U0ADMIN", changes=settings_for(Mode.APPROVAL)
    )
    submission = runtime.resolution.submit(make_incident(confidence_score=0.99))
    assert (submission.decision.outcome, submission.decision.gate) == ("awaiting_approval", "autonomy")
    assert submission.decision.reason == "The category's autonomy is approval: an admin approves each run"
    incident = incidents.get(incident_id="INC-1")
    assert incident is not None
    approved = runtime.interventions.approve("INC-1", actor="U0ADMIN", digest=incident.approval_digest)
    assert approved.decision.outcome == "queued"


def test_a_proposal_is_made_once_and_applied_by_an_admin(engine):
    runtime = engine(RUNBOOKS)
    runtime.configuration.update_category(
        category="database", actor="U0ADMIN", changes=settings_for(Mode.SHADOW)
    )
    seed("database", 0.96, fixed=160, not_fixed=0)
    notifier = RecordingNotifier()
    since = utcnow() - timedelta(days=30)
    (proposal,) = autonomy.review(notifier, Policy(), since)
    assert (proposal.current, proposal.proposed) == (Mode.SHADOW, Mode.APPROVAL)
    assert autonomy.review(notifier, Policy(), since) == []  # proposed already: not again
    (row,) = audit.query(action="autonomy_proposed")
    assert row.details["evidence"].startswith("Ready: 0 of 160 outcomes at or above 0.90 not fixed")
    autonomy.apply(runtime.configuration, "database", Mode.APPROVAL, actor="U0ADMIN")
    setting = config_store.get_category(category="database")
    assert setting is not None
    assert (mode_of(setting), setting.proposed_mode) == (Mode.APPROVAL, None)
    assert audit.query(action="autonomy_applied")[0].actor == "U0ADMIN"
    assert audit.query(action="config_updated")[0].details["after"]["approval_all"] is True
    (again,) = autonomy.review(notifier, Policy(), since)  # the next rung, now that it is in approval
    assert again.proposed is Mode.AUTO


def test_new_categories_start_in_shadow_unless_told_otherwise(engine):
    runtime = engine(RUNBOOKS)
    created = runtime.configuration.update_category(
        category="payments", actor="U0ADMIN", changes={}, create=True
    )
    assert mode_of(created) is Mode.SHADOW
    told = runtime.configuration.update_category(
        category="billing", actor="U0ADMIN", changes={"dry_run": False}, create=True
    )
    assert mode_of(told) is Mode.AUTO
    assert mode_of(runtime.configuration.category("database")) is Mode.AUTO  # existing ones keep theirs


def test_the_weekly_summary_is_posted_once_a_week(engine):
    from engine.calibration import post_weekly_summary
    from engine.events import CalibrationSummary

    engine(RUNBOOKS)
    seed("database", 0.96, fixed=40, not_fixed=0)
    told: list[object] = []

    class Listener:
        def tell(self, event: object) -> None:
            told.append(event)

    assert post_weekly_summary(Listener(), Policy()) is True
    assert post_weekly_summary(Listener(), Policy()) is False
    (summary,) = told
    assert isinstance(summary, CalibrationSummary)
    assert [c.category for c in summary.report] == ["database"]
    assert len(audit.query(action="calibration_summary_posted")) == 1
