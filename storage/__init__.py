"""Persistence: each table with its queries, the outbox, the audit chain and the migrations; SQLite by
default, PostgreSQL by URL."""
