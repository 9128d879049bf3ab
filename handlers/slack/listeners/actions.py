"""Button listeners: "Not fixed, reopen" (the creator only), Approve and Reject, and Apply on an
autonomy proposal (admins only)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from engine import autonomy
from engine.autonomy import Mode
from engine.errors import InvalidInput
from engine.incident import CATEGORY_PATTERN, INCIDENT_ID_PATTERN
from engine.permissions import Permission
from handlers.slack.layout.blocks import (
    APPLY_AUTONOMY_ACTION,
    APPROVE_ACTION,
    IN_DIGEST,
    REJECT_ACTION,
    REOPEN_ACTION,
    Message,
    build_reopened_dm,
)
from handlers.slack.layout.replies import build_submission, plain
from handlers.slack.listeners.answers import acknowledge, answer_ephemerally, compute_answer
from handlers.slack.listeners.home import publish_home
from handlers.slack.listeners.services import SlackServices

log = logging.getLogger(__name__)


DIGEST = re.compile(r"^[0-9a-f]{32}$")


def clicked(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """(user id, incident id, approval digest or None) of a button click; the value,
    `<incident id>` or `<incident id>@<digest>`, is checked like any input."""
    user = str(body.get("user", {}).get("id", ""))
    actions = body.get("actions") or [{}]
    incident_id, marked, digest = str(actions[0].get("value", "")).partition("@")
    if not re.match(INCIDENT_ID_PATTERN, incident_id):
        raise InvalidInput("actions[0].value", "not an incident id")
    if marked and not DIGEST.match(digest):
        raise InvalidInput("actions[0].value", "not an approval request")
    return user, incident_id, digest if marked else None


def asked(body: dict[str, Any]) -> dict[str, str]:
    """Who clicked and what (the button's action and value), for the audit row if it is refused."""
    action = (body.get("actions") or [{}])[0]
    return {
        "actor": str(body.get("user", {}).get("id", "")),
        "asked": f"button {action.get('action_id', '')} {action.get('value', '')}",
    }


def in_digest(body: dict[str, Any]) -> bool:
    """Whether the button clicked is in a digest: replacing that message would take the other
    incidents' buttons with it, so the answer is ephemeral."""
    actions = body.get("actions") or [{}]
    return str(actions[0].get("block_id", "")).startswith(IN_DIGEST)


def clicked_proposal(body: dict[str, Any]) -> tuple[str, str, Mode]:
    """(user id, category, mode) of an Apply click; the value, `<category>:<mode>`, checked like any input."""
    user = str(body.get("user", {}).get("id", ""))
    actions = body.get("actions") or [{}]
    category, _, mode = str(actions[0].get("value", "")).partition(":")
    if not re.match(CATEGORY_PATTERN, category) or mode not in {m.value for m in Mode}:
        raise InvalidInput("actions[0].value", "not an autonomy proposal")
    return user, category, Mode(mode)


def identities_of(client: WebClient, user: str) -> set[str]:
    """The ways a Slack user may be recorded as an incident's creator: their ID and their e-mail."""
    known = {user}
    try:
        found: dict[str, Any] = client.users_info(user=user).get("user") or {}
        profile: dict[str, Any] = found.get("profile") or {}
    except SlackApiError as exc:
        log.warning("users.info for %s failed: %s", user, exc.response.get("error"))
        return known
    if profile.get("email"):
        known.add(str(profile["email"]))
    return known


def register(app: App, services: SlackServices) -> None:
    def reopen(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        done: list[Message] = []

        def act() -> Message:
            user, incident_id, _ = clicked(body)
            services.interventions.reopen(incident_id, actor=user, identities=identities_of(client, user))
            done.append(build_reopened_dm(incident_id))
            return done[0]

        text, blocks = compute_answer(act, **asked(body))
        if done and not in_digest(body):  # replace the DM's button with what happened
            respond(text=text, blocks=blocks, replace_original=True)
        else:
            respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    def answer(body: dict[str, Any], respond: Respond, client: WebClient, act: Callable[[], Message]) -> None:
        """A click in a message is answered ephemerally; one on the Home tab (no response_url)
        republishes the Home tab with the answer on top."""
        if body.get("response_url"):
            answer_ephemerally(respond, act, **asked(body))
            return
        text, _ = compute_answer(act, **asked(body))
        publish_home(client, services, str(body.get("user", {}).get("id", "")), notice=text)

    def approve(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        def act() -> Message:
            user, incident_id, digest = clicked(body)
            return build_submission(services.interventions.approve(incident_id, actor=user, digest=digest))

        answer(body, respond, client, act)

    def reject(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        def act() -> Message:
            user, incident_id, _ = clicked(body)
            services.interventions.reject(incident_id, actor=user)
            return plain(f"Rejected *{incident_id}*: it will not run automatically.")

        answer(body, respond, client, act)

    def apply_autonomy(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        def act() -> Message:
            user, category, mode = clicked_proposal(body)
            services.authorizer.require(user, Permission.CHANGE_CONFIG, command=f"apply {category} {mode}")
            autonomy.apply(services.configuration, category, mode, actor=user)
            return plain(f"Category *{category}* is now `{mode}` (applied by you; audited).")

        answer(body, respond, client, act)

    app.action(REOPEN_ACTION)(ack=acknowledge, lazy=[reopen])
    app.action(APPLY_AUTONOMY_ACTION)(ack=acknowledge, lazy=[apply_autonomy])
    app.action(APPROVE_ACTION)(ack=acknowledge, lazy=[approve])
    app.action(REJECT_ACTION)(ack=acknowledge, lazy=[reject])
