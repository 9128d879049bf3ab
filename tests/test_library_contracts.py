"""Private parts of libraries the bot overrides, where they offer no public extension point. Their
versions are pinned (requirements.txt); these tests hold the contract each override relies on, so
an upgrade that changes it fails here, by name, instead of quietly changing behaviour."""

from __future__ import annotations

import inspect

import peewee
import slack_sdk
from playhouse.pool import PooledPostgresqlDatabase
from slack_sdk import WebClient

from storage.database import RecentlyCheckedPostgresPool
from storage.incidents import Incident


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_slack_sdk_sends_every_call_through_the_method_the_keep_alive_client_replaces():
    """handlers/slack/delivery/web_client.py replaces how a request is sent (slack_sdk has no
    transport hook for the sync client): every call must still come through that one method."""
    assert slack_sdk.version.__version__ == "3.48.0"
    assert parameters(WebClient._perform_urllib_http_request_internal) == ["self", "url", "req"]
    assert "self._perform_urllib_http_request_internal(" in inspect.getsource(
        WebClient._perform_urllib_http_request
    )


def test_peewee_pool_checks_and_closes_connections_through_the_methods_the_pool_overrides():
    """storage/database.py's pool skips the liveness round trip for a connection handed back a
    moment ago: it relies on the pool asking _is_closed on check-out, _close on check-in and
    _close_raw to drop one, and on conn_key to tell connections apart."""
    assert peewee.__version__ == "4.5.3"  # type: ignore[attr-defined]
    assert parameters(PooledPostgresqlDatabase._is_closed) == ["self", "conn"]
    assert parameters(PooledPostgresqlDatabase._close) == ["self", "conn", "close_conn"]
    assert parameters(PooledPostgresqlDatabase._close_raw) == ["self", "conn"]
    pool = RecentlyCheckedPostgresPool("unused", max_connections=1)  # connects only when used
    assert callable(pool.conn_key)
    assert "self._is_closed(" in inspect.getsource(PooledPostgresqlDatabase._connect)
    assert "self._close_raw(" in inspect.getsource(PooledPostgresqlDatabase._close)


def test_peewee_builds_a_row_without_defaults_from_its_data_as_statements_does():
    """storage/statements.py builds rows as peewee's own reads do: no defaults, then __data__."""
    row = Incident(__no_default__=1)
    assert row.__data__ == {}
    row.__data__ = {"incident_id": "INC-1", "title": "t"}
    assert (row.incident_id, row.title, row.dirty_fields) == ("INC-1", "t", [])
