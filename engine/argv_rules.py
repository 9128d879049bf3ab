"""Where a placeholder in a command's argv would be code, not data: refused when runbooks load.

A placeholder is substituted as one argv element, so `["echo", "{service}"]` is safe whatever the
value. But some programs read one of their arguments as a program of their own: the script of
`sh -c`, the code of `python -c`, the remote command of `ssh`, the SQL of `psql -c`. A value put
there is run, so such a placeholder is refused. The safe idiom passes the value as an argument:
`["sh", "-c", "echo restarting \"$1\"", "sh", "{service}"]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.placeholders import has_placeholders

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish", "csh", "tcsh"})
# Programs whose argument after one of these options is code (also written --option=code).
CODE_OPTIONS: dict[str, frozenset[str]] = {
    "python": frozenset({"-c"}),
    "perl": frozenset({"-e", "-E"}),
    "ruby": frozenset({"-e"}),
    "node": frozenset({"-e", "--eval", "-p", "--print"}),
    "deno": frozenset({"eval"}),
    "php": frozenset({"-r"}),
    "lua": frozenset({"-e"}),
    "rscript": frozenset({"-e"}),
    "osascript": frozenset({"-e"}),
    "pwsh": frozenset({"-c", "-command"}),
    "powershell": frozenset({"-c", "-command"}),
    "su": frozenset({"-c", "--command"}),
    "psql": frozenset({"-c", "--command"}),
    "mysql": frozenset({"-e", "--execute"}),
    "mariadb": frozenset({"-e", "--execute"}),
}
# Programs whose first argument that is not an option is a program of their own.
PROGRAM_FIRST = frozenset({"awk", "gawk", "mawk", "nawk", "sed", "jq"})
# ssh options that take a value; after them the destination, then the remote command (run by a shell).
SSH_OPTIONS_WITH_VALUE = frozenset("BbcDEeFIiJLlmOoPpQRSWw")


def _program(element: str) -> str:
    """`/usr/bin/python3.11` -> `python`: the name that says how the program reads its arguments."""
    name = element.rsplit("/", 1)[-1].lower()
    return re.sub(r"(\d+(\.\d+)*)?(\.exe)?$", "", name)


def code_positions(argv: Sequence[str]) -> list[tuple[int, str]]:
    """(index, what reads it) for every element of `argv` that a program there runs as code."""
    found: list[tuple[int, str]] = []
    for start, element in enumerate(argv):
        name = _program(element)
        rest = range(start + 1, len(argv))
        if name in SHELLS:
            # Options up to the script; any of them holding a `c` (-c, -ec, -xc) makes it a script.
            index, script = start + 1, False
            while index < len(argv) and argv[index].startswith("-") and argv[index] not in ("-", "--"):
                flags = argv[index]
                script = script or (not flags.startswith("--") and "c" in flags[1:])
                index += 1
            if script and index < len(argv):
                found.append((index, f"{name} -c"))
        elif name in CODE_OPTIONS:
            options = CODE_OPTIONS[name]
            for index in rest:
                flag, _, joined = argv[index].partition("=")
                if flag.lower() in options:
                    found.append((index if joined else index + 1, f"{name} {flag}"))
        elif name in PROGRAM_FIRST:
            first = next((i for i in rest if not argv[i].startswith("-")), None)
            if first is not None:
                found.append((first, name))
        elif name == "ssh":
            index = start + 1
            while index < len(argv) and argv[index].startswith("-"):
                flags = argv[index]
                index += 2 if flags[-1] in SSH_OPTIONS_WITH_VALUE and len(flags) == 2 else 1
            found.extend((i, "ssh's remote command") for i in range(index + 1, len(argv)))
    return [(index, reader) for index, reader in found if index < len(argv)]


def check_no_code_placeholders(argv: Sequence[str]) -> None:
    """Raise ValueError naming the element if a placeholder stands where a program reads code."""
    for index, reader in code_positions(argv):
        if has_placeholders(argv[index]):
            raise ValueError(
                f"element {index} is code run by {reader}, and a placeholder in it is injection: "
                'pass the value as an argument instead, e.g. ["sh", "-c", "echo restarting \\"$1\\"", '
                '"sh", "{service}"]'
            )
