"""The resolution engine: decision gates, runbooks, step executors and runs; no Slack, no web."""
