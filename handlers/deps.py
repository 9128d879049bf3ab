"""The services a route may ask for by type (FastAPI dependencies), from the app's Services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from slack_bolt import App

from engine.configuration import ConfigurationService
from engine.service import ResolutionService
from handlers.services import Services
from settings import Settings


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# Async, so that FastAPI resolves them in the event loop (a sync dependency costs a thread hop).
async def _settings(request: Request) -> Settings:
    return services_of(request).settings


async def _configuration(request: Request) -> ConfigurationService:
    return services_of(request).configuration


async def _resolution(request: Request) -> ResolutionService:
    return services_of(request).resolution


async def _services(request: Request) -> Services:
    return services_of(request)


async def _bolt(request: Request) -> App | None:
    return services_of(request).bolt


SettingsDep = Annotated[Settings, Depends(_settings)]
ConfigurationDep = Annotated[ConfigurationService, Depends(_configuration)]
ResolutionDep = Annotated[ResolutionService, Depends(_resolution)]
ServicesDep = Annotated[Services, Depends(_services)]
BoltDep = Annotated[App | None, Depends(_bolt)]
