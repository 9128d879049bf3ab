"""Text from outside: no control characters where they make no sense (PostgreSQL refuses a NUL,
a terminal obeys an escape), refused at validation with the field named."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Every C0 control but tab, newline and carriage return, and DEL: never part of prose.
_IN_PROSE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# On one line (a title, a label, a name), tab, newline and carriage return too.
_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f]")


def _describe(character: str) -> str:
    return "a NUL byte" if character == "\x00" else f"a control character (U+{ord(character):04X})"


def check_prose(value: str) -> str:
    found = _IN_PROSE.search(value)
    if found:
        raise ValueError(f"contains {_describe(found.group())}")
    return value


def check_line(value: str) -> str:
    found = _IN_A_LINE.search(value)
    if found:
        raise ValueError(f"contains {_describe(found.group())}; one line of text expected")
    return value


Prose = Annotated[str, AfterValidator(check_prose)]  # may span lines
Line = Annotated[str, AfterValidator(check_line)]
