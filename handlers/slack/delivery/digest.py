"""A busy lane's digest: its pending messages posted as one, each incident's latest state with its
step lines under it and its buttons (Approve / Reject, Not fixed) kept. Slack takes about one message
per second per channel and a few a second per workspace; a burst of incidents would otherwise queue
for minutes in the audit channel and in each creator's DMs, so once messages about DIGEST_BACKLOG
incidents wait in a lane, they go out together. Below that, each message goes on its own (an
incident's own message in the channel is updated in place; its consecutive thread entries go as one
thread message). When even one line per step does not let a digest cover the lane's backlog, it
shows one line per incident and says where the steps are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.slack.layout.blocks import IN_DIGEST, Message, context, section
from handlers.slack.layout.fitting import MESSAGE_TEXT, NOTE_ROOM, block_text_length, clip, pack
from storage import outbox
from storage.lanes import Lane, LaneKind, Purpose
from storage.outbox import OutboxMessage

DIGEST_BACKLOG = 10  # incidents with messages waiting in a lane that make it busy
MAX_ENTRIES_PER_THREAD_POST = 20
MAX_BLOCKS = 48  # in a digest (Slack allows 50): the title and a note beside them
TITLE_ROOM = 400  # of the message's text budget: the title and a note
STEP_INDENT = "      "
TITLES = {
    LaneKind.SLACK_CHANNEL: "changed while this channel was busy: each one's latest state",
    LaneKind.SLACK_DM: "of yours ended while messages to you were queued: each one's outcome",
}  # and then, with one line per step, ", with its steps"; or, one line per incident, where they are


@dataclass
class _Entry:
    state: str | None = None  # the incident's latest state (its message's fallback text)
    lines: list[str] = field(default_factory=list)  # its step entries, in order
    actions: list[dict[str, Any]] = field(default_factory=list)  # its latest state's buttons

    def text(self, incident_id: str | None, *, compact: bool) -> list[str]:
        """Its lines: the latest state, then its steps (`compact`: how many, and where they are)."""
        head = self.state or (f"{incident_id}:" if incident_id else None)
        if compact and self.lines and incident_id:
            return [f"{head} · {len(self.lines)} step line(s)"]
        indented = [STEP_INDENT + line.replace("\n", "\n" + STEP_INDENT) for line in self.lines]
        return ([head] if head else []) + indented  # a step's command on the line under it, indented too


def busy(lane: Lane, waiting: list[OutboxMessage], now: datetime) -> bool:
    """A channel or DM with messages due about DIGEST_BACKLOG incidents or more."""
    if lane.kind not in TITLES:
        return False
    return len({m.incident_id for m in due_run(waiting, now) if m.incident_id}) >= DIGEST_BACKLOG


def actions_of(message: OutboxMessage) -> list[dict[str, Any]]:
    """The message's buttons (an approval request's, a DM's Not fixed): a digest carries them."""
    blocks = message.payload.get("blocks") or []
    return [block for block in blocks if isinstance(block, dict) and block.get("type") == "actions"]


def due_run(messages: list[OutboxMessage], now: datetime) -> list[OutboxMessage]:
    """The lane's pending, due messages from its head, up to the first that is not."""
    run: list[OutboxMessage] = []
    for message in messages:
        if message.status != outbox.PENDING or message.next_attempt_at > now:
            break
        run.append(message)
    return run


def build_digest(messages: list[OutboxMessage], now: datetime) -> tuple[list[OutboxMessage], Message]:
    """The digest of the lane's due messages from its head, as many as fit in one message (Slack
    refuses more than 50 blocks, or about 12,000 characters of block text): the rows it covers (in
    order, the rest go in the next digest) and its text and blocks."""
    run = due_run(messages, now)
    kind = run[0].lane.kind if run else LaneKind.SLACK_CHANNEL
    covered, blocks, missing = _fitted(run, compact=False)
    compact = False
    if len(covered) < len(run):  # one line per step leaves some behind: one line per incident instead
        shorter = _fitted(run, compact=True)
        if len(shorter[0]) > len(covered):
            (covered, blocks, missing), compact = shorter, True
    incidents = len({m.incident_id for m in covered if m.incident_id})
    title = f":package: *{incidents} incident(s)* {TITLES.get(kind, TITLES[LaneKind.SLACK_CHANNEL])}"
    title += "; each one's steps: `/autoresolve audit <id>`." if compact else ", with its steps."
    blocks = [section(title), *blocks]
    if missing:  # one message alone holds more than fits: say so, and where the rest is
        where = (
            f"`/autoresolve audit {covered[0].incident_id}`" if covered[0].incident_id else "the audit trail"
        )
        blocks.append(context(f"…and {missing} more line(s): {where} has them all."))
    return covered, (f"{incidents} incident(s) updated (digest)", blocks)


