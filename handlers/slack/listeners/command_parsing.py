"""Parsing the text of /autoresolve and /killswitch into commands; a malformed one gets its usage."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.config_changes import SettingError, parse_setting_change
from engine.durations import duration_and_reason
from engine.incident import CATEGORY_PATTERN, INCIDENT_ID_PATTERN

AUTORESOLVE_USAGE = """*Usage:* `/autoresolve <sub-command>`
• `help`: this text
• `status`: kill switch, runs in flight, recent outcomes
• `<incident-id> [force]`: put an incident through the gates again (`force`, admins: ignore its confidence)
• `audit <incident-id>`: the incident's audit trail
• `config [<category>]`: settings of every category, or one
• `config <category> threshold <0.5-1> | enable | disable | dry-run on|off | retries <0-10>`
   `| approval <x>|off | approval-timeout <1h> | notify on|off | budget <n> per <1h>|off`
   `| over-limit approval|skip | pause | resume | mode off|shadow|approval|auto`: change one (admins)
• `runbooks`: the runbooks loaded
• `runbooks reload`: read the runbooks file again, no restart (admins); a bad file is refused
• `calibration [<category>] [<30d>]`: does each category's confidence hold up, and the threshold it supports
• `outcome <incident-id> fixed|not-fixed`: say how an incident ended, over what was recorded (admins)"""

KILLSWITCH_USAGE = """*Usage:* `/killswitch [status] | on [<duration: 30m, 2h, 1d>] [why...] | off [why...]`
• `on`: stop all automation now (runs in flight stop at once); anyone may. While it is on, `on` keeps
   it on longer (a later end, or none) and adds its reason; only admins end it sooner. At most 30 days
• `off`: let automation run again (admins)"""


class UsageError(ValueError):
    """The text is not a command; the message says what was wrong, the usage follows."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Runbooks:
    pass


@dataclass(frozen=True)
class ReloadRunbooks:
    pass


@dataclass(frozen=True)
class Calibration:
    category: str | None
    since: str


@dataclass(frozen=True)
class CorrectOutcome:
    incident_id: str
    fixed: bool


@dataclass(frozen=True)
class Rerun:
    incident_id: str
    force: bool


@dataclass(frozen=True)
class AuditTrail:
    incident_id: str


@dataclass(frozen=True)
class ShowConfig:
    category: str | None


@dataclass(frozen=True)
class ChangeConfig:
    category: str
    changes: dict[str, object]


@dataclass(frozen=True)
class KillSwitchStatus:
    pass


@dataclass(frozen=True)
class KillSwitchOn:
    duration: str | None  # as written; the engine reads it (engine.durations)
    reason: str | None


@dataclass(frozen=True)
class KillSwitchOff:
    reason: str | None


AutoresolveCommand = (
    Help
    | Status
    | Runbooks
    | ReloadRunbooks
    | Calibration
    | CorrectOutcome
    | Rerun
    | AuditTrail
    | ShowConfig
    | ChangeConfig
)
KillSwitchCommand = KillSwitchStatus | KillSwitchOn | KillSwitchOff


def _incident_id(token: str) -> str:
    if not re.match(INCIDENT_ID_PATTERN, token):
        raise UsageError(f"`{token}` is not an incident id", AUTORESOLVE_USAGE)
    return token


def _config(words: list[str]) -> ShowConfig | ChangeConfig:
    if not words:
        return ShowConfig(None)
    category = words[0].lower()
    if not re.match(CATEGORY_PATTERN, category):
        raise UsageError(f"`{words[0]}` is not a category name", AUTORESOLVE_USAGE)
    if len(words) == 1:
        return ShowConfig(category)
    try:
        return ChangeConfig(category, parse_setting_change(words[1:]))
    except SettingError as exc:
        raise UsageError(str(exc), AUTORESOLVE_USAGE) from None


def _calibration(words: list[str]) -> Calibration:
    category, since = None, "30d"
    for word in words:
        if re.fullmatch(r"\d+(\.\d+)?[smhd]", word.lower()):
            since = word.lower()
        elif re.match(CATEGORY_PATTERN, word.lower()) and category is None:
            category = word.lower()
        else:
            raise UsageError(f"`{word[:60]}` is neither a category nor a window like 30d", AUTORESOLVE_USAGE)
    return Calibration(category, since)


def parse_autoresolve(text: str) -> AutoresolveCommand:
    words = text.split()
    if not words or words[0].lower() == "help":
        return Help()
    head, rest = words[0].lower(), words[1:]
    if head == "status" and not rest:
        return Status()
    if head == "runbooks" and not rest:
        return Runbooks()
    if head == "runbooks" and [word.lower() for word in rest] == ["reload"]:
        return ReloadRunbooks()
    if head == "calibration":
        return _calibration(rest)
    if head == "outcome":
        if len(rest) != 2 or rest[1].lower() not in ("fixed", "not-fixed"):
            raise UsageError("`outcome` takes an incident id and fixed or not-fixed", AUTORESOLVE_USAGE)
        return CorrectOutcome(_incident_id(rest[0]), fixed=rest[1].lower() == "fixed")
    if head == "audit":
        if len(rest) != 1:
            raise UsageError("`audit` takes one incident id", AUTORESOLVE_USAGE)
        return AuditTrail(_incident_id(rest[0]))
    if head == "config":
        return _config(rest)
    if len(words) <= 2 and (len(words) == 1 or words[1].lower() == "force"):
        return Rerun(_incident_id(words[0]), force=len(words) == 2)
    raise UsageError(f"`{text.strip()[:100]}` is not a sub-command", AUTORESOLVE_USAGE)


def parse_killswitch(text: str) -> KillSwitchCommand:
    words = text.split()
    if not words or (words[0].lower() == "status" and len(words) == 1):
        return KillSwitchStatus()
    head, rest = words[0].lower(), words[1:]
    if head == "on":
        return KillSwitchOn(*duration_and_reason(rest))
    if head == "off":
        return KillSwitchOff(" ".join(rest) or None)
    raise UsageError(f"`{text.strip()[:100]}` is not a sub-command", KILLSWITCH_USAGE)
