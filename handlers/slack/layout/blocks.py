"""Block Kit for messages the bot posts: the incident's audit-channel message and thread entries, the
creator's DM, and kill switch / config notices. Each builder returns (fallback text, blocks)."""

from __future__ import annotations

from typing import Any

from engine.durations import format_duration
from engine.events import (
    AutonomyProposal,
    CheckpointReport,
    DecisionReport,
    KillSwitchReport,
    PauseReport,
    RunReport,
    StepReport,
)
from engine.formatting import percent
from engine.gates import DecisionOutcome
from handlers.slack.layout.fitting import MESSAGE_TEXT, fitted_sections
from storage.statuses import ResolutionStatus, RunStatus, StepStatus

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]

REOPEN_ACTION = "reopen_incident"
IN_DIGEST = "digest:"  # begins the block_id of buttons carried into a digest: a click there replaces nothing
APPROVE_ACTION = "approve_incident"
REJECT_ACTION = "reject_incident"
APPLY_AUTONOMY_ACTION = "apply_autonomy"
MAX_TEXT = 2900  # a section's text may hold 3000 characters


def status_icon(status: str) -> str:
    """The emoji for a run's, a step's or an incident's status (a decision outcome included)."""
    return _ICONS.get(status, ":grey_question:")


_ICONS: dict[str, str] = {
    RunStatus.QUEUED: ":hourglass_flowing_sand:",
    RunStatus.RUNNING: ":gear:",
    RunStatus.RESOLVED: ":white_check_mark:",
    StepStatus.SUCCEEDED: ":white_check_mark:",
    RunStatus.FAILED: ":x:",
    RunStatus.HALTED: ":octagonal_sign:",
    RunStatus.INTERRUPTED: ":warning:",
    RunStatus.DRY_RUN: ":memo:",
    StepStatus.WOULD_RUN: ":memo:",
    RunStatus.CANCELLED: ":heavy_minus_sign:",
    ResolutionStatus.RECEIVED: ":inbox_tray:",
    ResolutionStatus.SKIPPED: ":fast_forward:",
    ResolutionStatus.AWAITING_APPROVAL: ":raising_hand:",
    ResolutionStatus.REOPENED: ":leftwards_arrow_with_hook:",
    ResolutionStatus.REJECTED: ":no_entry_sign:",
    ResolutionStatus.APPROVAL_EXPIRED: ":hourglass:",
    DecisionOutcome.DUPLICATE: ":link:",
    DecisionOutcome.RECORDED: ":memo:",
}


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's mrkdwn escaping, so incident text cannot ping channels or fake links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def person(identity: str) -> str:
    """Mention a Slack user ID; show anything else (an e-mail, 'api-user') as text."""
    if identity[:1] in ("U", "W") and identity.isalnum():
        return f"<@{identity}>"
    return escape(identity)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def approval_actions(block_id: str, incident_id: str, digest: str | None) -> dict[str, Any]:
    """Approve and Reject for one approval request (the value names the request: `<id>@<digest>`)."""
    value = incident_id + (f"@{digest}" if digest else "")
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            button("Approve", APPROVE_ACTION, value, "primary"),
            button("Reject", REJECT_ACTION, value, "danger"),
        ],
    }


def _headline(incident_id: str, status: str) -> str:
    icon = status_icon(status)
    return f"{icon} *{escape(incident_id)}* — *{status.replace('_', ' ')}*"


def title_block(title: str) -> dict[str, Any]:
    """The incident's title as plain text: mrkdwn has no escape for `*`, `_`, `~` or backticks, so a
    title holding them would render as formatting (or pair with the headline's own bold)."""
    return {"type": "section", "text": {"type": "plain_text", "text": clip(title), "emoji": False}}


