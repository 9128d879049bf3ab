"""The outbox under faults: Slack down, then rate-limiting; every message arrives, none twice."""

from __future__ import annotations

import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.slack.delivery.deliverer import SlackDelivery
from handlers.slack.delivery.pacing import SlackPacer, TokenBucket
from storage import outbox
from storage.lanes import Lane
from storage.outbox import OutboxMessage
from tests.conftest import eventually, wired_runtime
from tests.handlers.slack.conftest import ADMIN, AUDIT_CHANNEL, CREATOR, RUNBOOKS, SlackBot
from tests.support.slack_emulator import DROPPED, Call, SlackEmulator
from tests.support.slack_requests import SIGNING_SECRET


def outbox_rows(bot: SlackBot) -> dict[str, int]:
    return {"pending": outbox.backlog().get("slack", 0)}


def test_messages_queued_while_slack_is_down_arrive_once_when_it_is_back(make_bot):
    bot = make_bot(
        slack_channel_rate=20, slack_channel_burst=20
    )  # the channel rate is not this test's subject
    ids = [f"INC-{n}" for n in range(1, 6)]
    bot.slack.down()
    for incident_id in ids:
        assert bot.incident(incident_id)["success"] is True  # runs do not wait for Slack
    # deliveries fail and back off meanwhile
    eventually(lambda: OutboxMessage.select().where(OutboxMessage.attempts >= 1).exists())
    assert outbox_rows(bot)["pending"] > 0

    bot.slack.up()
    bot.slack.rate_limit("chat.postMessage", times=2, retry_after=1)
    bot.slack.rate_limit("chat.update", times=1, retry_after=1)

    dm_channel = "D" + CREATOR[1:]

    def delivered() -> bool:
        top = bot.slack.top_level(AUDIT_CHANNEL)
        return (
            len(bot.slack.channel(dm_channel)) >= len(ids)
            and len(top) >= len(ids)
            and all("resolved" in m.text for m in top)
            and outbox_rows(bot)["pending"] == 0
        )

    eventually(delivered, timeout=60)
    dms = sorted(m.text for m in bot.slack.channel(dm_channel))
    assert dms == sorted(f"Incident {i} was resolved automatically." for i in ids)  # each once
    top = bot.slack.top_level(AUDIT_CHANNEL)
    assert sorted(m.text.split(":")[0] for m in top) == ids  # one message per incident
    assert bot.audit(action="notification_failed") == []
    assert_waited_after_429(bot.slack.calls)
    assert bot.slack.calls_to("conversations.history") == []  # refused connections: nothing to look for


def assert_waited_after_429(calls: list[Call]) -> None:
    """After a 429 for a channel, nothing more went to that channel before Retry-After (1 s) passed."""
    posts = [c for c in calls if c.method == "chat.postMessage"]
    for index, call in enumerate(posts[:2]):  # the two rate-limited answers came first
        later = [c for c in posts[index + 1 :] if c.params.get("channel") == call.params.get("channel")]
        if later:
            assert later[0].at - call.at >= 0.95, (call.params.get("channel"), later[0].at - call.at)


def test_server_errors_are_retried_and_the_message_posted_once(bot):
    bot.slack.fail("chat.postMessage", times=2, status=503)
    bot.incident()
    dm_channel = "D" + CREATOR[1:]
    eventually(lambda: bot.slack.channel(dm_channel), timeout=30)
    eventually(lambda: outbox_rows(bot)["pending"] == 0, timeout=30)
    assert len(bot.slack.channel(dm_channel)) == 1
    assert len(bot.slack.top_level(AUDIT_CHANNEL)) == 1


def test_a_post_whose_answer_was_lost_is_found_in_slack_not_posted_again(bot):
    """Slack kept the post, but the bot never learnt so: one answer never came (the connection
    closed), the other was a 500 (internal_error: some of it may have been done); and the first
    look into a channel's history was rate-limited. Each post is found there, not posted twice."""
    bot.slack.keep_then_lose_answer("chat.postMessage", status=DROPPED)
    bot.slack.keep_then_lose_answer("chat.postMessage", status=500)
    bot.slack.rate_limit("conversations.history", times=1, retry_after=1)
    bot.incident()
    dm_channel = "D" + CREATOR[1:]

    def settled() -> bool:
        top = bot.slack.top_level(AUDIT_CHANNEL)
        return outbox_rows(bot)["pending"] == 0 and bool(top) and "resolved" in top[0].text

    eventually(settled, timeout=30)
    posts = bot.slack.calls_to("chat.postMessage")
    assert [call.status for call in posts[:2]] == [DROPPED, 500]  # the DM and the channel's first post
    assert [m.text for m in bot.slack.channel(dm_channel)] == ["Incident INC-1 was resolved automatically."]
    (top,) = bot.slack.top_level(AUDIT_CHANNEL)
    assert bot.slack.thread(AUDIT_CHANNEL, top.ts)  # the steps went under the post that was found
    assert [call.status for call in bot.slack.calls_to("conversations.history")][:1] == [429]
    assert len(bot.slack.calls_to("conversations.history")) == 3  # each lost answer looked for once
    assert bot.audit(action="notification_failed") == []


