"""The Block Kit builders as plain functions: what each message says, that incident text stays text,
and that every message is one real Slack takes (the emulator's own check of Slack's limits)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.events import DecisionReport, RunReport, StepReport
from handlers.slack.layout.blocks import (
    REOPEN_ACTION,
    Message,
    build_decided_by_entry,
    build_incident_decision,
    build_incident_run,
    build_resolution_dm,
    status_icon,
    step_line,
)
from storage.statuses import ResolutionStatus, RunStatus, StepStatus
from tests.support.slack_limits import message_problem

STEP = StepReport(
    position=1,
    name="Restart <pool>",
    kind="command",
    phase="step",
    status=StepStatus.SUCCEEDED,
    attempts=2,
    duration_ms=1500,
    action="systemctl restart pgbouncer",
)
RUN = RunReport(
    run_id=7,
    incident_id="INC-1",
    title="*Pool* exhausted <!channel>",
    category="database",
    created_by="U012ABCDEF",
    confidence=0.95,
    runbook_id="db-fix",
    status=RunStatus.RESOLVED,
    message="All 1 step(s) succeeded",
    dry_run=False,
    started_at=datetime(2026, 12, 1, tzinfo=UTC),
    finished_at=datetime(2026, 12, 1, tzinfo=UTC),
    steps=(STEP,),
)
DECISION = DecisionReport(
    incident_id="INC-1",
    title="Pool exhausted",
    category="database",
    confidence=0.8,
    outcome=ResolutionStatus.REJECTED,
    reason="Rejected by <!here> because <https://evil.example|this>",
    runbook_id="db-fix",
    decided_by="U0ADMIN",
)


def accepted_by_slack(message: Message) -> Message:
    text, blocks = message
    assert message_problem({"text": text, "blocks": blocks}) is None
    return message


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if "text" in b] + [
        e["text"] for b in blocks for e in b.get("elements", []) if isinstance(e.get("text"), str)
    ]


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("status", [*RunStatus, *StepStatus, *ResolutionStatus])
def test_every_status_has_its_icon(status):
    assert status_icon(status) != ":grey_question:"


def test_a_resolved_dm_lists_its_steps_and_offers_a_reopen():
    text, blocks = accepted_by_slack(build_resolution_dm(RUN))
    assert text == "Incident INC-1 was resolved automatically."
    assert buttons(blocks) == [REOPEN_ACTION]
    assert any("Restart &lt;pool&gt;" in t and "2 attempts" in t for t in texts(blocks))


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.HALTED])
def test_a_run_that_did_not_resolve_offers_no_reopen(status):
    _, blocks = accepted_by_slack(build_resolution_dm(replace(RUN, status=status)))
    assert buttons(blocks) == []


def test_the_title_is_plain_text_so_its_markup_and_mentions_stay_text():
    _, blocks = build_resolution_dm(RUN)
    (title,) = [b for b in blocks if b.get("text", {}).get("type") == "plain_text"]
    assert title["text"]["text"] == "*Pool* exhausted <!channel>"


def test_a_persons_decision_in_the_thread_mentions_them_and_escapes_the_reason():
    line, _ = accepted_by_slack(build_decided_by_entry(DECISION))
    assert (
        line == "Rejected by <@U0ADMIN>: Rejected by &lt;!here&gt; because &lt;https://evil.example|this&gt;"
    )
    anonymous = build_decided_by_entry(replace(DECISION, decided_by="api-user"))[0]
    assert anonymous.startswith("Rejected by api-user: ")  # not a broken <@api-user> mention


@pytest.mark.parametrize(
    "message",
    [
        build_incident_decision(DECISION),
        build_incident_run(replace(RUN, status=RunStatus.FAILED, message="Step 1 (<!channel>) failed")),
    ],
)
def test_the_fallback_text_escapes_what_it_repeats_because_a_digest_shows_it_as_mrkdwn(message):
    text, _ = message
    assert "<!" not in text
    assert "<http" not in text
    assert "&lt;!" in text


def test_an_approval_request_shows_what_runs_and_its_buttons_carry_the_request():
    waiting = replace(
        DECISION,
        outcome="awaiting_approval",
        decided_by=None,
        steps=("systemctl restart pgbouncer",),
        approval_digest="abc123",
    )
    _, blocks = accepted_by_slack(build_incident_decision(waiting))
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["value"] for e in actions["elements"]] == ["INC-1@abc123", "INC-1@abc123"]
    assert any("Approve runs exactly this" in t for t in texts(blocks))


def test_a_step_line_says_how_it_ended_and_why():
    failed = replace(STEP, status=StepStatus.FAILED, error="exit status 3", attempts=1)
    assert step_line(failed) == (
        ":x: Step 1 *Restart &lt;pool&gt;*: failed in 1.5s\n`systemctl restart pgbouncer`\n> exit status 3"
    )
