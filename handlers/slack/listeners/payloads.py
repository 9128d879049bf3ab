"""What Slack sends, checked for the fields Bolt and our listeners read, before either reads them.

A signed request is still input from outside: a payload without its user, with `actions` empty or
not a list, an event that is not an object, made Bolt raise (a 500, and the connection dropped) or
a listener fail without an answer. Such a request is refused, naming the field, and audited: over
HTTP with a 400 (handlers/slack/endpoint), over Socket Mode acknowledged and dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import BoltResponse

from handlers.refusals import write_refusal

STRING = (str, "a string")
OBJECT = (Mapping, "an object")
LIST = (list, "a list")
Expected = Mapping[str, tuple[type, str]]
COMMAND: Expected = {"command": STRING, "user_id": STRING}


def shape_problem(body: Any) -> str | None:
    """The first field of a command, click or event that is missing or of the wrong type, or None."""
    if not isinstance(body, Mapping):
        return "payload: expected an object"
    if "command" in body:
        return _first_problem(body, COMMAND) or _optional_problem(body, ("text", "response_url"))
    kind = body.get("type")
    if kind == "block_actions":
        return _actions_problem(body)
    if kind == "event_callback":
        problem = _first_problem(body, {"event": OBJECT})
        return problem or _first_problem(body["event"], {"type": STRING}, "event.")
    return None


def _actions_problem(body: Mapping[str, Any]) -> str | None:
    problem = _first_problem(body, {"user": OBJECT, "actions": LIST})
    problem = problem or _first_problem(body["user"], {"id": STRING}, "user.")
    if problem:
        return problem
    if not body["actions"]:
        return "actions: expected at least one action"
    for index, action in enumerate(body["actions"]):
        if not isinstance(action, Mapping):
            return f"actions[{index}]: expected an object"
        problem = _first_problem(action, {"action_id": STRING}, f"actions[{index}].")
        problem = problem or _optional_problem(action, ("value",), f"actions[{index}].")
        if problem:
            return problem
    return _optional_problem(body, ("response_url",))


def _first_problem(body: Mapping[str, Any], expected: Expected, prefix: str = "") -> str | None:
    for name, (kind, wanted) in expected.items():
        if not isinstance(body.get(name), kind):
            return f"{prefix}{name}: expected {wanted}"
    return None


def _optional_problem(body: Mapping[str, Any], names: tuple[str, ...], prefix: str = "") -> str | None:
    """The first of these that is there and is not a string."""
    for name in names:
        if name in body and not isinstance(body[name], str):
            return f"{prefix}{name}: expected a string"
    return None


def kind_of(body: Any) -> str | None:
    kind = body.get("type") if isinstance(body, Mapping) else None
    return kind if isinstance(kind, str) else None


def audit_malformed(problem: str, kind: str | None) -> None:
    write_refusal(f"malformed Slack request: {problem}", {"type": kind}, actor="slack")  # signed: not a flood


def refuse(problem: str, kind: str | None) -> BoltResponse:
    """Audit a malformed Slack request; the 400 that names the field."""
    audit_malformed(problem, kind)
    return BoltResponse(
        status=400,
        body=json.dumps({"error": f"malformed Slack request: {problem}", "status_code": 400}),
        headers={"content-type": "application/json"},
    )


def unreadable(text: str) -> str:
    """What is wrong with a request body that Bolt could not even read."""
    raw = parse_qs(text).get("payload", [text])[0]
    try:
        document = json.loads(raw)
    except ValueError:
        return "payload: invalid JSON"
    except RecursionError:
        return "payload: nested too deeply"
    return shape_problem(document) or "payload: not a Slack request"
