"""Slack's messages out: the announcer queues what the engine tells, the deliverer sends the outbox
within Slack's limits, each message once."""
