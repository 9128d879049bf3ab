"""A burst against Slack's real limits: the audit channel gets digests, every incident's outcome in
them, each DM once, nothing posted twice, nothing sent inside a Retry-After."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from handlers.slack.delivery.announcer import UPSERT
from handlers.slack.delivery.digest import MAX_BLOCKS, build_digest, busy
from handlers.slack.layout.blocks import approval_actions
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


def burst(prefix: str, created_by: Callable[[int], str]) -> list[dict[str, object]]:
    """BURST incidents at once, all above the threshold, each raised by `created_by(n)`."""
    return [
        {
            "incident_id": f"{prefix}-{n}",
            "title": "Replication lag",
            "category": "database",
            "priority": "high",
            "confidence_score": 0.95,
            "created_by": created_by(n),
            "service": "orders-db",
        }
        for n in range(BURST)
    ]


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
    answer = bot.http.post("/webhooks/incidents", json=burst("BURST", lambda n: creators[n % len(creators)]))
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


def test_a_burst_for_one_creator_reaches_them_as_digests_whose_buttons_each_reopen_their_incident(
    make_bot, slack
):
    slack.enforce_channel_rate = True  # the creator's DM channel takes about a message a second too
    creator = "U0STORMY"
    slack.users[creator] = {"email": "stormy@example.com"}
    bot = make_bot(LOG_RUNBOOK)
    answer = bot.http.post("/webhooks/incidents", json=burst("MINE", lambda n: creator))
    assert answer.status_code == 202, answer.text

    def told() -> dict[str, list[tuple[str, str]]] | None:
        found: dict[str, list[tuple[str, str]]] = {}
        for post in slack.channel("D" + creator[1:]):
            for incident_id in set(re.findall(r"MINE-\d+", post.text + str(post.blocks))):
                found.setdefault(incident_id, [])
            found.update({value: [(action, value)] for action, value in buttons_of(post.blocks)})
        return found if len(found) == BURST else None

    buttons = eventually(told, 90)
    assert isinstance(buttons, dict)
    dms = slack.channel("D" + creator[1:])
    assert len(dms) < BURST / 2  # digests, not one DM each
    assert any("(digest)" in post.text for post in dms)
    assert sorted(buttons.values()) == sorted([("reopen_incident", i)] for i in buttons)  # each one's own
    assert slack.calls_inside_retry_after() == []
    digest = next(post for post in dms if "(digest)" in post.text)
    shown = "\n".join(str(block.get("text", {}).get("text", "")) for block in digest.blocks)
    for incident_id in set(re.findall(r"MINE-\d+", shown)):  # as a DM of its own says it
        assert f"Incident {incident_id} was resolved automatically." in shown
    assert shown.count("Confidence *95.00%*, runbook `db-fix`, category database") == shown.count(
        "was resolved automatically"
    )
    assert shown.count("Step 2 *Fix*: succeeded") == shown.count("was resolved automatically")

    in_digest = next(
        block["block_id"]
        for post in dms
        for block in post.blocks
        if block["type"] == "actions" and block["elements"][0]["value"] == "MINE-7"
    )
    answers = bot.click("reopen_incident", "MINE-7", user=creator, block_id=in_digest)
    assert answers[0]["text"] == "You reopened MINE-7."
    assert answers[0]["replace_original"] is False  # the digest keeps the others' buttons
    reopened = bot.http.get("/api/v1/incidents/MINE-7").json()
    assert reopened["status"] == "open", reopened
    assert bot.http.get("/api/v1/incidents/MINE-8").json()["status"] != "open"  # only that one


def row(
    n: int,
    *,
    method: str,
    text: str,
    incident: str,
    lines: list[str] | None = None,
    blocks: list[dict[str, object]] | None = None,
    purpose: Purpose | None = None,
    lane: Lane | None = None,
) -> OutboxMessage:
    payload: dict[str, object] = {"text": text}
    if lines is not None:
        payload["lines"] = lines
    if blocks is not None:
        payload["blocks"] = blocks
    return OutboxMessage(
        id=n,
        lane=lane or Lane.channel(AUDIT_CHANNEL),
        method=method,
        target=AUDIT_CHANNEL,
        payload=payload,
        purpose=purpose or (Purpose.AUDIT_STEP if lines is not None else Purpose.AUDIT_INCIDENT),
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
    assert len(blocks) <= MAX_BLOCKS + 2
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


def buttons_of(blocks: list[dict[str, object]]) -> list[tuple[str, str]]:
    return [
        (str(element["action_id"]), str(element["value"]))
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]  # type: ignore[attr-defined]
    ]


def test_an_approval_request_in_a_digest_keeps_its_buttons_under_its_line():
    rows = [row(n, method=UPSERT, text=f"INC-{n}: queued", incident=f"INC-{n}") for n in range(1, 12)]
    request = [section_of("INC-5: awaiting approval"), approval_actions("approval:INC-5", "INC-5", "d1")]
    rows[4] = row(5, method=UPSERT, text="INC-5: awaiting approval", incident="INC-5", blocks=request)
    assert busy(Lane.channel(AUDIT_CHANNEL), rows, utcnow())
    covered, (text, blocks) = build_digest(rows, utcnow())
    assert len(covered) == 11
    assert message_problem({"text": text, "blocks": blocks}) is None
    assert buttons_of(blocks) == [("approve_incident", "INC-5@d1"), ("reject_incident", "INC-5@d1")]
    assert [b["block_id"] for b in blocks if b["type"] == "actions"] == ["digest:approval:INC-5"]
    actions_at = next(i for i, block in enumerate(blocks) if block["type"] == "actions")
    assert blocks[actions_at - 1]["text"]["text"].endswith("INC-5: awaiting approval")  # right under it


def test_a_step_entry_of_several_lines_is_indented_under_its_incident_on_each_line():
    rows = [
        row(1, method=UPSERT, text="INC-1: resolved", incident="INC-1"),
        row(
            2, method="chat.postMessage", text="", incident="INC-1", lines=["Step 1 *a*: succeeded\n`echo a`"]
        ),
    ]
    _, (_, blocks) = build_digest(rows, utcnow())
    assert blocks[1]["text"]["text"].splitlines() == [
        "INC-1: resolved",
        "      Step 1 *a*: succeeded",
        "      `echo a`",
    ]


def test_a_later_state_without_buttons_replaces_the_request_and_its_buttons():
    request = [approval_actions("approval:INC-1", "INC-1", None)]
    rows = [
        row(1, method=UPSERT, text="INC-1: awaiting approval", incident="INC-1", blocks=request),
        row(2, method=UPSERT, text="INC-1: resolved", incident="INC-1"),
    ]
    _, (_, blocks) = build_digest(rows, utcnow())
    assert buttons_of(blocks) == []


def dm(n: int, user: str = "U0CREATOR") -> OutboxMessage:
    reopen: dict[str, object] = {
        "type": "actions",
        "block_id": f"reopen:INC-{n}",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Not fixed, reopen"},
                "action_id": "reopen_incident",
                "value": f"INC-{n}",
            }
        ],
    }
    return row(
        n,
        method="chat.postMessage",
        text=f"Incident INC-{n} was resolved automatically.",
        incident=f"INC-{n}",
        lines=["Step 1 *check*: succeeded (0.1 s)"],
        blocks=[section_of(f"Your incident *INC-{n}* was resolved automatically."), reopen],
        purpose=Purpose.CREATOR_DM,
        lane=Lane.dm(user),
    )


def test_a_creators_queued_dms_become_one_digest_with_every_reopen_button():
    rows = [dm(n) for n in range(1, 10)]
    assert not busy(Lane.dm("U0CREATOR"), rows, utcnow())  # nine: each goes on its own
    rows.append(dm(10))
    assert busy(Lane.dm("U0CREATOR"), rows, utcnow())
    covered, (text, blocks) = build_digest(rows, utcnow())
    assert len(covered) == 10
    assert message_problem({"text": text, "blocks": blocks}) is None
    assert "10 incident(s)* of yours ended" in blocks[0]["text"]["text"]
    assert buttons_of(blocks) == [("reopen_incident", f"INC-{n}") for n in range(1, 11)]
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert shown.count("      Step 1 *check*: succeeded (0.1 s)") == 10  # each one's steps under it


def test_more_dms_than_a_message_holds_leave_the_rest_for_the_next_digest():
    rows = [dm(n) for n in range(1, 61)]
    covered, (text, blocks) = build_digest(rows, utcnow())
    assert message_problem({"text": text, "blocks": blocks}) is None
    assert 10 <= len(covered) < 60
    assert [r.id for r in covered] == list(range(1, len(covered) + 1))
    assert buttons_of(blocks) == [("reopen_incident", f"INC-{r.id}") for r in covered]  # none lost


def test_a_backlog_too_long_for_its_step_lines_gets_one_line_per_incident_and_where_the_steps_are():
    rows = []
    for n in range(1, 301):
        rows.append(row(2 * n, method=UPSERT, text=f"INC-{n}: resolved", incident=f"INC-{n}"))
        steps = [f"Step {k} *step number {k}*: succeeded (0.1 s)" for k in range(1, 6)]
        rows.append(row(2 * n + 1, method="chat.postMessage", text="", incident=f"INC-{n}", lines=steps))
    covered, (text, blocks) = build_digest(rows, utcnow())
    assert message_problem({"text": text, "blocks": blocks}) is None
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    incidents = {r.incident_id for r in covered}
    assert len(incidents) > 100  # with every step line, about 40 fit
    assert "Step 1" not in shown
    assert all(f"{i}: resolved" in shown for i in incidents)
    with_steps = {r.incident_id for r in covered if r.payload.get("lines")}
    assert all(f"{i}: resolved · 5 step line(s)" in shown for i in with_steps)
    assert "each one's steps: `/autoresolve audit <id>`" in blocks[0]["text"]["text"]


def section_of(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
