"""Persistence: peewee models, queries and schema migrations; SQLite by default, PostgreSQL by URL."""