def build_incident_decision(report: DecisionReport) -> Message:
    """The incident's audit-channel message after a decision or a person's action."""
    facts = [
        f"Category *{escape(report.category)}*",
        f"confidence *{percent(report.confidence)}*",
    ]
    if report.runbook_id:
        facts.append(f"runbook `{escape(report.runbook_id)}`")
    if report.created_by:
        facts.append(f"raised by {person(report.created_by)}")
    blocks: Blocks = [
        section(_headline(report.incident_id, report.outcome)),
        title_block(report.title),
        context(", ".join(facts)),
        section(escape(report.reason)),
    ]
    if report.decided_by:
        blocks.append(context(f"Decided by {person(report.decided_by)}"))
    if report.outcome == DecisionOutcome.AWAITING_APPROVAL:
        if report.steps:
            steps = "\n".join(f"`{escape(clip(line, 300))}`" for line in report.steps)
            blocks.append(section(f"*Approve runs exactly this:*\n{steps}"))
        blocks.append(
            approval_actions(f"approval:{report.incident_id}", report.incident_id, report.approval_digest)
        )
    text = f"{report.incident_id}: {report.outcome.replace('_', ' ')} — {escape(report.reason)}"
    return clip(text), blocks


def build_decided_by_entry(report: DecisionReport) -> Message:
    """The thread entry saying a person decided (approved, rejected, reopened), and why."""
    assert report.decided_by is not None
    line = (
        f"{report.outcome.replace('_', ' ').capitalize()} by {person(report.decided_by)}: "
        f"{escape(report.reason)}"
    )
    return line, [section(line)]


def build_incident_run(report: RunReport) -> Message:
    """The incident's audit-channel message while its run goes on and when it ends."""
    facts = [
        f"Category *{escape(report.category)}*",
        f"confidence *{percent(report.confidence)}*",
        f"runbook `{escape(report.runbook_id)}`",
        f"raised by {person(report.created_by)}",
    ]
    if report.dry_run:
        facts.append("*dry run*")
    blocks: Blocks = [
        section(_headline(report.incident_id, report.status)),
        title_block(report.title),
        context(", ".join(facts)),
    ]
    if report.message:
        blocks.append(section(escape(report.message)))
    if report.status == RunStatus.RUNNING:
        blocks.append(context("Steps are posted in the thread as they finish."))
    text = f"{report.incident_id}: {report.status.replace('_', ' ')}"
    return (f"{text} — {escape(report.message)}" if report.message else text), blocks


def step_line(step: StepReport) -> str:
    icon = status_icon(step.status)
    took = f" in {format_duration(step.duration_ms / 1000)}" if step.duration_ms is not None else ""
    tries = f", {step.attempts} attempts" if step.attempts > 1 else ""
    label = "Rollback of step" if step.phase == "rollback" else "Step"
    line = (
        f"{icon} {label} {step.position} *{escape(step.name)}*: {step.status.replace('_', ' ')}{took}{tries}"
    )
    if step.action:
        line += f"\n`{escape(clip(step.action, 300))}`"
    if step.error:
        line += f"\n> {escape(clip(step.error, 500))}"
    return line


def build_step_entries(steps: list[StepReport]) -> Message:
    """One thread message for one or more step results (batched when Slack makes us wait)."""
    lines = [step_line(step) for step in steps]
    text = "\n".join(lines)
    return clip(text), [section(text)]


def run_facts(report: RunReport) -> str:
    """What the creator's DM says of the run, beside its steps (a digest of DMs shows it too)."""
    return (
        f"Confidence *{percent(report.confidence)}*, runbook `{escape(report.runbook_id)}`, "
        f"category {escape(report.category)}"
    )


