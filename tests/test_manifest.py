"""manifest.yml is importable as is: the commands, scopes, events and interactivity the bot uses."""

from __future__ import annotations

from pathlib import Path

import yaml

MANIFEST = yaml.safe_load((Path(__file__).parents[1] / "manifest.yml").read_text())


def test_both_commands_with_usage_hints_point_at_the_events_endpoint():
    commands = {c["command"]: c for c in MANIFEST["features"]["slash_commands"]}
    assert set(commands) == {"/autoresolve", "/killswitch"}
    for command in commands.values():
        assert command["url"].endswith("/slack/events")
        assert command["usage_hint"]
        assert command["description"]


def test_scopes_events_and_interactivity():
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "im:write",
        "users:read",
        "users:read.email",
        "channels:history",
        "groups:history",
        "im:history",
    }
    settings = MANIFEST["settings"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    assert MANIFEST["_metadata"]["major_version"] == 1