def _fitted(
    run: list[OutboxMessage], *, compact: bool
) -> tuple[list[OutboxMessage], list[dict[str, Any]], int]:
    """The longest prefix of the run whose digest fits (at least its head): the prefix, its blocks,
    and how many of its lines were left out (only when the head alone does not fit)."""
    low, high = 1, len(run)
    best = _layout(run[:1], compact=compact)
    while low <= high:  # the digest of a longer prefix never takes less room
        middle = (low + high) // 2
        blocks, missing = _layout(run[:middle], compact=compact)
        if missing == 0 and len(blocks) <= MAX_BLOCKS and block_text_length(blocks) <= _budget():
            best, low = (blocks, missing), middle + 1
        else:
            high = middle - 1
    count = max(1, high)
    blocks, missing = best
    if count == 1 and len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1]
    return run[:count], blocks, missing


def thread_entries(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    """The head's run of thread entries of one incident, as many as one message holds (whole
    entries: the rest go in the next one)."""
    first = messages[0]
    batch = [first]
    used = len(_thread_text(first))
    for message in messages[1:MAX_ENTRIES_PER_THREAD_POST]:
        if message.thread_key != first.thread_key or message.purpose != first.purpose:
            break
        used += len(_thread_text(message)) + 1
        if used > MESSAGE_TEXT - NOTE_ROOM:
            break
        batch.append(message)
    return batch


def _thread_text(message: OutboxMessage) -> str:
    return "\n".join(message.payload.get("lines", [message.payload.get("text", "")]))


def _budget() -> int:
    return MESSAGE_TEXT - TITLE_ROOM


def _layout(messages: list[OutboxMessage], *, compact: bool) -> tuple[list[dict[str, Any]], int]:
    """The digest's blocks for these messages: their entries' lines packed into sections, each
    entry's buttons after its lines; and how many lines did not fit the text budget."""
    blocks: list[dict[str, Any]] = []
    pending: list[str] = []
    budget = _budget()
    missing = 0

    def flush() -> None:
        nonlocal budget, missing
        if pending:
            chunks, left = pack(pending, budget=budget)
            blocks.extend(section(chunk) for chunk in chunks)
            budget -= sum(len(chunk) + 1 for chunk in chunks)
            missing += left
            pending.clear()

    block_ids: set[str] = set()
    for key, entry in _entries(messages).items():
        pending.extend(entry.text(_incident(key), compact=compact))
        if entry.actions:
            flush()
            for actions in entry.actions:  # marked as in a digest; a block_id is unique in a message
                block_id = IN_DIGEST + str(actions.get("block_id") or len(blocks))
                if block_id in block_ids:
                    block_id += f"#{len(blocks)}"
                block_ids.add(block_id)
                blocks.append({**actions, "block_id": block_id[:255]})
            budget -= block_text_length(entry.actions)
    flush()
    return blocks, missing


def _entries(messages: list[OutboxMessage]) -> dict[str, _Entry]:
    """Each incident's entry (and each notice's), in the order they first appear."""
    entries: dict[str, _Entry] = {}
    for message in messages:
        entry = entries.setdefault(message.incident_id or f"notice:{message.id}", _Entry())
        lines = message.payload.get("lines") or []
        if message.purpose == Purpose.AUDIT_STEP:  # a thread entry: its lines go under the state
            entry.lines.extend(lines or [str(message.payload.get("text", ""))])
            continue
        # the incident's own message (UPSERT), a DM, a notice: its latest state, with its buttons
        entry.state = clip(str(message.payload.get("text", "")), 2_000)
        entry.lines.extend(lines)
        entry.actions = actions_of(message)
    return entries


def _incident(key: str) -> str | None:
    return None if key.startswith("notice:") else key
