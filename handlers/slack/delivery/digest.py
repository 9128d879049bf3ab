"""A busy channel's digest: its pending messages posted as one, each incident's latest state with its
step lines under it. Slack takes about one message per second per channel; a burst of incidents
would otherwise queue for minutes, so once messages about DIGEST_BACKLOG incidents wait in a channel's
lane, they go out together. Below that, each incident keeps its own message, updated in place."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from handlers.slack.delivery.announcer import UPSERT
from handlers.slack.layout.blocks import Message, context, section
from handlers.slack.layout.fitting import MESSAGE_TEXT, pack
from storage import outbox
from storage.lanes import Lane, LaneKind
from storage.outbox import OutboxMessage

DIGEST_BACKLOG = 10  # incidents with messages waiting in a channel's lane that make it busy
MAX_SECTIONS = 20  # blocks in a digest (Slack allows 50); the text budget binds first
TITLE_ROOM = 400  # of the message's text budget: the title and a note
STEP_INDENT = "      "


@dataclass
class _Entry:
    state: str | None = None  # the incident's latest message (its fallback text)
    lines: list[str] = field(default_factory=list)  # its step entries, in order

    def text(self, incident_id: str | None) -> list[str]:
        """Its lines: the latest state, then its steps."""
        head = self.state or (f"{incident_id}:" if incident_id else None)
        return ([head] if head else []) + [STEP_INDENT + line for line in self.lines]


def busy(lane: Lane, waiting: list[OutboxMessage], now: datetime) -> bool:
    """A channel (not a DM) with messages due about DIGEST_BACKLOG incidents or more, whose head
    can go in a digest (a message with buttons goes on its own, so that it stays actionable)."""
    if lane.kind is not LaneKind.SLACK_CHANNEL or (waiting and actionable(waiting[0])):
        return False
    return len({m.incident_id for m in due_run(waiting, now) if m.incident_id}) >= DIGEST_BACKLOG


def actionable(message: OutboxMessage) -> bool:
    """Whether the message has buttons (an approval request): a digest would lose them."""
    blocks = message.payload.get("blocks") or []
    return any(isinstance(block, dict) and block.get("type") == "actions" for block in blocks)


def due_run(messages: list[OutboxMessage], now: datetime) -> list[OutboxMessage]:
    """The lane's pending, due messages from its head, up to the first that is not; but those with
    buttons, which are left out (each is posted on its own when its turn comes)."""
    run: list[OutboxMessage] = []
    for message in messages:
        if message.status != outbox.PENDING or message.next_attempt_at > now:
            break
        if not actionable(message):
            run.append(message)
    return run


def build_digest(messages: list[OutboxMessage], now: datetime) -> tuple[list[OutboxMessage], Message]:
    """The digest of the lane's due messages from its head, as many as fit in one message (Slack
    refuses more than about 12,000 characters of block text): the rows it covers (in order, the
    rest go in the next digest) and its text and blocks."""
    covered = due_run(messages, now)
    budget = MESSAGE_TEXT - TITLE_ROOM
    while True:
        incidents, lines = _render(covered)
        chunks, missing = pack(lines, budget=budget)
        if not missing or len(covered) == 1:
            break
        shown = len(lines) - missing
        covered = covered[: max(1, min(len(covered) - 1, len(covered) * shown // len(lines)))]
    title = (
        f":package: *{incidents} incident(s)* changed while this channel was busy: "
        "each one's latest state, with its steps under it."
    )
    blocks = [section(title)] + [section(chunk) for chunk in chunks[:MAX_SECTIONS]]
    if missing:  # one message alone holds more than fits: say so, and where the rest is
        where = (
            f"`/autoresolve audit {covered[0].incident_id}`" if covered[0].incident_id else "the audit trail"
        )
        blocks.append(context(f"…and {missing} more line(s): {where} has them all."))
    return covered, (f"{incidents} incident(s) updated (digest)", blocks)


def _render(messages: list[OutboxMessage]) -> tuple[int, list[str]]:
    """How many incidents the messages are about, and their lines."""
    entries: dict[str, _Entry] = {}
    for message in messages:
        entry = entries.setdefault(message.incident_id or f"notice:{message.id}", _Entry())
        if message.method == UPSERT or not message.incident_id:
            entry.state = str(message.payload.get("text", ""))
        else:
            entry.lines.extend(message.payload.get("lines") or [str(message.payload.get("text", ""))])
    lines = [line for key, entry in entries.items() for line in entry.text(_incident(key))]
    incidents = sum(1 for key in entries if not key.startswith("notice:"))
    return incidents, lines


def _incident(key: str) -> str | None:
    return None if key.startswith("notice:") else key
