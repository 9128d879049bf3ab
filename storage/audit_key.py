"""The audit chain's key: AUDIT_KEY, or a file made on first start (mode 0600, AUDIT_KEY_FILE)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


class AuditKeyError(Exception):
    """The key cannot be had: the message says where it was looked for."""


def load_audit_key(value: str | None, path: Path, *, create: bool) -> bytes:
    """The key: `value` (AUDIT_KEY) if given, else the file's content; with `create`, a file that
    is not there yet is made with 32 random bytes (hex), readable by its owner only."""
    if value:
        return value.encode()
    if create and not path.exists():
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32) + "\n")
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise AuditKeyError(
            f"no audit key: set AUDIT_KEY, or keep the file {path} (AUDIT_KEY_FILE)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"cannot read the audit key file {path}: {exc}") from None
    if len(key) < 32:
        raise AuditKeyError(f"the audit key in {path} is too short (at least 32 characters)")
    return key.encode()
