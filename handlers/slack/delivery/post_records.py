"""The outbox rows of a Slack post, around its call: marked `sending` before it (durable before the
call goes out: that is what makes a lost answer a lookup, not a second post), settled after it.

Both go through the runtime's group commit, so concurrent lanes (and the runs beside them) share
commits instead of queueing for the database writer one transaction each. A settle is not waited
for: until it commits, the rows stay `sending`, which holds their lane (nothing behind them is sent),
and should it never commit, the post is found in Slack by its metadata like any lost answer. Where a
keyed post went is known here at once, for the same lane's thread entries and updates that follow it
before its settle commits.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from datetime import timedelta
from functools import partial

from storage import outbox
from storage.group_commit import GroupCommitter
from storage.outbox import OutboxMessage, Posted

log = logging.getLogger(__name__)


class PostRecords:
    def __init__(self, writes: GroupCommitter) -> None:
        self._writes = writes
        self._settling: dict[str, Posted] = {}  # keyed posts whose settle is not committed yet
        self._lock = threading.Lock()

    def sending(self, ids: list[int], look_after: timedelta) -> bool:
        """Mark the rows `sending` and wait until it is committed; False if another deliverer has
        settled them since they were read."""
        return bool(
            self._writes.submit(partial(outbox.mark_sending, ids=ids, look_after=look_after)).result()
        )

    def sent(self, message: OutboxMessage, superseded: list[int], posted: Posted | None) -> None:
        """Slack took `message` (and the `superseded` rows with it): settle them, without waiting."""
        if posted is not None:
            with self._lock:
                self._settling[posted.message_key] = posted
        done = self._writes.submit(
            partial(outbox.settle_sent, message=message, superseded=superseded, posted=posted)
        )
        done.add_done_callback(partial(self._settled, message.id, posted))

    def posted(self, message_key: str) -> Posted | None:
        """Where the keyed message was posted, if it was."""
        with self._lock:
            settling = self._settling.get(message_key)
        if settling is not None:
            return settling
        row = outbox.posted(message_key=message_key)
        return Posted(row.message_key, row.channel, row.ts) if row is not None else None

    def _settled(self, outbox_id: int, posted: Posted | None, done: Future[None]) -> None:
        if posted is not None:
            with self._lock:
                if self._settling.get(posted.message_key) is posted:
                    del self._settling[posted.message_key]
        if done.exception() is not None:  # its rows stay `sending`: looked for in Slack, not sent again
            log.warning("settling outbox %s failed: %s", outbox_id, done.exception())
