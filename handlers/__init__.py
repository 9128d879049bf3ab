"""The faces of the bot, kept thin: REST API, webhooks, Slack, metrics and health (docs/architecture.md)."""
