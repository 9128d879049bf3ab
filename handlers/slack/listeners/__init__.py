"""Slack's requests in (slash commands, button clicks, events; over HTTP or Socket Mode): verified,
parsed, handed to the engine and answered."""
