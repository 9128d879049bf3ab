"""Durations as operators write them: 500ms, 10s, 5m, 1h, 2d, or a number of seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from engine.errors import InvalidInput

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
KILL_SWITCH_MAX_DAYS = 30
KILL_SWITCH_MAX = timedelta(days=KILL_SWITCH_MAX_DAYS)


def parse_duration(value: object) -> float:
    """Seconds in `value`; raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 500ms, 10s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration like 500ms, 10s, 5m or 1h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_kill_switch_duration(value: object) -> tuple[timedelta, str | None]:
    """How long a kill switch stays on, for every face: (the span, a note when it was capped).

    Raises InvalidInput naming `duration` for a duration that is unreadable or not longer than 0s.
    A longer one than KILL_SWITCH_MAX is capped, never refused: the switch must go on.
    """
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise InvalidInput("duration", str(exc)) from None
    if seconds <= 0:
        raise InvalidInput("duration", "must be longer than 0s (leave it out for no end)")
    if not math.isfinite(seconds) or seconds > KILL_SWITCH_MAX.total_seconds():
        return KILL_SWITCH_MAX, f"duration {str(value)[:40]} capped at {KILL_SWITCH_MAX_DAYS} days"
    return timedelta(seconds=seconds), None


def duration_and_reason(words: list[str]) -> tuple[str | None, str | None]:
    """`/killswitch on 30m db migration` read the same on every face: a first word that is a number
    with a unit is the duration, the rest the reason ("on 5 hosts down" is all reason, not 5 s)."""
    duration = None
    if words and re.fullmatch(r"\d+(?:\.\d+)?(?:ms|s|m|h|d)", words[0].lower()):
        duration, words = words[0].lower(), words[1:]
    return duration, " ".join(words) or None


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
