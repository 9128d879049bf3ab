"""`db upgrade`: apply pending schema migrations."""

from __future__ import annotations

import argparse

from settings import Settings
from storage import migrations
from storage.database import bind, open_database


def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    bind(open_database(settings.database_url))
    applied = migrations.upgrade()
    version = migrations.current_version()
    print(
        f"applied {applied}; schema version {version}"
        if applied
        else f"up to date (schema version {version})"
    )
    return 0
