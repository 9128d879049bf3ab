"""REST: read and change configuration, and the kill switch (the seed's endpoints and shapes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from engine.actors import acting_for
from engine.configuration import ConfigurationService
from engine.incident import CATEGORY_PATTERN
from engine.text import Line, Prose
from handlers.auth import api_caller, require_api_token
from handlers.deps import ConfigurationDep
from handlers.errors import documented_errors
from handlers.schemas import (
    AutoResolutionConfig,
    CategoryConfig,
    ConfigUpdateRequest,
    KillSwitchRequest,
)
from handlers.serializers import category_view, kill_switch_view

router = APIRouter(
    prefix="/api/v1/config",
    tags=["Configuration"],
    dependencies=[Depends(require_api_token)],
    responses=documented_errors(401, 422),
)
OnBehalfOf = Annotated[
    Line | None,
    Query(
        max_length=320,
        description="On whose behalf (recorded as on_behalf_of; who acts is the API token's name)",
    ),
]


def current_config(configuration: ConfigurationService) -> AutoResolutionConfig:
    now = configuration.snapshot()
    return AutoResolutionConfig(
        global_enabled=not now.kill_switch.active,
        default_confidence_threshold=now.default_confidence_threshold,
        category_configs={c.category: category_view(c) for c in now.categories},
        max_concurrent_resolutions=now.max_concurrent_resolutions,
        notification_recipients=now.notification_recipients,
        kill_switch=kill_switch_view(now.kill_switch),
    )


@router.get("", response_model=AutoResolutionConfig)
def get_configuration(configuration: ConfigurationDep) -> AutoResolutionConfig:
    """Current configuration: global settings, every category, and the kill switch."""
    return current_config(configuration)


@router.put("", response_model=AutoResolutionConfig)
def update_configuration(
    request: Request,
    configuration: ConfigurationDep,
    update_request: ConfigUpdateRequest,
    actor: OnBehalfOf = None,
) -> AutoResolutionConfig:
    """Change global settings and/or one category (a new category name adds it).

    `global_enabled: false` activates the kill switch and `true` deactivates it, as in the seed.
    """
    changes = update_request.model_dump(exclude_unset=True, exclude={"global_enabled", "category_config"})
    behalf, actor = actor, api_caller(request)
    with acting_for(behalf):
        if changes:
            configuration.update_global(actor=actor, changes=changes)
        if update_request.category_config is not None:
            category_changes = update_request.category_config.model_dump(
                exclude_unset=True, exclude={"category"}
            )
            configuration.update_category(
                category=update_request.category_config.category,
                actor=actor,
                changes=category_changes,
                create=True,
            )
        if update_request.global_enabled is False:
            configuration.activate_kill_switch(actor=actor, reason="global_enabled set to false")
        elif update_request.global_enabled is True and configuration.kill_switch().active:
            configuration.deactivate_kill_switch(actor=actor, reason="global_enabled set to true")
    return current_config(configuration)


@router.get("/category/{category}", response_model=CategoryConfig, responses=documented_errors(404))
def get_category_config(
    configuration: ConfigurationDep, category: Annotated[str, Path(pattern=CATEGORY_PATTERN)]
) -> CategoryConfig:
    """One category's settings; 404 if the category is not configured."""
    return category_view(configuration.category(category))


def _kill_switch_args(
    body: KillSwitchRequest | None, actor: str | None, reason: str | None, duration: str | None
) -> tuple[str | None, str | None, str | None]:
    """On whose behalf, why and for how long: query parameters (the seed's way) or a JSON body;
    the query wins where both are given. The duration stays text: the engine reads it, as for
    every face."""
    body = body or KillSwitchRequest()
    raw_duration = duration if duration is not None else body.duration
    return (actor or body.actor, reason if reason is not None else body.reason, raw_duration)


@router.post("/kill-switch/activate", response_model=AutoResolutionConfig)
def activate_kill_switch(
    request: Request,
    configuration: ConfigurationDep,
    body: Annotated[KillSwitchRequest | None, Body()] = None,
    actor: OnBehalfOf = None,
    reason: Annotated[Prose | None, Query(max_length=1000)] = None,
    duration: Annotated[
        Line | None, Query(max_length=100, description="e.g. 30m; off by itself afterwards (at most 30 days)")
    ] = None,
) -> AutoResolutionConfig:
    """EMERGENCY: stop all automation now; runs in flight stop at once.

    While it is on, this keeps it on longer (a later end, or none) and adds the reason; it never
    ends it sooner (deactivate for that). A duration is capped at 30 days; an unreadable one is a 422.
    """
    behalf, why, span = _kill_switch_args(body, actor, reason, duration)
    with acting_for(behalf):
        change = configuration.activate_kill_switch(
            actor=api_caller(request), reason=why or "Emergency activation", duration=span
        )
    answer = current_config(configuration)
    answer.notes = list(change.notes)
    return answer


@router.post("/kill-switch/deactivate", response_model=AutoResolutionConfig)
def deactivate_kill_switch(
    request: Request,
    configuration: ConfigurationDep,
    body: Annotated[KillSwitchRequest | None, Body()] = None,
    actor: OnBehalfOf = None,
    reason: Annotated[Prose | None, Query(max_length=1000)] = None,
) -> AutoResolutionConfig:
    """Let automation run again."""
    behalf, why, _ = _kill_switch_args(body, actor, reason, None)
    with acting_for(behalf):
        configuration.deactivate_kill_switch(actor=api_caller(request), reason=why)
    return current_config(configuration)
