"""Where a DM goes. A DM lane's address is a Slack user ID or an e-mail address, looked up once (a
Tier 3 call); a post goes to the user's ID, for which Slack opens the conversation and answers its
channel ID, remembered from then on. Looking for a lost post needs that channel: opened if unknown."""

from __future__ import annotations

from collections.abc import Callable

from storage.lanes import Lane, LaneKind


class DmChannels:
    def __init__(self) -> None:
        self._user_ids: dict[str, str] = {}  # e-mail -> user ID
        self._channels: dict[str, str] = {}  # user ID -> its DM channel's ID

    def unknown_email(self, lane: Lane) -> bool:
        """Whether the lane's first call would be an e-mail lookup."""
        return lane.kind is LaneKind.SLACK_DM and "@" in lane.address and lane.address not in self._user_ids

    def target(
        self, who: str, look_up: Callable[[str], str], open_channel: Callable[[str], str] | None = None
    ) -> str:
        """The channel (or, for a post, the user ID) to call with for `who`; `look_up(email)` and
        `open_channel(user_id)` call Slack when nothing is known yet (no `open_channel`: a post)."""
        user_id = self._user_ids.get(who) if "@" in who else who
        if user_id is None:
            user_id = self._user_ids[who] = look_up(who)
        channel = self._channels.get(user_id)
        if channel is None and open_channel is not None:
            channel = self._channels[user_id] = open_channel(user_id)
        return channel or user_id

    def answered(self, posted_to: str, channel: str) -> None:
        """Slack's answer to a post: where a post to a user ID went."""
        if posted_to[:1] in ("U", "W"):
            self._channels[posted_to] = channel
