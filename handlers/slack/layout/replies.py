"""Block Kit for answers to commands (ephemeral) and for the App Home tab."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from engine.autonomy import mode_of
from engine.calibration import CategoryCalibration
from engine.configuration import KillSwitchState
from engine.durations import format_duration
from engine.formatting import percent
from engine.overview import Overview
from engine.runbooks import RunbookCatalog
from engine.submissions import Submission
from handlers.slack.layout.blocks import (
    Blocks,
    Message,
    approval_actions,
    context,
    escape,
    person,
    section,
    status_icon,
)
from handlers.slack.layout.fitting import TOP_TEXT, clip, fitted_sections
from storage.audit import AuditEntry
from storage.config_store import CategorySetting
from storage.incidents import Incident
from storage.runs import Run
from storage.statuses import RunStatus


def plain(text: str, *, more: str = "the rest is not shown here") -> Message:
    """An answer in sections that Slack takes: split on line boundaries within a message's budget;
    lines past it are counted in a last line that says `more` (where to read them)."""
    blocks = fitted_sections(text.split("\n"), left_out=lambda n: f"…and {n} more line(s): {more}.")
    return clip(text.replace("*", "").replace("`", ""), TOP_TEXT), blocks


def kill_switch_line(state: KillSwitchState) -> str:
    if not state.active:
        return ":large_green_circle: Kill switch *off*: automation runs."
    line = ":octagonal_sign: Kill switch *ON*"
    if state.actor:
        line += f", by {person(state.actor)}"
    if state.since:
        line += f" since {_when(state.since)}"
    if state.until:
        line += f", until {_when(state.until)}"
    if state.reason:
        line += f": {escape(state.reason)}"
    return line + "."


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def category_line(row: CategorySetting) -> str:
    state = "enabled" if row.auto_resolution_enabled else "*disabled*"
    extras = [f"autonomy {mode_of(row)}"]
    if row.dry_run:
        extras.append("dry run")
    if row.approval_all and row.auto_resolution_enabled and not row.dry_run:
        extras.append("every run approved by an admin")
    if row.approval_floor is not None:
        timeout = format_duration(row.approval_timeout_seconds)
        extras.append(f"approval from {percent(row.approval_floor)}, expires after {timeout}")
    if not row.notification_required:
        extras.append("no DMs")
    budget = f"failure budget {row.failure_budget} per {format_duration(row.failure_window_seconds)}"
    extras.append(budget if row.failure_budget else "no failure budget")
    if row.over_limit == "skip":
        extras.append("past a run limit: skip")
    tail = f" ({', '.join(extras)})" if extras else ""
    paused = f" — *PAUSED*: {escape(row.paused_reason)}" if row.paused_reason else ""
    return (
        f"• *{escape(row.category)}*: {state}, threshold {percent(row.confidence_threshold)}, "
        f"{row.max_retry_attempts} retries{tail}{paused}"
    )


def safety_lines(view: Overview) -> list[str]:
    """Paused categories, failure budgets in use and runbook run limits, for status and Home."""
    lines = []
    for use in view.budgets:
        if use.paused_reason:
            lines.append(
                f":double_vertical_bar: *{escape(use.category)}* paused: {escape(use.paused_reason)}"
            )
        elif use.budget and use.failures:
            window = format_duration(use.window_seconds)
            lines.append(
                f"• *{escape(use.category)}* failure budget: {use.failures} of {use.budget} within {window}"
            )
    for limit in view.limits:
        window = format_duration(limit.window_seconds)
        hit = " — *limit reached*" if limit.started >= limit.limit else ""
        lines.append(
            f"• `{escape(limit.runbook_id)}`: {limit.started} of {limit.limit} runs within {window}{hit}"
        )
    return lines


def run_line(run: Run) -> str:
    icon = status_icon(run.status)
    return f"{icon} *{escape(run.incident_id)}* `{escape(run.runbook_id)}`: {run.status.replace('_', ' ')}"


def build_status(view: Overview) -> Message:
    blocks: Blocks = [section(kill_switch_line(view.kill_switch))]
    running = [r for r in view.in_flight if r.status == RunStatus.RUNNING]
    queued = [r for r in view.in_flight if r.status == RunStatus.QUEUED]
    blocks.append(
        section(
            f"*Runs in flight:* {len(running)} running (limit {view.max_concurrent}), {len(queued)} queued"
            + ("".join(f"\n{run_line(r)}" for r in view.in_flight) if view.in_flight else "")
        )
    )
    if view.awaiting_approval:
        waiting = ", ".join(f"*{escape(i.incident_id)}*" for i in view.awaiting_approval)
        blocks.append(section(f"*Awaiting approval:* {waiting}"))
    if safety := safety_lines(view):
        blocks.append(section("*Limits:*\n" + "\n".join(safety)))
    recent = "\n".join(run_line(r) for r in view.recent) or "none yet"
    blocks.append(section(f"*Recent outcomes:*\n{recent}"))
    text = "Kill switch ON" if view.kill_switch.active else "Kill switch off"
    return f"{text}; {len(running)} running, {len(queued)} queued", blocks


def build_submission(submission: Submission) -> Message:
    decision = submission.decision
    icon = status_icon(decision.outcome)
    outcome = decision.outcome.value.replace("_", " ")
    text = f"{icon} *{escape(submission.incident_id)}*: {outcome}: {escape(decision.reason)}"
    if submission.run_id is not None:
        runbook = escape(decision.runbook_id or "")
        text += f"\nRun {submission.run_id} with `{runbook}`; follow it in the audit channel."
    return plain(text)


def build_audit_trail(incident_id: str, rows: list[AuditEntry], limit: int) -> Message:
    if not rows:
        return plain(f"No audit entries for *{escape(incident_id)}*.")
    shown = rows[-limit:]
    lines = [f"*Audit trail of {escape(incident_id)}* (last {len(shown)} of {len(rows)}):"]
    for row in shown:
        detail = row.error_message or row.details.get("reason") or row.details.get("step") or ""
        lines.append(
            f"`{row.timestamp:%H:%M:%S}` {escape(row.action)} by {person(row.actor)}"
            + (f": {escape(str(detail))}" if detail else "")
        )
    return plain("\n".join(lines), more=f"`python bot.py audit query --incident {incident_id}` has them all")


def build_config(rows: list[CategorySetting], max_concurrent: int | None = None) -> Message:
    lines = ["*Categories:*", *(category_line(r) for r in rows)]
    if max_concurrent is not None:
        lines.insert(1, f"At most {max_concurrent} runs at once.")
    return plain(
        "\n".join(lines), more="`python bot.py config show` or `GET /api/v1/config` lists every category"
    )


def build_runbooks(catalog: RunbookCatalog) -> Message:
    if not catalog.runbooks:
        return plain("No runbooks are loaded.")
    # The file's name only: its path on the server is nobody's business in the workspace.
    lines = [f"*{len(catalog.runbooks)} runbook(s)* from `{escape(Path(catalog.source).name)}`:"]
    for runbook in catalog.runbooks:
        description = f": {escape(runbook.description)}" if runbook.description else ""
        steps = f"{len(runbook.steps)} step" + ("s" if len(runbook.steps) != 1 else "")
        lines.append(f"• `{escape(runbook.id)}` ({escape(runbook.category)}, {steps}){description}")
    return plain("\n".join(lines), more="`python bot.py runbooks list` lists them all")


def build_error(message: str, usage: str | None = None) -> Message:
    # The message may repeat what the person typed: escaped, so <!channel> or a link stays text.
    text = f":warning: {escape(message)}"
    if usage:
        text += f"\n{usage}"
    return plain(text)


HOME_APPROVALS = 10  # requests with their buttons on the Home tab (a view holds 100 blocks)


def approval_blocks(waiting: list[Incident]) -> Blocks:
    """What waits for approval, each with its Approve and Reject buttons (answering its request)."""
    blocks: Blocks = [section(f"*Awaiting approval* ({len(waiting)})")]
    for incident in waiting[:HOME_APPROVALS]:
        digest = incident.approval_digest
        blocks.append(
            section(
                f"*{escape(incident.incident_id)}* · {escape(clip(incident.title, 200))}\n"
                f"{escape(clip(incident.resolution_reason or '', 400))}"
            )
        )
        blocks.append(approval_actions(f"home-approval:{incident.incident_id}", incident.incident_id, digest))
    if len(waiting) > HOME_APPROVALS:
        blocks.append(
            context(f"…and {len(waiting) - HOME_APPROVALS} more: their messages in the audit channel")
        )
    return blocks


def build_home(
    view: Overview,
    *,
    is_admin: bool,
    notice: str | None = None,
    calibration: list[CategoryCalibration] | None = None,
) -> dict[str, Any]:
    """The App Home tab: kill switch, what waits for approval (with buttons, for admins),
    per-category settings, runs in flight, recent outcomes, calibration (the last 30 days);
    `notice`: the answer to a click here."""
    approvals = (
        [*approval_blocks(view.awaiting_approval), {"type": "divider"}]
        if view.awaiting_approval and is_admin
        else []
    )
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Autoresolve"}},
        *([section(clip(notice, 2_000))] if notice else []),
        section(kill_switch_line(view.kill_switch)),
        context("`/killswitch on [30m] [reason]` stops all automation; anyone may pull it."),
        {"type": "divider"},
        *approvals,
        *fitted_sections(
            ["*Categories*", *(category_line(r) for r in view.categories)],
            left_out=lambda n: f"…and {n} more categories: `/autoresolve config` lists them all",
            budget=6_000,
        ),
        {"type": "divider"},
        section(
            f"*Runs in flight* (limit {view.max_concurrent})\n"
            + ("\n".join(run_line(r) for r in view.in_flight) or "none")
        ),
        section("*Recent outcomes*\n" + ("\n".join(run_line(r) for r in view.recent) or "none yet")),
    ]
    if view.awaiting_approval and not is_admin:
        waiting = ", ".join(f"*{escape(i.incident_id)}*" for i in view.awaiting_approval)
        blocks.append(section(f"*Awaiting approval:* {waiting} (admins approve in the audit channel)"))
    if safety := safety_lines(view):
        blocks.append(section("*Limits*\n" + "\n".join(safety)))
    if calibration:
        blocks.extend(
            fitted_sections(
                ["*Calibration* (the last 30 days)", *(calibration_line(c) for c in calibration)],
                left_out=lambda n: f"…and {n} more: `/autoresolve calibration` shows them all",
                budget=4_000,
            )
        )
    role = "You are an admin: you may change settings, approve, and turn the kill switch off."
    blocks.append(
        context(
            role if is_admin else f"{view.runbook_count} runbooks loaded. `/autoresolve help` for commands."
        )
    )
    return {"type": "home", "blocks": blocks}


def build_calibration(report: list[CategoryCalibration], since: str) -> Message:
    """/autoresolve calibration: per category, the verdict, the false resolutions at the current
    threshold, and the reliability table (docs/calibration.md)."""
    if not report:
        return plain(f"No automated decisions in the last {escape(since)}: nothing to measure yet.")
    lines = [f"*Calibration* over the last {escape(since)}:"]
    for category in report:
        lines.append(
            f"• *{escape(category.category)}* (threshold {category.threshold:.2f}, "
            f"{category.outcomes} outcome(s)): {escape(category.verdict)}"
        )
        if category.current is not None:
            at = category.current
            lines.append(
                f"   at {at.threshold:.2f}: {at.not_fixed} of {at.count} not fixed "
                f"({at.rate:.1%}, upper bound {at.upper:.1%})"
            )
        for band in category.bands:
            low, high = band.interval
            lines.append(
                f"   `{band.low:.2f}-{band.high:.2f}` {band.count} at {band.mean_confidence:.2f}: "
                f"{band.fraction_fixed:.0%} fixed ({low:.0%}-{high:.0%})"
            )
    return plain("\n".join(lines), more="`python bot.py report calibration` shows it all")


def calibration_line(category: CategoryCalibration) -> str:
    error = f", error {category.calibration_error:.3f}" if category.calibration_error is not None else ""
    return (
        f"• *{escape(category.category)}* ({category.outcomes} outcome(s) at threshold "
        f"{category.threshold:.2f}{error}): {escape(category.verdict)}"
    )