def test_a_lost_post_is_found_past_the_first_page_of_a_busy_channel(bot):
    """People wrote in the channels after the posts whose answers were lost: the lookup pages on."""
    bot.slack.keep_then_lose_answer("chat.postMessage", times=2, status=500)
    bot.slack.rate_limit("conversations.history", times=1, retry_after=2)  # time to add the chatter
    bot.incident()
    dm_channel = "D" + CREATOR[1:]
    eventually(lambda: bot.slack.channel(dm_channel) and bot.slack.top_level(AUDIT_CHANNEL))
    for channel in (dm_channel, AUDIT_CHANNEL):
        bot.slack.post_as_others(channel, 250)  # newer than the lost posts: a page of 200 misses them

    def ours(channel: str) -> list[str]:
        return [m.text for m in bot.slack.top_level(channel) if not m.text.startswith("chatter")]

    eventually(lambda: outbox_rows(bot)["pending"] == 0 and "resolved" in ours(AUDIT_CHANNEL)[0], timeout=30)
    assert ours(dm_channel) == ["Incident INC-1 was resolved automatically."]
    assert len(ours(AUDIT_CHANNEL)) == 1
    cursors = [call.params.get("cursor") for call in bot.slack.calls_to("conversations.history")]
    assert cursors.count("200") == 2  # each lookup asked for the second page


