"""The faces of the bot, kept thin: HTTP API, health and (later) Slack listeners and webhooks."""
