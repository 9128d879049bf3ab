"""How numbers read wherever the bot shows them (Slack, the console, the CLI)."""

from __future__ import annotations


def percent(value: float) -> str:
    """A confidence or a threshold as people read it: 0.9 -> 90.00%."""
    return f"{value * 100:.2f}%"
