"""Fitting what the bot says into what Slack takes, and never cutting it silently.

Slack refuses a message whose blocks hold more than about 12,000 characters of text in all
(msg_blocks_too_long), a section over 3,000, and may refuse top-level text over 4,000 (msg_too_long).
Lines are packed into sections on line boundaries (a line is never split), within a budget for the
whole message; what does not fit is counted, and a last line says how many were left out and where
to read them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

SECTION_TEXT = 2_900  # a section takes 3,000
MESSAGE_TEXT = 11_000  # all the blocks' text together: Slack refuses past about 12,000
TOP_TEXT = 3_900  # a message's top-level text (the notification and screen-reader fallback)
NOTE_ROOM = 300  # kept free for the note on what was left out


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pack(lines: Sequence[str], *, budget: int = MESSAGE_TEXT) -> tuple[list[str], int]:
    """Lines packed into sections' texts (each at most SECTION_TEXT, a line never split between
    two), in order, as many as fit in `budget` characters; and how many lines did not fit."""
    chunks: list[str] = []
    current: list[str] = []
    length = used = 0
    for index, raw in enumerate(lines):
        line = clip(raw, SECTION_TEXT)
        if used + len(line) + 1 > budget:
            if current:
                chunks.append("\n".join(current))
            return chunks, len(lines) - index
        if current and length + len(line) + 1 > SECTION_TEXT:
            chunks.append("\n".join(current))
            current, length = [], 0
        current.append(line)
        length += len(line) + 1
        used += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    return chunks, 0


def fitted_sections(
    lines: Sequence[str], *, left_out: Callable[[int], str], budget: int = MESSAGE_TEXT
) -> list[dict[str, Any]]:
    """Section blocks holding `lines` within `budget`; if some do not fit, a context block with
    `left_out(n)` (how many, and where to read them) ends them."""
    chunks, missing = pack(lines, budget=budget - NOTE_ROOM)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks
    ]
    if missing:
        note = clip(left_out(missing), NOTE_ROOM - 10)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return blocks


def block_text_length(blocks: Sequence[dict[str, Any]]) -> int:
    """The text a message's blocks hold together, as Slack counts it for msg_blocks_too_long."""
    total = 0
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            total += len(str(text.get("text", "")))
        for element in block.get("elements", []) or []:
            if isinstance(element, dict):
                inner = element.get("text")
                total += len(str(inner.get("text", ""))) if isinstance(inner, dict) else len(str(inner or ""))
        for field in block.get("fields", []) or []:
            total += len(str(field.get("text", "")))
    return total
