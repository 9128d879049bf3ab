"""What every alert source's adapter shares: its mapping, filled from its own settings; the P1-P5
priorities the vendors use; and a payload validated with its first fault named by field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import InvalidInput
from engine.source_mapping import SourceMapping
from handlers.webhooks.intake import validation_errors
from settings import Settings

PRIORITY = {"P1": "critical", "P2": "high", "P3": "medium", "P4": "low", "P5": "low"}
Model = TypeVar("Model", bound=BaseModel)


def source_mapping(settings: Settings, source: str, id_prefix: str) -> SourceMapping:
    """The source's mapping, from its settings (`<source>_category_label`, `<source>_default_*`...)."""
    return SourceMapping(
        source=source,
        id_prefix=id_prefix,
        setting_prefix=f"{source.upper()}_",
        category_label=getattr(settings, f"{source}_category_label"),
        confidence_label=getattr(settings, f"{source}_confidence_label"),
        creator_label=getattr(settings, f"{source}_creator_label"),
        default_category=getattr(settings, f"{source}_default_category"),
        default_confidence=getattr(settings, f"{source}_default_confidence"),
        default_creator=getattr(settings, f"{source}_default_creator"),
        service_label=getattr(settings, f"{source}_service_label"),
        dedup_label=getattr(settings, f"{source}_dedup_label"),
    )


def validated(model: type[Model], document: Any, prefix: str) -> Model:
    """The document as `model`, or InvalidInput naming the first fault's field (under `prefix`)."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = validation_errors(exc, prefix)[0]
        raise InvalidInput(first["field"], first["message"]) from None
