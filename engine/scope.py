"""What a step's templates are filled from: the incident's values, with what earlier steps kept
(`steps`) and the secrets (`secrets`) beside them. A run fills them for real; a preview (a dry run,
an approval request, `runbooks test`) shows kept values by name and secrets as [secret:NAME],
reading no secret."""

from __future__ import annotations

import re
from typing import Any

from engine.incident import incident_values
from engine.secrets import SecretStore, masked


def run_scope(incident: Any, secrets: SecretStore) -> dict[str, Any]:
    """A run's scope; the runner adds each step's kept values to `steps` as they come."""
    return {**incident_values(incident), "steps": {}, "secrets": secrets}


class _PreviewSecrets(SecretStore):
    """Every secret, as a stand-in that survives percent-encoding, shown masked."""

    def value(self, name: str) -> str:
        return f"~secret~{name}~"  # `~` is in no secret's name, and percent-encoding leaves it be

    def mask(self, text: str) -> str:
        return re.sub(r"~secret~([A-Za-z0-9_.\-]+)~", lambda m: masked(m.group(1)), text)


class _PreviewStep(dict[str, str]):
    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def get(self, key: str, default: Any = None) -> str:
        return f"steps.{self.step}.{key}"


class _PreviewKept(dict[str, _PreviewStep]):
    def get(self, step: str, default: Any = None) -> _PreviewStep:
        return _PreviewStep(step)


PREVIEW_SECRETS = _PreviewSecrets()


def preview_scope(values: dict[str, Any]) -> dict[str, Any]:
    """A preview's scope over incident `values`."""
    return {**values, "steps": _PreviewKept(), "secrets": PREVIEW_SECRETS}
