"""The CLI's one error type: a problem the operator can fix, printed as one line (exit status 2)."""

from __future__ import annotations


class CliError(Exception):
    pass
