"""The /autoresolve and /killswitch listeners: ack at once, parse, call the engine, answer ephemerally."""

from __future__ import annotations

from typing import Any, assert_never

from slack_bolt import App, Respond

from engine import outcomes
from engine.audit_trail import trail
from engine.calibration import calibration_report, window_start
from engine.overview import overview
from engine.permissions import Permission
from handlers.slack.layout.blocks import Message, escape
from handlers.slack.layout.replies import (
    build_audit_trail,
    build_calibration,
    build_config,
    build_runbooks,
    build_status,
    build_submission,
    kill_switch_line,
    plain,
)
from handlers.slack.listeners.answers import acknowledge, answer_ephemerally
from handlers.slack.listeners.command_parsing import (
    AUTORESOLVE_USAGE,
    KILLSWITCH_USAGE,
    AuditTrail,
    Calibration,
    ChangeConfig,
    CorrectOutcome,
    Help,
    KillSwitchOff,
    KillSwitchOn,
    KillSwitchStatus,
    ReloadRunbooks,
    Rerun,
    Runbooks,
    ShowConfig,
    Status,
    parse_autoresolve,
    parse_killswitch,
)
from handlers.slack.listeners.services import SlackServices

AUDIT_LINES = 25


def answer_autoresolve(services: SlackServices, user: str, text: str) -> Message:
    command = parse_autoresolve(text)
    if isinstance(command, Help):
        return plain(AUTORESOLVE_USAGE)
    if isinstance(command, Status):
        return build_status(overview(services.catalog()))
    if isinstance(command, Runbooks):
        return build_runbooks(services.catalog())
    if isinstance(command, ReloadRunbooks):
        services.authorizer.require(user, Permission.RELOAD_RUNBOOKS, command="runbooks reload")
        return plain(services.catalog.reload(actor=user).message)
    if isinstance(command, Calibration):
        start = window_start(command.since)
        report = calibration_report(start, category=command.category, policy=services.calibration_policy)
        return build_calibration(report, command.since)
    if isinstance(command, CorrectOutcome):
        services.authorizer.require(
            user, Permission.CORRECT_OUTCOME, command="outcome", incident_id=command.incident_id
        )
        outcomes.correct(command.incident_id, fixed=command.fixed, actor=user)
        said = "fixed" if command.fixed else "not fixed"
        return plain(f"Recorded: *{escape(command.incident_id)}* was {said} (calibration counts it so).")
    if isinstance(command, AuditTrail):
        return build_audit_trail(command.incident_id, trail(command.incident_id), AUDIT_LINES)
    if isinstance(command, ShowConfig):
        if command.category is None:
            now = services.configuration.snapshot()
            return build_config(now.categories, now.max_concurrent_resolutions)
        return build_config([services.configuration.category(command.category)])
    if isinstance(command, ChangeConfig):
        services.authorizer.require(user, Permission.CHANGE_CONFIG, command=f"config {command.category}")
        row = services.configuration.update_category(
            category=command.category, actor=user, changes=command.changes
        )
        return build_config([row])
    if isinstance(command, Rerun):
        submission = services.interventions.rerun(command.incident_id, actor=user, force=command.force)
        return build_submission(submission)
    assert_never(command)


def answer_killswitch(services: SlackServices, user: str, text: str) -> Message:
    command = parse_killswitch(text)
    configuration = services.configuration
    if isinstance(command, KillSwitchStatus):
        return plain(f"{kill_switch_line(configuration.kill_switch())}\n{KILLSWITCH_USAGE}")
    if isinstance(command, KillSwitchOn):
        services.authorizer.require(user, Permission.KILL_SWITCH_ON, command="killswitch on")
        change = configuration.activate_kill_switch(
            actor=user,
            reason=command.reason or "Pulled from Slack",
            duration=command.duration,
            may_shorten=services.authorizer.is_admin(user),
        )
        notes = "".join(f"\nNote: {note}." for note in change.notes)
        return plain(f"{kill_switch_line(change.state)}{notes}\nRuns in flight stop at once.")
    if isinstance(command, KillSwitchOff):
        services.authorizer.require(user, Permission.KILL_SWITCH_OFF, command="killswitch off")
        return plain(
            kill_switch_line(configuration.deactivate_kill_switch(actor=user, reason=command.reason))
        )
    assert_never(command)


def register(app: App, services: SlackServices) -> None:
    def autoresolve(command: dict[str, Any], respond: Respond) -> None:
        user, text = command["user_id"], command.get("text") or ""
        answer_ephemerally(
            respond,
            lambda: answer_autoresolve(services, user, text),
            actor=user,
            asked=f"/autoresolve {text}",
        )

    def killswitch(command: dict[str, Any], respond: Respond) -> None:
        user, text = command["user_id"], command.get("text") or ""
        answer_ephemerally(
            respond, lambda: answer_killswitch(services, user, text), actor=user, asked=f"/killswitch {text}"
        )

    app.command("/autoresolve")(ack=acknowledge, lazy=[autoresolve])
    app.command("/killswitch")(ack=acknowledge, lazy=[killswitch])
