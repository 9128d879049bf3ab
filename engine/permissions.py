"""Who may do what: admins change config, turn the kill switch off, approve and force; anyone may stop."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from engine.audit_actions import AuditAction
from engine.errors import NotAuthorized, audited
from storage import audit
from storage.database import in_write_transaction

log = logging.getLogger(__name__)


class Permission(StrEnum):
    KILL_SWITCH_ON = "kill_switch_on"
    KILL_SWITCH_OFF = "kill_switch_off"
    CHANGE_CONFIG = "change_config"
    APPROVE = "approve"
    FORCE = "force"
    RERUN = "rerun"
    RELOAD_RUNBOOKS = "reload_runbooks"
    CORRECT_OUTCOME = "correct_outcome"


REFUSAL_TEXT = {
    Permission.KILL_SWITCH_ON: "Only admins may turn the kill switch on here (KILLSWITCH_ANYONE=false).",
    Permission.KILL_SWITCH_OFF: "Only admins may turn the kill switch off.",
    Permission.CHANGE_CONFIG: "Only admins may change the configuration.",
    Permission.APPROVE: "Only admins may approve or reject a run.",
    Permission.FORCE: "Only admins may force a run below the confidence threshold.",
    Permission.RELOAD_RUNBOOKS: "Only admins may reload the runbooks.",
    Permission.CORRECT_OUTCOME: "Only admins may correct an outcome (the creator may reopen it instead).",
    Permission.RERUN: "Only admins may run an incident again after its automation failed, was halted, "
    "rejected or reopened, or its approval expired.",
}


def record_refusal(
    *,
    actor: str,
    error: str,
    incident_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    **context: Any,
) -> None:
    """The audit row of a refused action (every refusal is audited): who, why, and what was asked
    (`details` and `context` together). In the caller's transaction, or one of its own."""
    with in_write_transaction():
        audit.record(
            action=AuditAction.REQUEST_REFUSED,
            actor=actor,
            incident_id=incident_id,
            success=False,
            error_message=error,
            details={**(details or {}), **context},
        )


def record_refusal_or_log(*, actor: str, error: str, **context: Any) -> None:
    """`record_refusal` for a face that answers the person either way: a database that cannot take
    the row is logged (with what was refused), not raised into the answer."""
    try:
        record_refusal(actor=actor, error=error, **context)
    except Exception:
        log.exception("could not audit a refusal of %s: %s", actor, error)


class Authorizer:
    def __init__(self, *, admins: Iterable[str], killswitch_anyone: bool = True) -> None:
        self.admins = frozenset(admins)
        self.killswitch_anyone = killswitch_anyone

    def is_admin(self, actor: str) -> bool:
        return actor in self.admins

    def allows(self, actor: str, permission: Permission) -> bool:
        if permission is Permission.KILL_SWITCH_ON and self.killswitch_anyone:
            return True  # stopping automation is always safe
        return self.is_admin(actor)

    def require(self, actor: str, permission: Permission, **context: Any) -> None:
        """Raise NotAuthorized (after auditing the refusal) unless `actor` has `permission`."""
        if self.allows(actor, permission):
            return
        incident_id = context.pop("incident_id", None)
        error = f"not allowed: {permission.value}"
        record_refusal(
            actor=actor, error=error, incident_id=incident_id, permission=permission.value, **context
        )
        raise audited(NotAuthorized(REFUSAL_TEXT[permission]))
