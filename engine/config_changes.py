"""The words that change one category's setting (`threshold 0.95`, `budget 3 per 1h`), read the same
by every face: `/autoresolve config <category> ...` in Slack and `bot.py config set` on the CLI."""

from __future__ import annotations

from engine.autonomy import LADDER, Mode, settings_for
from engine.durations import parse_duration

SETTING_GRAMMAR = (
    "threshold <0.5-1> | enable | disable | dry-run on|off | retries <0-10> | "
    "approval <x>|off | approval-timeout <1h> | notify on|off | budget <n> per <1h>|off | "
    "over-limit approval|skip | pause | resume | mode off|shadow|approval|auto"
)


class SettingError(ValueError):
    """The words are not a setting change; the message says what was wrong."""


def _number(text: str, low: float, high: float, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingError(f"{what} must be a number, not `{text}`") from None
    if not low <= value <= high:
        raise SettingError(f"{what} must be between {low:g} and {high:g}")
    return value


def _seconds(text: str, what: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise SettingError(f"{what}: {exc}") from None


def _on_off(text: str, what: str) -> bool:
    if text not in ("on", "off"):
        raise SettingError(f"{what} takes `on` or `off`")
    return text == "on"


def parse_setting_change(words: list[str]) -> dict[str, object]:
    """The category fields that `words` (a setting and its arguments) change, or SettingError."""
    rest = [w.lower() for w in words]
    if not rest:
        raise SettingError("no setting given")
    setting, args = rest[0], rest[1:]
    if setting in ("enable", "disable") and not args:
        return {"auto_resolution_enabled": setting == "enable"}
    if setting == "threshold" and len(args) == 1:
        return {"confidence_threshold": _number(args[0], 0.5, 1.0, "threshold")}
    if setting in ("dry-run", "dryrun") and len(args) == 1:
        return {"dry_run": _on_off(args[0], "dry-run")}
    if setting == "retries" and len(args) == 1:
        return {"max_retry_attempts": int(_number(args[0], 0, 10, "retries"))}
    if setting == "approval" and len(args) == 1:
        return {"approval_floor": None if args[0] == "off" else _number(args[0], 0.0, 1.0, "approval")}
    if setting == "notify" and len(args) == 1:
        return {"notification_required": _on_off(args[0], "notify")}
    if setting == "approval-timeout" and len(args) == 1:
        return {"approval_timeout_seconds": _seconds(args[0], "approval-timeout")}
    if setting == "budget" and len(args) == 3 and args[1] == "per":
        return {
            "failure_budget": int(_number(args[0], 0, 100, "budget")),
            "failure_window_seconds": _seconds(args[2], "budget window"),
        }
    if setting == "budget" and args == ["off"]:
        return {"failure_budget": 0}
    if setting == "over-limit" and len(args) == 1 and args[0] in ("approval", "skip"):
        return {"over_limit": args[0]}
    if setting == "mode" and len(args) == 1:
        if args[0] not in {mode.value for mode in Mode}:
            choices = ", ".join(mode.value for mode in LADDER)
            raise SettingError(f"mode must be one of {choices}, not `{args[0]}`")
        return settings_for(Mode(args[0]))
    if setting == "pause" and not args:
        return {"paused_reason": "paused by hand"}
    if setting == "resume" and not args:
        return {"paused_reason": None}
    raise SettingError(f"`{' '.join(rest)}` is not a setting change")
