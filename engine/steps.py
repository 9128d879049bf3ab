"""Preparing a step of any kind: its templates filled from the incident, so that a bad value fails
before anything runs. Each kind's schema and executor are in engine/step_kinds/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.placeholders import render
from engine.runbooks import Action
from engine.step_kinds.base import PreparedAction
from engine.step_kinds.command import prepare_command
from engine.step_kinds.http import prepare_http
from engine.step_kinds.log import PreparedLog
from engine.step_kinds.wait import PreparedWait


def prepare(action: Action, values: Mapping[str, Any], *, workdir: str | None = None) -> PreparedAction:
    """Fill the action's templates from incident values; raises PlaceholderError on a bad value.
    `workdir`: where commands run (COMMAND_WORKDIR); None, an empty directory per attempt."""
    if action.http is not None:
        return prepare_http(action.http, values)
    if action.command is not None:
        return prepare_command(action.command, values, workdir)
    if action.wait is not None:
        return PreparedWait(action.wait)
    if action.log is not None:
        return PreparedLog(render(action.log, values))
    raise AssertionError("runbook validation guarantees one kind per action")
