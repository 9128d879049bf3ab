"""The outbox's records of where keyed messages went, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from storage import outbox, statements
from storage.models import SlackMessage

pytestmark = pytest.mark.usefixtures("database")


def test_a_keyed_message_posted_again_is_found_at_its_new_place():
    assert outbox.posted(message_key="incident:INC-1") is None
    outbox.record_posted(message_key="incident:INC-1", channel="C0AUDIT", ts="1.000100")
    outbox.record_posted(message_key="incident:INC-1", channel="C0AUDIT", ts="2.000200")  # after a deletion
    found = outbox.posted(message_key="incident:INC-1")
    assert found is not None
    assert (found.channel, found.ts) == ("C0AUDIT", "2.000200")
    assert statements.count(SlackMessage) == 1
