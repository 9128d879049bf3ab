"""Names in the environment or .env that look like settings and are not: typos that change nothing."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

from settings import Settings

# Prefixes that only this bot's settings use here: a name with one that is not a setting is a typo.
SETTING_PREFIXES = (
    "SLACK_",
    "ALERTMANAGER_",
    "GRAFANA_",
    "PAGERDUTY_",
    "OPSGENIE_",
    "DATADOG_",
    "RUNBOOK_",
    "RUNBOOKS_",
    "WEBHOOK_",
    "AUDIT_",
    "KILL_SWITCH_",
    "AUTORESOLVE_",
)


def unknown_setting_names(names: Iterable[str]) -> list[str]:
    """For each of `names` (the environment's, .env's) that looks like a setting and is not one, a
    line saying so, with the setting meant where one is close: it would otherwise change nothing,
    silently (SLACK_ADMIN_USERS for ADMIN_USERS, say)."""
    known = sorted(name.upper() for name in Settings.model_fields)
    lines = []
    for name in sorted({n.upper() for n in names}):
        if name in known or not name.startswith(SETTING_PREFIXES):
            continue
        meant = difflib.get_close_matches(name, known, n=1, cutoff=0.8) or [
            bare for bare in [name.split("_", 1)[1]] if bare in known
        ]
        hint = f" (did you mean {meant[0]}?)" if meant else ""
        lines.append(f"{name} is not a setting, so it changes nothing{hint}")
    return lines


def misnamed_settings() -> list[str]:
    """A line for each name in the environment or .env that looks like a setting and is not one."""
    names = set(os.environ)
    if Path(".env").is_file():
        from dotenv import dotenv_values  # pydantic-settings' own reader of .env

        names |= set(dotenv_values(".env"))
    return unknown_setting_names(names)
