"""What real Slack refuses in a message, with the error it answers: the emulator checks every
chat.postMessage, chat.update, response_url answer and views.publish against these, so that what it
accepts, Slack accepts too.

The numbers are Slack's documented Block Kit limits, and the undocumented total of about 12,000
characters of text across a message's blocks (msg_blocks_too_long; measured in slackapi/bolt-js#2509,
confirmed by Slack staff in #2867). Top-level text past 4,000 characters may be refused
(msg_too_long): it is, here.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_BLOCK_TEXT_TOTAL = 12_000
MAX_TEXT = 4_000
SECTION_TEXT = 3_000
FIELD_TEXT = 2_000
MAX_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTION_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2_000
ID_LENGTH = 255
MARKDOWN_BLOCK_TEXT = 12_000


def _texts(value: Any) -> list[str]:
    """Every text of a block (text objects' `text`), for the message's total."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            found.append(value["text"])
        for key, item in value.items():
            if key != "text" or not isinstance(item, str):
                found.extend(_texts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_texts(item))
    return found


def _block_problem(block: Any, seen_ids: set[str]) -> str | None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return "invalid_blocks"
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or len(block_id) > ID_LENGTH or block_id in seen_ids:
            return "invalid_blocks"
        seen_ids.add(block_id)
    kind = block["type"]
    text = block.get("text")
    if kind == "section":
        fields = block.get("fields") or []
        if text is None and not fields:
            return "invalid_blocks"
        if text is not None and (not isinstance(text, dict) or len(str(text.get("text", ""))) > SECTION_TEXT):
            return "invalid_blocks"
        if len(fields) > MAX_FIELDS or any(len(str(f.get("text", ""))) > FIELD_TEXT for f in fields):
            return "invalid_blocks"
    elif kind == "header":
        if (
            not isinstance(text, dict)
            or text.get("type") != "plain_text"
            or len(str(text.get("text", ""))) > HEADER_TEXT
        ):
            return "invalid_blocks"
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > CONTEXT_ELEMENTS:
            return "invalid_blocks"
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > ACTION_ELEMENTS:
            return "invalid_blocks"
        for element in elements:
            label = (element.get("text") or {}).get("text", "")
            if len(label) > BUTTON_TEXT or len(str(element.get("value", ""))) > BUTTON_VALUE:
                return "invalid_blocks"
            if len(str(element.get("action_id", ""))) > ID_LENGTH:
                return "invalid_blocks"
    elif kind == "markdown":
        if len(str(block.get("text", ""))) > MARKDOWN_BLOCK_TEXT:
            return "invalid_blocks"
    elif kind not in ("divider", "image", "input", "rich_text", "table", "video", "file"):
        return "invalid_blocks"
    return None


def _metadata_problem(metadata: Any) -> str | None:
    """Slack's metadata: an event_type and an event_payload whose values are strings, numbers,
    booleans, objects or lists of objects (@slack/types)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
        return "invalid_metadata_format"
    payload = metadata.get("event_payload")
    if not isinstance(payload, dict):
        return "invalid_metadata_format"

    def allowed(value: Any) -> bool:
        if isinstance(value, str | int | float | bool):
            return True
        if isinstance(value, dict):
            return all(allowed(v) for v in value.values())
        if isinstance(value, list):
            return all(isinstance(item, dict) and allowed(item) for item in value)
        return False

    return None if all(allowed(v) for v in payload.values()) else "invalid_metadata_format"


def message_problem(params: dict[str, Any], *, max_blocks: int = MAX_BLOCKS) -> str | None:
    """The error real Slack answers for this message, or None if it takes it."""
    text = params.get("text")
    blocks = params.get("blocks") or []
    if not text and not blocks:
        return "no_text"
    if text is not None and len(str(text)) > MAX_TEXT:
        return "msg_too_long"
    if not isinstance(blocks, list) or len(blocks) > max_blocks:
        return "invalid_blocks"
    seen_ids: set[str] = set()
    for block in blocks:
        problem = _block_problem(block, seen_ids)
        if problem:
            return problem
    if sum(len(t) for t in _texts(blocks)) > MAX_BLOCK_TEXT_TOTAL:
        return "msg_blocks_too_long"
    return _metadata_problem(params.get("metadata"))
