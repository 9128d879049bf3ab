"""Where an alert source's incident fields come from: which label (or annotation) holds the category,
the confidence, the creator, the service and the dedup key, and what to use when an alert has none.
One mechanism for every source; each source's settings fill one in (`<SOURCE>_CATEGORY_LABEL`,
`<SOURCE>_DEFAULT_CONFIDENCE`, ...), so every source's alerts map the same way, each with its own names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceMapping:
    source: str  # what incidents from it record as their source, e.g. "grafana"
    id_prefix: str  # incident ids are <prefix>-<fingerprint>-<start>
    setting_prefix: str  # its settings' names start with this, e.g. GRAFANA_
    category_label: str = "category"
    confidence_label: str = "confidence"
    creator_label: str = "created_by"
    default_category: str | None = None
    default_confidence: float | None = None
    default_creator: str | None = None
    service_label: str = "service"
    dedup_label: str | None = None  # unset: the vendor's own key (fingerprint, alias, cycle key)

    def read(
        self,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        *,
        service: str | None = None,
        dedup_key: str | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The category, confidence, creator, service and dedup key (`fingerprint`) of one alert, and
        what is missing or unreadable (each named by the label to set, and the setting that would
        supply it). `service` and `dedup_key` are the vendor's own, used when no label names them."""
        problems: list[dict[str, str]] = []

        def lookup(name: str) -> str | None:
            return labels.get(name) or annotations.get(name)

        def missing(label: str, setting: str) -> None:
            problems.append(
                {
                    "field": f"labels.{label}",
                    "message": f"missing (set the label, or {self.setting_prefix}{setting})",
                }
            )

        category = lookup(self.category_label) or self.default_category
        if not category:
            missing(self.category_label, "DEFAULT_CATEGORY")
        confidence = self.default_confidence
        raw = lookup(self.confidence_label)
        if raw is not None:
            try:
                confidence = float(raw)
            except ValueError:
                problems.append({"field": f"labels.{self.confidence_label}", "message": "not a number"})
        elif confidence is None:
            missing(self.confidence_label, "DEFAULT_CONFIDENCE")
        creator = lookup(self.creator_label) or self.default_creator
        if not creator:
            missing(self.creator_label, "DEFAULT_CREATOR")
        service = lookup(self.service_label) or service
        if self.dedup_label:
            dedup_key = lookup(self.dedup_label) or dedup_key
        fields = {
            "category": (category or "").lower(),
            "confidence_score": confidence,
            "created_by": creator,
            "service": service[:200] if service else None,
            "fingerprint": dedup_key[:200] if dedup_key else None,
        }
        return fields, problems