def build_resolution_dm(report: RunReport) -> Message:
    """The creator's DM: outcome, confidence, runbook, each step with its result and duration."""
    endings: dict[str, str] = {
        RunStatus.RESOLVED: "was resolved automatically",
        RunStatus.FAILED: "could not be resolved automatically",
        RunStatus.HALTED: "was stopped by the kill switch before it finished",
    }
    outcome = endings.get(report.status, f"ended as {report.status}")
    blocks: Blocks = [
        section(f"{status_icon(report.status)} Your incident *{escape(report.incident_id)}* {outcome}."),
        title_block(report.title),
        context(run_facts(report)),
    ]
    if report.steps:
        where = (
            f"`/autoresolve audit {escape(report.incident_id)}` or the incident's thread in the audit channel"
        )
        blocks.extend(
            fitted_sections(
                [step_line(s) for s in report.steps],
                left_out=lambda n: f"…and {n} more step(s): {where} has them all",
                budget=MESSAGE_TEXT - 2_000,  # the headline, the outcome and the button around them
            )
        )
    if report.message:
        blocks.append(context(escape(report.message)))
    if report.status == RunStatus.RESOLVED:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"reopen:{report.incident_id}",
                "elements": [button("Not fixed, reopen", REOPEN_ACTION, report.incident_id, "danger")],
            }
        )
    else:
        blocks.append(context("The on-call team can see it in the audit channel."))
    return f"Incident {report.incident_id} {outcome}.", blocks


def build_reopened_dm(incident_id: str) -> Message:
    text = (
        f":leftwards_arrow_with_hook: You reopened *{escape(incident_id)}*; the on-call team has been told."
    )
    return f"You reopened {incident_id}.", [section(text)]


def build_kill_switch_notice(report: KillSwitchReport) -> Message:
    if report.active:
        until = f" until {report.until:%Y-%m-%d %H:%M} UTC" if report.until else ""
        if report.extended:
            ends = until or " with no end"
            text = f":octagonal_sign: *Kill switch stays ON*{ends}, by {person(report.actor)}."
        else:
            text = (
                f":octagonal_sign: *Kill switch ON*{until}, by {person(report.actor)}. "
                "All automation is stopped."
            )
    else:
        text = f":large_green_circle: *Kill switch OFF*, by {person(report.actor)}. Automation may run again."
    if report.reason:
        text += f"\n> {escape(report.reason)}"
    return text.replace("*", ""), [section(text)]


def build_checkpoint_notice(report: CheckpointReport) -> Message:
    anchor = f"{report.seq}:{report.chain_hash}"
    text = (
        f":lock: *Audit checkpoint*: the trail has {report.seq} sealed rows (key {report.key_id}). "
        f"To check that none was removed later: `python bot.py audit verify --anchor {anchor}`"
    )
    return f"Audit checkpoint {anchor}", [section(text)]


def build_pause_notice(report: PauseReport) -> Message:
    text = (
        f":double_vertical_bar: *Category {escape(report.category)} paused itself*: {escape(report.reason)}. "
        f"No new runs start for it until an admin resumes it: "
        f"`/autoresolve config {escape(report.category)} resume`."
    )
    return text.replace("*", "").replace("`", ""), [section(text)]


def build_config_notice(actor: str, summary: str) -> Message:
    text = f":gear: Configuration changed by {person(actor)}: {escape(summary)}"
    return text, [section(text)]


def build_autonomy_proposal(proposal: AutonomyProposal) -> Message:
    """The evidence proposes a move on the autonomy ladder; an admin applies it (or not)."""
    up = LADDER_ORDER.index(proposal.proposed) > LADDER_ORDER.index(proposal.current)
    icon, verb = (":chart_with_upwards_trend:", "could move up") if up else (":warning:", "should move down")
    category = escape(proposal.category)
    text = (
        f"{icon} *Category {category} {verb}*: from `{proposal.current}` to `{proposal.proposed}`. "
        f"{escape(proposal.evidence)}. Nothing changes until an admin applies it "
        f"(or `/autoresolve config {category} mode {proposal.proposed}`)."
    )
    value = f"{proposal.category}:{proposal.proposed}"
    apply = button(f"Apply: {proposal.proposed}", APPLY_AUTONOMY_ACTION, value, "primary" if up else "danger")
    plain_text = text.replace("*", "").replace("`", "")
    return plain_text, [section(text), {"type": "actions", "elements": [apply]}]


LADDER_ORDER = ("off", "shadow", "approval", "auto")  # engine/autonomy.py's Mode, as Slack shows it
