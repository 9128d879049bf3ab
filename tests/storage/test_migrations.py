"""Schema migrations upgrade a database in place without losing rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import peewee
import pytest

from storage import config_store, migrations
from storage.audit import AuditEntry
from storage.config_store import CategorySetting
from storage.database import bind, db, in_write_transaction, open_database
from storage.fields import utcnow
from storage.incidents import Incident
from storage.runs import Run
from storage.schema import ALL_MODELS

pytestmark = pytest.mark.usefixtures("database_url")


@pytest.fixture
def seed_database(database_url: str) -> str:
    """A database at schema version 1 (the seed's), holding the seed's kind of rows."""
    bind(open_database(database_url))
    assert migrations.upgrade(target=1) == [1]
    now = utcnow().replace(tzinfo=None)
    with db.connection_context():
        peewee.Table("incident").bind(db).insert(
            incident_id="SEED-1",
            title="Old incident",
            description="from the seed",
            category="database",
            priority="high",
            status="auto_resolved",
            confidence_score=0.97,
            created_by="U0SEED",
            created_at=now,
            updated_at=now,
            auto_resolved=True,
            tags='["legacy"]',
        ).execute()
        peewee.Table("audit_log").bind(db).insert(
            audit_id="a" * 32,
            timestamp=now,
            action="auto_resolution_success",
            incident_id="SEED-1",
            actor="system",
            details='{"note": "seed"}',
            success=True,
        ).execute()
        category = peewee.Table("category_config").bind(db)
        category.update({category.c.confidence_threshold: 0.95}).where(
            category.c.category == "database"
        ).execute()
        glob = peewee.Table("global_config").bind(db)
        glob.update({glob.c.global_enabled: False}).execute()
    return database_url


def test_upgrade_from_the_seed_schema_keeps_every_row(seed_database):
    assert migrations.current_version() == 1
    assert migrations.upgrade() == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert migrations.current_version() == migrations.LATEST_VERSION

    with db.connection_context():
        incident = Incident.get(Incident.incident_id == "SEED-1")
        assert (incident.title, incident.status, incident.tags) == (
            "Old incident",
            "auto_resolved",
            ["legacy"],
        )
        assert incident.labels == {}
        assert incident.resolution_status == "received"
        assert incident.received_at == incident.created_at  # carried over by migration 4
        entry = AuditEntry.get(AuditEntry.audit_id == "a" * 32)
        assert (entry.action, entry.details, entry.run_id) == (
            "auto_resolution_success",
            {"note": "seed"},
            None,
        )
        database = CategorySetting.get_by_id("database")
        assert (database.confidence_threshold, database.dry_run, database.approval_floor) == (
            0.95,
            False,
            None,
        )
        assert CategorySetting.select().count() == 6
    kill_switch = config_store.get_global()
    assert kill_switch.kill_switch_active is True  # the seed's global_enabled=false carried over
    assert kill_switch.kill_switch_actor == "seed-migration"


def test_upgraded_schema_has_every_column_the_models_use(seed_database):
    migrations.upgrade()
    with db.connection_context():
        for model in ALL_MODELS:
            table = model._meta.table_name
            stored = {column.name for column in db.get_columns(table)}
            assert set(model._meta.columns) == stored, table


def test_a_fresh_database_gets_the_same_schema(database_url):
    bind(open_database(database_url))
    assert migrations.upgrade() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert migrations.upgrade() == []  # idempotent
    with db.connection_context():
        for model in ALL_MODELS:
            stored = {column.name for column in db.get_columns(model._meta.table_name)}
            assert set(model._meta.columns) == stored


def test_the_database_refuses_two_active_runs_of_one_incident(database_url):
    bind(open_database(database_url))
    migrations.upgrade()
    fields = {"incident_id": "INC-1", "runbook_id": "x", "dry_run": False, "forced": False}
    with in_write_transaction():
        first = Run.create(status="queued", **fields)
    with pytest.raises(peewee.IntegrityError), in_write_transaction():
        Run.create(status="queued", **fields)
    with in_write_transaction():
        Run.update(status="resolved").where(Run.id == first.id).execute()
        Run.create(status="queued", **fields)  # a finished run does not block a new one


def test_a_percent_encoded_database_password_reaches_the_driver_decoded():
    database = open_database("postgresql://ops%40eu:p%40ss%2Fw0rd@db.internal:6432/auto%2Dresolve")
    params = database.connect_params
    assert (params["user"], params["password"], params["host"], params["port"]) == (
        "ops@eu",
        "p@ss/w0rd",
        "db.internal",
        6432,
    )
    assert database.database == "auto-resolve"
