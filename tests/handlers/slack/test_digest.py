"""A burst against Slack's real limits: the audit channel gets digests, every incident's outcome in
them, each DM once, nothing posted twice, nothing sent inside a Retry-After."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import pytest

from handlers.slack.delivery.announcer import UPSERT
from handlers.slack.delivery.digest import MAX_SECTIONS, build_digest
from storage import outbox
from storage.fields import utcnow
from storage.lanes import Lane, Purpose
from storage.outbox import OutboxMessage
from tests.conftest import eventually
from tests.handlers.slack.conftest import AUDIT_CHANNEL
from tests.support.slack_limits import message_problem

BURST = 40
LOG_RUNBOOK = """
runbooks:
  - id: db-fix
    category: database
    steps:
      - {name: Check, log: "checking {service}"}
      - {name: Fix, log: "fixing {service}"}
"""


def audit_channel_lines(slack) -> list[str]:
    """What the audit channel shows: each message's text (an incident's own message, updated in
    place, says `<id>: <state>`) and its blocks (a digest lists one line per incident and step)."""
    lines = []
    for post in slack.channel(AUDIT_CHANNEL):
        lines.extend(post.text.splitlines())
        for block in post.blocks:
            lines.extend(str(block.get("text", {}).get("text", "")).splitlines())
    return lines


def test_a_burst_reaches_the_audit_channel_as_digests_with_every_outcome(make_bot, slack):
    slack.enforce_channel_rate = True  # about 1 message a second per channel, 429 past that
    slack.enforce_update_rate = True
    creators = [f"U0BURST{n:02d}" for n in range(10)]  # each DM channel also takes ~1 message a second
    slack.users.update({user: {"email": f"{user.lower()}@example.com"} for user in creators})
    bot = make_bot(LOG_RUNBOOK)
    incidents = [
        {
            "incident_id": f"BURST-{n}",
            "title": "Replication lag",
            "category": "database",
            "priority": "high",
            "confidence_score": 0.95,
            "created_by": creators[n % len(creators)],
            "service": "orders-db",
        }
        for n in range(BURST)
    ]
    answer = bot.http.post("/webhooks/incidents", json=incidents)
    assert answer.status_code == 202, answer.text
    assert {item["decision"] for item in answer.json()["accepted"]} == {"queued"}

    def resolved_in_channel() -> set[str]:
        found = set()
        for line in audit_channel_lines(slack):
            if ": resolved" in line:
                found.update(re.findall(r"BURST-\d+", line.split(": resolved")[0]))
        return found

    def settled() -> bool | tuple[int, int, list[str]]:
        resolved, backlog = len(resolved_in_channel()), outbox.backlog().get("slack", 0)
        if resolved == BURST and backlog == 0:
            return True
        return False if time.monotonic() < deadline else (resolved, backlog, audit_channel_lines(slack))

    deadline = time.monotonic() + 60
    outcome = eventually(settled, 90)
    assert outcome is True, outcome

    top_level = slack.top_level(AUDIT_CHANNEL)
    assert len(top_level) < BURST / 2, [m.text for m in top_level]  # digests, not one message each
    assert any("(digest)" in m.text for m in top_level)
    step_lines = [line for line in audit_channel_lines(slack) if "Step 2 *Fix*: succeeded" in line]
    assert len(step_lines) >= BURST  # each incident's steps are in the channel too
    posted: Counter[int] = Counter()
    for messages in slack.messages.values():
        for message in messages:
            posted.update(message.outbox_ids)
    assert [i for i, n in posted.items() if n > 1] == []  # nothing posted twice
    dms = [m.text for user in creators for m in slack.channel("D" + user[1:])]
    assert sorted(dms) == sorted(f"Incident BURST-{n} was resolved automatically." for n in range(BURST))
    assert slack.calls_inside_retry_after() == []


def row(n: int, *, method: str, text: str, incident: str, lines: list[str] | None = None) -> OutboxMessage:
    payload: dict[str, object] = {"text": text}
    if lines is not None:
        payload["lines"] = lines
    return OutboxMessage(
        id=n,
        lane=Lane.channel(AUDIT_CHANNEL),
        method=method,
        target=AUDIT_CHANNEL,
        payload=payload,
        purpose=Purpose.AUDIT_STEP if lines is not None else Purpose.AUDIT_INCIDENT,
        incident_id=incident,
        status=outbox.PENDING,
        next_attempt_at=utcnow() - timedelta(seconds=1),
    )


def test_a_digest_shows_each_incidents_latest_state_with_its_steps_under_it():
    rows = [
        row(1, method=UPSERT, text="INC-1: queued", incident="INC-1"),
        row(2, method=UPSERT, text="INC-2: queued", incident="INC-2"),
        row(3, method="chat.postMessage", text="", incident="INC-1", lines=["Step 1 *a*: succeeded"]),
        row(4, method=UPSERT, text="INC-1: resolved — All 1 step(s) succeeded", incident="INC-1"),
    ]
    covered, (text, blocks) = build_digest(rows, utcnow())
    assert [r.id for r in covered] == [1, 2, 3, 4]
    assert text == "2 incident(s) updated (digest)"
    body = "\n".join(block["text"]["text"] for block in blocks[1:])
    assert body.splitlines() == [
        "INC-1: resolved — All 1 step(s) succeeded",
        "      Step 1 *a*: succeeded",
        "INC-2: queued",
    ]


@pytest.mark.parametrize("line_length", [80, 2000])
def test_a_digest_never_exceeds_its_blocks_and_leaves_the_rest_for_the_next(line_length):
    rows = [
        row(n, method=UPSERT, text=f"INC-{n}: resolved " + "x" * line_length, incident=f"INC-{n}")
        for n in range(1, 1001)
    ]
    covered, (text, blocks) = build_digest(rows, utcnow())
    assert message_problem({"text": text, "blocks": blocks}) is None  # real Slack takes it
    assert len(blocks) <= MAX_SECTIONS + 1
    assert all(len(block["text"]["text"]) <= 3000 for block in blocks)
    assert [r.id for r in covered] == list(range(1, len(covered) + 1))  # a prefix, in order
    shown = "\n".join(block["text"]["text"] for block in blocks)
    assert all(f"INC-{r.id}: resolved" in shown for r in covered)  # nothing covered is left out
    assert len(covered) < len(rows)


def test_one_incident_with_more_lines_than_a_message_holds_says_what_was_left_out():
    lines = [f"Step {n} *s{n}*: succeeded " + "y" * 200 for n in range(1, 101)]
    rows = [row(1, method="chat.postMessage", text="", incident="INC-1", lines=lines)]
    covered, (text, blocks) = build_digest(rows, utcnow())
    assert message_problem({"text": text, "blocks": blocks}) is None
    assert [r.id for r in covered] == [1]
    note = blocks[-1]["elements"][0]["text"]
    assert note.endswith("more line(s): `/autoresolve audit INC-1` has them all.")
