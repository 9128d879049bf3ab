"""What Slack's error answers mean for a queued message: wait and retry, give up, send a shorter
fallback, or post anew where an update cannot be applied."""

from __future__ import annotations

from typing import Any

# Slack's errors worth another try (from the method pages and the slack-api-specs document of
# chat.postMessage, chat.update, conversations.open, users.lookupByEmail): besides these, a 429 and
# any 5xx. Every other error fails the same way each time: the message is given up (audited) and
# the lane goes on, so one refused message never stops a channel.
RETRYABLE_ERRORS = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
        "team_added_to_org",
    }
)
# Refused for what it holds: a shorter fallback (the headline, and where the rest is) is sent once.
TOO_BIG_ERRORS = frozenset(
    {
        "msg_blocks_too_long",
        "msg_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "too_many_attachments",
    }
)
# An update that cannot be applied: the new state is posted as a new message.
UPDATE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
FALLBACK_HEADLINE = 300  # characters of the refused message's first line kept in its fallback


class Wait(Exception):
    """The lane must wait: rate limited, or Slack unreachable (a retry is scheduled).

    `maybe_sent`: the call went out but its answer did not come back usable, so Slack may have done
    what it asked."""

    def __init__(self, maybe_sent: bool = False) -> None:
        super().__init__()
        self.maybe_sent = maybe_sent


class Drop(Exception):
    """The message can never be delivered (unknown user, channel gone)."""


class TooBig(Drop):
    """Slack refused the message for what it holds; a shorter one may go through."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


class MessageGone(Exception):
    """chat.update cannot change the message (deleted, too old to edit, not the bot's)."""


def fallback(arguments: dict[str, Any], error: str, incident_id: str | None) -> dict[str, Any]:
    """A message Slack takes in place of one it refused: the first line of its text, and where
    the rest is (the incident's audit trail)."""
    first_line = str(arguments.get("text") or "").split("\n", 1)[0]
    headline = (
        first_line if len(first_line) <= FALLBACK_HEADLINE else first_line[: FALLBACK_HEADLINE - 1] + "…"
    )
    where = (
        f"`/autoresolve audit {incident_id}` has it all" if incident_id else "the bot's audit trail has it"
    )
    text = f"{headline}\n_(Slack refused the full message: {error}; {where}.)_"
    smaller = {k: v for k, v in arguments.items() if k not in ("blocks", "text")}
    return {
        **smaller,
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }
