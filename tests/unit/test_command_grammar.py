"""The slash-command grammar and the setting-change words, as plain functions: every form each face
accepts, and what a mistake is told."""

from __future__ import annotations

import pytest

from engine.config_changes import SettingError, parse_setting_change
from handlers.slack.listeners.command_parsing import (
    AuditTrail,
    ChangeConfig,
    Help,
    KillSwitchOff,
    KillSwitchOn,
    KillSwitchStatus,
    Rerun,
    Runbooks,
    ShowConfig,
    Status,
    UsageError,
    parse_autoresolve,
    parse_killswitch,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("help", Help()),
        ("STATUS", Status()),
        ("runbooks", Runbooks()),
        ("audit INC-7", AuditTrail("INC-7")),
        ("config", ShowConfig(None)),
        ("config Database", ShowConfig("database")),
        ("INC-7", Rerun("INC-7", force=False)),
        ("INC-7 force", Rerun("INC-7", force=True)),
        ("config database threshold 0.95", ChangeConfig("database", {"confidence_threshold": 0.95})),
    ],
)
def test_autoresolve_reads_each_sub_command(text, command):
    assert parse_autoresolve(text) == command


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("audit", "`audit` takes one incident id"),
        ("audit a b", "`audit` takes one incident id"),
        ("audit ../etc", "`../etc` is not an incident id"),
        ("config Data!", "`Data!` is not a category name"),
        ("config database threshold 0.2", "threshold must be between 0.5 and 1"),
        ("INC-7 now please", "`INC-7 now please` is not a sub-command"),
    ],
)
def test_autoresolve_names_the_mistake_and_gives_the_usage(text, problem):
    with pytest.raises(UsageError) as refused:
        parse_autoresolve(text)
    assert str(refused.value) == problem
    assert refused.value.usage.startswith("*Usage:* `/autoresolve")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", KillSwitchStatus()),
        ("status", KillSwitchStatus()),
        ("on", KillSwitchOn(None, None)),
        ("on 30m db migration", KillSwitchOn("30m", "db migration")),
        ("on 5 hosts down", KillSwitchOn(None, "5 hosts down")),  # a bare number is reason, not seconds
        ("ON 2H", KillSwitchOn("2h", None)),
        ("off all clear", KillSwitchOff("all clear")),
    ],
)
def test_killswitch_reads_a_duration_only_with_its_unit(text, command):
    assert parse_killswitch(text) == command


def test_killswitch_refuses_anything_else_with_its_usage():
    with pytest.raises(UsageError) as refused:
        parse_killswitch("maybe")
    assert refused.value.usage.startswith("*Usage:* `/killswitch")


@pytest.mark.parametrize(
    ("words", "changes"),
    [
        (["enable"], {"auto_resolution_enabled": True}),
        (["disable"], {"auto_resolution_enabled": False}),
        (["dry-run", "on"], {"dry_run": True}),
        (["retries", "4"], {"max_retry_attempts": 4}),
        (["approval", "0.7"], {"approval_floor": 0.7}),
        (["approval", "off"], {"approval_floor": None}),
        (["approval-timeout", "2h"], {"approval_timeout_seconds": 7200.0}),
        (["budget", "3", "per", "1h"], {"failure_budget": 3, "failure_window_seconds": 3600.0}),
        (["budget", "off"], {"failure_budget": 0}),
        (["over-limit", "skip"], {"over_limit": "skip"}),
        (["pause"], {"paused_reason": "paused by hand"}),
        (["resume"], {"paused_reason": None}),
        (["NOTIFY", "Off"], {"notification_required": False}),
    ],
)
def test_each_setting_change_maps_to_its_fields(words, changes):
    assert parse_setting_change(words) == changes


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ([], "no setting given"),
        (["retries", "many"], "retries must be a number, not `many`"),
        (["retries", "11"], "retries must be between 0 and 10"),
        (["dry-run", "maybe"], "dry-run takes `on` or `off`"),
        (["approval-timeout", "soon"], "approval-timeout: "),
        (["colour", "blue"], "`colour blue` is not a setting change"),
    ],
)
def test_a_setting_change_that_does_not_read_says_why(words, problem):
    with pytest.raises(SettingError) as refused:
        parse_setting_change(words)
    assert str(refused.value).startswith(problem)
