"""Slack: the Bolt app and its listeners, Block Kit builders, and delivery of queued messages."""
