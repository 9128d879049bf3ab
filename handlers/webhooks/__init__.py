"""Incident webhooks in (generic JSON, Alertmanager), authenticated; results out to callbacks."""
