"""Secrets for runbook steps, written `{secret:NAME}`: resolved when a step is prepared, from the
environment variables the operator lists (RUNBOOK_SECRETS_ENV) and from files in a directory
(RUNBOOK_SECRETS_DIR: one file per secret, named by it, as Kubernetes and Docker mount them).

A secret's value is never written anywhere: what a step shows (its action, its output, its error)
has every secret value replaced by `[secret:NAME]`, raw or percent-encoded as it went into a URL."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from urllib.parse import quote

SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
MAX_SECRET_BYTES = 64 * 1024


def masked(name: str) -> str:
    return f"[secret:{name}]"


class SecretError(LookupError):
    """A secret that is not there (or not readable) when a step needs it."""


class SecretStore:
    """Where `{secret:NAME}` is read from. Values are read when asked for, so a rotated file is used
    by the next step without a restart."""

    def __init__(
        self,
        env_names: Collection[str] = (),
        directory: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.env_names = tuple(env_names)
        self.directory = directory
        self._environ = os.environ if environ is None else environ

    def names(self) -> set[str]:
        """Every secret there is now."""
        found = {name for name in self.env_names if self._environ.get(name)}
        if self.directory is not None and self.directory.is_dir():
            found |= {p.name for p in self.directory.iterdir() if SECRET_NAME.match(p.name) and p.is_file()}
        return found

    def value(self, name: str) -> str:
        if name in self.env_names and self._environ.get(name):
            return self._environ[name]
        if self.directory is not None and SECRET_NAME.match(name):
            path = self.directory / name
            try:
                with path.open("rb") as file:
                    raw = file.read(MAX_SECRET_BYTES + 1)
            except OSError:
                raise SecretError(f"secret {name!r} is not set") from None
            if len(raw) > MAX_SECRET_BYTES:
                raise SecretError(f"secret {name!r} is over {MAX_SECRET_BYTES} bytes")
            value = raw.decode("utf-8", "replace").rstrip("\r\n")
            if value:
                return value
        raise SecretError(f"secret {name!r} is not set")

    def mask(self, text: str) -> str:
        """`text` with every secret's value (and its percent-encoded form) shown as [secret:NAME]."""
        if not text:
            return text
        forms: list[tuple[str, str]] = []
        for name in self.names():
            try:
                value = self.value(name)
            except SecretError:
                continue
            forms += [(value, masked(name)), (quote(value, safe=""), masked(name))]
        for form, mask in sorted(forms, key=lambda pair: -len(pair[0])):  # the longest first
            text = text.replace(form, mask)
        return text


NO_SECRETS = SecretStore()
