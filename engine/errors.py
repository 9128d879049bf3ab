"""The engine's exceptions. Catch them at the faces (HTTP, Slack, CLI) and turn them into answers.

EngineError          base class; never raised itself.
  InvalidInput       a value from outside is wrong; `.field` names it (HTTP 422, Slack usage answer).
  NotFound           the incident, run or category does not exist (HTTP 404).
  NotAuthorized      the actor may not do this (HTTP 403, ephemeral refusal); audited by the caller.
  Conflict           the action contradicts the current state (HTTP 409).
Every refusal is audited: where the engine writes the audit row itself (with more to say than the
face knows), the error says `audited`; a face (Slack, REST) audits the others it answers.
RunbookError         runbooks.yml is unusable; `.location` says file, runbook id and field. Start-up
                     refuses to go on; it is not an EngineError because no request can cause it.
"""

from __future__ import annotations

from typing import TypeVar


class EngineError(Exception):
    """Base class of errors a request can cause."""

    audited = False  # its request_refused audit row is written already


E = TypeVar("E", bound=EngineError)


def audited(error: E) -> E:
    """`error`, marked as audited (the caller wrote its audit row)."""
    error.audited = True
    return error


class InvalidInput(EngineError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(EngineError):
    pass


class NotAuthorized(EngineError):
    pass


class Conflict(EngineError):
    pass


class RunbookError(Exception):
    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message
