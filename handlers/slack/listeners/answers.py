"""Answering a person in Slack: run the work, turn typed errors into a friendly ephemeral reply, and
audit each refusal (a command that cannot be done gets an answer and an audit row)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack

from engine.errors import EngineError
from engine.permissions import record_refusal_or_log
from handlers.slack.layout.blocks import Message
from handlers.slack.layout.fitting import clip
from handlers.slack.layout.replies import build_error
from handlers.slack.listeners.command_parsing import UsageError

log = logging.getLogger(__name__)


def acknowledge(ack: Ack) -> None:
    """Bolt's ack function for every listener: Slack gets its answer at once (it allows 3 s), and
    the listener's work then runs lazily in a worker thread and answers through `respond`."""
    ack()


MAX_ASKED = 300  # characters of what was asked kept in a refusal's audit row


def compute_answer(produce: Callable[[], Message], *, actor: str, asked: str) -> Message:
    """The reply for `actor`: the result, their mistake with the usage, or an error id to quote. A
    refusal is audited with what was `asked` (the command's text, the button's action and value),
    unless the engine audited it already."""
    try:
        return produce()
    except UsageError as exc:
        audit_refusal(actor, str(exc), asked)
        return build_error(str(exc), exc.usage)
    except EngineError as exc:
        if not exc.audited:
            audit_refusal(actor, str(exc), asked)
        return build_error(str(exc))
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("Slack request failed (error id %s)", error_id)
        return build_error(
            f"Something went wrong on our side (error id `{error_id}`); the details are in the bot's log."
        )


def audit_refusal(actor: str, error: str, asked: str) -> None:
    record_refusal_or_log(actor=actor or "unknown", error=error, command=clip(asked, MAX_ASKED))


def answer_ephemerally(respond: Any, produce: Callable[[], Message], *, actor: str, asked: str) -> None:
    text, blocks = compute_answer(produce, actor=actor, asked=asked)
    answered = respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
    status = getattr(answered, "status_code", 200)
    if status >= 400:
        # Slack refused the answer (its size, its blocks): the person still hears something.
        log.warning(
            "Slack refused an answer (HTTP %s: %s); sending a short one",
            status,
            getattr(answered, "body", ""),
        )
        short = (
            clip(text.split("\n", 1)[0], 300)
            + "\n(The full answer was refused by Slack; the CLI or the REST API shows it.)"
        )
        respond(text=short, response_type="ephemeral", replace_original=False)