def posts_to(bot: SlackBot, channel: str) -> list[Call]:
    return [c for c in bot.slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def test_a_hanging_slack_times_out_and_is_retried(make_bot):
    bot = make_bot(slack_timeout_seconds=1)
    bot.slack.hang("chat.postMessage", 3, channel=CREATOR)  # the DM, longer than the client's time-out
    bot.incident()
    eventually(lambda: posts_to(bot, CREATOR), timeout=10)
    bot.slack.hang("chat.postMessage", 0, channel=CREATOR)
    eventually(lambda: bot.slack.channel("D" + CREATOR[1:]), timeout=60)
    assert len(bot.slack.channel("D" + CREATOR[1:])) == 1


def test_a_hanging_dm_does_not_hold_up_the_audit_channel(bot):
    bot.slack.hang("chat.postMessage", 8, channel=CREATOR)  # the DM only
    bot.incident("INC-1")
    eventually(lambda: posts_to(bot, CREATOR), timeout=10)
    hung_at = time.monotonic()
    bot.incident("INC-2")  # its audit-channel messages must not wait for INC-1's DM

    def channel_shows_resolved() -> bool:
        return any(m.text.startswith("INC-2: resolved") for m in bot.slack.top_level(AUDIT_CHANNEL))

    eventually(channel_shows_resolved, timeout=6)
    assert time.monotonic() - hung_at < 8  # while the DM's call still hangs
    assert bot.slack.channel("D" + CREATOR[1:]) == []
    bot.slack.hang("chat.postMessage", 0, channel=CREATOR)
    eventually(lambda: len(bot.slack.channel("D" + CREATOR[1:])) == 2, timeout=60)


def test_a_held_up_audit_channel_does_not_hold_up_the_dm(bot):
    # The audit channel's post (a configuration notice) is told to wait 30 s: that lane waits, and
    # only that lane.
    bot.slack.rate_limit("chat.postMessage", times=1, retry_after=30)
    bot.command("/autoresolve", "config database retries 2", user=ADMIN)
    eventually(lambda: [c for c in bot.slack.calls_to("chat.postMessage") if c.status == 429])
    bot.incident("INC-1")
    eventually(lambda: bot.slack.channel("D" + CREATOR[1:]), timeout=15)  # the creator's DM goes on
    assert bot.slack.top_level(AUDIT_CHANNEL) == []  # while the channel still waits its turn
    [refused, *_] = bot.slack.calls_to("chat.postMessage")
    assert refused.params["channel"] == AUDIT_CHANNEL


def test_a_stale_read_of_a_lane_never_posts_again(slack, sqlite_url, tmp_path):
    """Two deliverers (threads or replicas) working from one read of a lane: the second finds the
    rows settled in the database and posts nothing."""
    runtime = wired_runtime(
        sqlite_url,
        tmp_path,
        RUNBOOKS,
        recording_notifier=False,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        audit_channel=AUDIT_CHANNEL,
    )
    assert runtime.slack is not None
    runtime.configuration.activate_kill_switch(actor="U0ADMIN", reason="stale read test")  # one post
    lane = Lane.channel(AUDIT_CHANNEL)
    first_read = outbox.lane_messages(lane)
    second_read = outbox.lane_messages(lane)
    assert [m.method for m in first_read] == ["chat.postMessage"]
    delivery = runtime.slack.delivery
    try:
        delivery._drain(lane, first_read)
        delivery._drain(lane, second_read)  # read before the first was sent, as a stale deliverer's
    finally:
        runtime.slack.client.close()  # the runtime was not started, so it is not stopped
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert [m.text[:20] for m in slack.top_level(AUDIT_CHANNEL)] == [":octagonal_sign: Kil"]
    assert outbox.backlog().get("slack", 0) == 0


def test_after_a_429_a_channel_goes_at_half_its_rate_and_wins_it_back_call_by_call():
    bucket = TokenBucket(rate=1.0, capacity=3)
    assert bucket.ready(0.0)  # a burst of three, then one a second
    bucket.empty_until(5.0)  # a 429 with Retry-After up to 5 s
    assert not bucket.ready(4.9)
    assert not bucket.ready(6.5)  # one a second would be ready; half of it is not yet
    assert bucket.ready(7.0)
    bucket.take()
    for _ in range(20):  # each call that goes through wins back a twentieth
        bucket.take()
    assert bucket.current == 1.0
    for _ in range(5):  # 429 after 429: down to a quarter, not further
        bucket.empty_until(10.0)
    assert bucket.current == 0.25


def pacer_at(now: list[float], *, channel_burst: float = 3.0, workspace_burst: float = 20.0) -> SlackPacer:
    """Slack's default pacing (1 post a second a channel, 50 Tier 3 calls a minute, 10 posts a second
    in the workspace), on a clock the test moves."""
    return SlackPacer(
        per_channel_rate=1.0,
        per_channel_burst=channel_burst,
        updates_per_minute=50.0,
        workspace_rate=10.0,
        workspace_burst=workspace_burst,
        clock=lambda: now[0],
    )


def test_only_lanes_that_may_post_now_are_read_and_no_more_than_the_workspace_lets_out():
    now = [0.0]
    pacer = pacer_at(now, channel_burst=1.0, workspace_burst=2.0)
    lanes = [Lane.dm(f"U0{n}") for n in range(5)]
    pacer.rate_limited(lanes[0], "chat.postMessage", 5.0)  # held by its Retry-After
    assert pacer.ready_lanes(lanes) == lanes[1:3]  # the workspace's burst of two, longest waiting first
    assert pacer.take_method("chat.postMessage")
    assert pacer.take_method("chat.postMessage")
    assert pacer.ready_lanes(lanes) == lanes[1:2]  # its budget spent: one lane, which may have an update
    now[0] = 6.0
    assert pacer.ready_lanes(lanes) == lanes[:2]  # the hold is over
    channel = Lane.channel("C0AUDIT")
    assert pacer.ready_lanes([*lanes, channel]) == [channel, lanes[0]]  # where approvals wait goes first


def test_after_a_429_a_channel_gets_no_more_bursts():
    bucket = TokenBucket(rate=1.0, capacity=3)
    assert bucket.ready(0.0)
    for _ in range(3):  # a burst of three while it is quiet
        bucket.take()
    assert not bucket.ready(0.5)
    bucket.empty_until(1.0)  # refused: Slack's window does not take bursts this busy
    for _ in range(20):
        bucket.take()  # its rate won back
    bucket.tokens = 0.0
    assert bucket.ready(100.0)  # long quiet: one call's worth, not three
    bucket.take()
    assert not bucket.ready(100.0)


def test_a_message_slack_refuses_is_audited_and_the_channel_goes_on(bot):
    bot.slack.refuse("chat.postMessage", "not_allowed_token_type")  # an error that fails every time
    bot.incident("INC-1")
    bot.incident("INC-2")
    eventually(lambda: bot.audit(action="notification_failed"))
    [failed] = bot.audit(action="notification_failed")
    assert failed["error_message"] == "chat.postMessage: not_allowed_token_type"
    # everything behind the refused one (INC-1's first post, to the channel or the DM) still arrives
    eventually(lambda: any(m.text.startswith("INC-2: resolved") for m in bot.slack.top_level(AUDIT_CHANNEL)))
    eventually(lambda: any("INC-2" in m.text for m in bot.slack.channel("D" + CREATOR[1:])))


def test_a_message_slack_finds_too_big_is_sent_as_a_shorter_fallback(bot):
    bot.slack.refuse("chat.postMessage", "msg_blocks_too_long")
    bot.incident("INC-1")

    def fallback() -> list[str]:  # INC-1's first post: its audit-channel message, or its DM
        posts = bot.slack.top_level(AUDIT_CHANNEL) + bot.slack.channel("D" + CREATOR[1:])
        return [m.text for m in posts if "Slack refused the full message" in m.text]

    eventually(fallback)
    [text] = fallback()
    assert "INC-1" in text.split("\n")[0]
    assert "msg_blocks_too_long; `/autoresolve audit INC-1` has it all" in text
    assert bot.audit(action="notification_failed") == []  # a fallback went through: nothing lost to say


def test_an_update_slack_cannot_apply_is_posted_as_a_new_message(bot):
    bot.slack.refuse("chat.update", "cant_update_message", times=10)
    bot.incident("INC-1")
    eventually(lambda: any(m.text.startswith("INC-1: resolved") for m in bot.slack.top_level(AUDIT_CHANNEL)))
    assert bot.audit(action="notification_failed") == []


def test_posts_to_many_channels_together_keep_within_the_workspace_budget(make_bot, slack):
    creators = [f"U0WS{n:02d}" for n in range(16)]  # sixteen DM channels, each far below its own limit
    slack.users.update({user: {"email": f"{user.lower()}@example.com"} for user in creators})
    bot = make_bot(slack_workspace_rate=4, slack_workspace_burst=4)
    for n, creator in enumerate(creators):
        bot.incident(f"WS-{n}", created_by=creator)
    eventually(lambda: all(slack.channel("D" + c[1:]) for c in creators), timeout=60)
    posts = sorted(c.at for c in slack.calls_to("chat.postMessage"))
    busiest = max(sum(1 for t in posts if start <= t < start + 1.0) for start in posts)
    assert busiest <= 4 + 4 + 1  # the budget's rate and its burst (and one call in flight at the edge)


def test_after_the_workspaces_limit_answers_429_every_post_waits(make_bot, slack):
    creators = [f"U0WL{n:02d}" for n in range(12)]
    slack.users.update({user: {"email": f"{user.lower()}@example.com"} for user in creators})
    slack.workspace_post_rate = 3  # below the bot's own budget: Slack's limit is what binds
    bot = make_bot(slack_workspace_rate=50, slack_workspace_burst=50)
    for n, creator in enumerate(creators):
        bot.incident(f"WL-{n}", created_by=creator)
    eventually(lambda: all(slack.channel("D" + c[1:]) for c in creators), timeout=90)
    posts = sorted((c for c in slack.calls_to("chat.postMessage")), key=lambda c: c.at)
    limited = [c for c in posts if c.status == 429]
    assert len({c.params.get("channel") for c in limited}) >= 2  # the workspace's limit, on several channels
    # once two channels got a 429, nothing more was sent anywhere before its Retry-After ran out
    second = next(c for c in limited if c.params.get("channel") != limited[0].params.get("channel"))
    hold_until = second.at + (second.retry_after or 0) - 0.05
    in_flight = second.at + 0.1  # posts already on their way when the second 429 came back
    assert [c for c in posts if in_flight < c.at < hold_until] == []


def test_the_emulator_holds_a_first_dms_tier_3_calls_to_about_50_a_minute():
    slack = SlackEmulator(users={f"U0T{n:02d}": {"email": f"t{n}@example.com"} for n in range(51)})
    slack.enforce_update_rate = True
    slack.start()
    try:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        for n in range(50):
            client.conversations_open(users=f"U0T{n:02d}")
            client.users_lookupByEmail(email=f"t{n}@example.com")
        with pytest.raises(SlackApiError) as opened:
            client.conversations_open(users="U0T50")
        with pytest.raises(SlackApiError) as looked_up:
            client.users_lookupByEmail(email="t50@example.com")
        for refused in (opened.value, looked_up.value):  # the 51st of each in a minute
            assert refused.response.status_code == 429
            assert int(refused.response.headers["Retry-After"]) >= 1
    finally:
        slack.stop()


def test_a_first_dms_tier_3_calls_are_paced_as_updates_are():
    now = [0.0]
    pacer = pacer_at(now)
    for method in ("conversations.open", "users.lookupByEmail", "chat.update"):
        assert [pacer.take_method(method) for _ in range(6)] == [True] * 5 + [False], method
        now[0] += 60 / 50  # one more a 50th of a minute later
        assert pacer.take_method(method), method
        now[0] = 0.0


def test_a_dm_to_an_email_not_yet_looked_up_waits_while_lookups_must_and_takes_no_posts_turn():
    now = [0.0]
    delivery = SlackDelivery(
        WebClient(token="xoxb-test-token"), owner="t", on_give_up=lambda m, e: None, clock=lambda: now[0]
    )
    try:
        by_email, by_id = Lane.dm("ada@example.com"), Lane.dm("U0ADA")
        while delivery.pacer.take_method("users.lookupByEmail"):
            pass  # the Tier 3 budget spent
        assert delivery.ready_lanes([by_email, by_id]) == [by_id]
        now[0] += 60 / 50
        assert delivery.ready_lanes([by_email, by_id]) == [by_email, by_id]
    finally:
        delivery.close()
