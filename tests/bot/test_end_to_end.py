"""Feed server → poll → story → outbox → the real slack-sdk / discord.py clients → local fake chat servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import discord
import pytest
import yarl

from bot.poller import FeedPollResult
from bot.scheduler import DigestJob
from bot.service import Service, open_service
from storage.outbox import OutboxRepository
from storage.subscriptions import SubscriptionRepository
from tests.bot.conftest import Clock, make_config
from tests.fakes.discord_api import FakeDiscordAPI
from tests.fakes.feed_server import FeedServer
from tests.fakes.rss import RssEntry, rss_document
from tests.fakes.slack_api import FakeSlackApi

SLACK_CHANNEL = "C0123456789"
DISCORD_CHANNEL = "123456789012345678"
PUBLISHED = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)

OLD = RssEntry(
    guid="old-1",
    title="Putin comments on sanctions",
    summary="An older story from before the bot started.",
    link="https://a.example/old",
    published=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
)
TALKS = RssEntry(
    guid="a-2",
    title="Putin and Witkoff hold five-hour Kremlin talks",
    summary="Vladimir Putin met envoy Steve Witkoff for five hours of peace talks in the Kremlin.",
    link="https://a.example/talks",
    published=PUBLISHED,
)
TALKS_ELSEWHERE = RssEntry(
    guid="b-7",
    title="Putin, Witkoff meet for five hours in Kremlin talks",
    summary="Russian President Vladimir Putin met U.S. envoy Steve Witkoff for five hours of peace talks.",
    link="https://b.example/kremlin-talks",
    published=PUBLISHED,
)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


async def open_slack_service(
    tmp_path: Path, feed_server: FeedServer, slack: FakeSlackApi, clock: Clock, **channel: object
) -> Service:
    config = make_config(
        tmp_path,
        {"Outlet A": feed_server.url("/a.xml"), "Outlet B": feed_server.url("/b.xml")},
        channels=[{"platform": "slack", "id": SLACK_CHANNEL, "mode": "alert", **channel}],
        slack_api=slack.base_url,
        environ={"SLACK_BOT_TOKEN": slack.token},
    )
    service = await open_service(config, clock=clock)
    await service.start_platforms()
    return service


async def first_poll_then_new_story(service: Service, feed_server: FeedServer, clock: Clock) -> None:
    """The first poll is history (no alerts); a later item is news."""
    await service.poll_and_dispatch()
    feed_server.serve("/a.xml", rss_document("A", [TALKS, OLD]))
    clock.advance(minutes=11)
    await service.poll_and_dispatch()


def serve_history(feed_server: FeedServer) -> None:
    feed_server.serve("/a.xml", rss_document("A", [OLD]))
    feed_server.serve("/b.xml", rss_document("B", []))


async def test_new_story_is_alerted_once_and_later_sources_add_nothing(
    tmp_path: Path, feed_server: FeedServer, slack: FakeSlackApi, clock: Clock
) -> None:
    serve_history(feed_server)
    async with await open_slack_service(tmp_path, feed_server, slack, clock) as service:
        await service.poll_and_dispatch()
        assert slack.messages == []  # a feed's history does not flood the channel
        feed_server.serve("/a.xml", rss_document("A", [TALKS, OLD]))
        clock.advance(minutes=11)
        await service.poll_and_dispatch()
        assert len(slack.messages) == 1
        alert = slack.messages[0]
        assert alert.channel == SLACK_CHANNEL
        assert "Putin and Witkoff hold five-hour Kremlin talks" in str(alert.blocks)
        assert "https://a.example/talks" in str(alert.blocks)
        # Another outlet reports the same story: attached to it, no second alert.
        feed_server.serve("/b.xml", rss_document("B", [TALKS_ELSEWHERE]))
        clock.advance(minutes=11)
        results: list[FeedPollResult] = []
        tally = await service.poll_and_dispatch(on_result=results.append)
        [new_b] = [n for r in results for n in r.new_items]
        assert (tally.feeds, tally.new_items, tally.failures) == (2, 1, [])
        assert new_b.story_id is not None
        story = await service.poller.stories.get(new_b.story_id)
        assert {s.source for s in story.sources} == {"Outlet A", "Outlet B"}
        assert len(slack.messages) == 1


async def test_digest_at_a_frozen_time(
    tmp_path: Path, feed_server: FeedServer, slack: FakeSlackApi, clock: Clock
) -> None:
    serve_history(feed_server)
    async with await open_slack_service(
        tmp_path, feed_server, slack, clock, mode="digest", digest_cron="0 8 * * *", timezone="UTC"
    ) as service:
        await first_poll_then_new_story(service, feed_server, clock)
        assert slack.messages == []  # digest-only channel: no alerts
        clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
        channel = service.config.channels[0]
        await DigestJob(service, channel)()
        assert len(slack.messages) == 1
        text = str(slack.messages[0].blocks)
        assert "Digest" in text and "Putin and Witkoff hold five-hour Kremlin talks" in text
        # The same firing again (a restart) queues nothing new.
        await service.dispatcher.catch_up_digests(
            now=clock.now, watchlist=service.poller.classifier.watchlist
        )
        await DigestJob(service, channel)()
        assert len(slack.messages) == 1
        sub = await SubscriptionRepository(service.db).get("slack", SLACK_CHANNEL)
        assert sub is not None and sub.last_digest_end == clock.now


async def test_rate_limited_then_delivered_once(
    tmp_path: Path, feed_server: FeedServer, slack: FakeSlackApi, clock: Clock
) -> None:
    serve_history(feed_server)
    slack.fail_with_rate_limit(times=1, retry_after_s=0)
    async with await open_slack_service(tmp_path, feed_server, slack, clock) as service:
        await first_poll_then_new_story(service, feed_server, clock)
        assert len(slack.messages) == 1
        assert len(slack.calls_to("chat.postMessage")) == 2


async def test_server_errors_are_retried_with_backoff_then_delivered(
    tmp_path: Path, feed_server: FeedServer, slack: FakeSlackApi, clock: Clock
) -> None:
    serve_history(feed_server)
    async with await open_slack_service(tmp_path, feed_server, slack, clock) as service:
        await service.poll_and_dispatch()
        slack.fail_with_server_error(times=3)
        feed_server.serve("/a.xml", rss_document("A", [TALKS, OLD]))
        clock.advance(minutes=11)
        await service.poll_and_dispatch()
        assert slack.messages == []
        outbox = OutboxRepository(service.db)
        for _ in range(3):
            [entry] = await outbox.due(clock.advance(hours=2), 10)
            assert entry.state == "pending" and entry.attempts >= 1
            await service.dispatcher.deliver(clock.now)
        assert len(slack.messages) == 1
        assert await outbox.due(clock.advance(hours=2), 10) == []


async def test_unknown_channel_is_marked_failing_and_not_retried(
    tmp_path: Path, feed_server: FeedServer, slack: FakeSlackApi, clock: Clock
) -> None:
    serve_history(feed_server)
    slack.fail_with_slack_error("channel_not_found", channel=SLACK_CHANNEL, times=100)
    async with await open_slack_service(tmp_path, feed_server, slack, clock) as service:
        await first_poll_then_new_story(service, feed_server, clock)
        attempts = len(slack.calls_to("chat.postMessage"))
        assert attempts == 1
        await service.dispatcher.deliver(clock.advance(hours=5))
        assert len(slack.calls_to("chat.postMessage")) == attempts
        sub = await SubscriptionRepository(service.db).get("slack", SLACK_CHANNEL)
        assert sub is not None and sub.failing and "channel_not_found" in (sub.last_error or "")


async def test_quiet_hours_hold_alerts_until_the_window_ends(
    tmp_path: Path, feed_server: FeedServer, slack: FakeSlackApi, clock: Clock
) -> None:
    serve_history(feed_server)
    async with await open_slack_service(
        tmp_path, feed_server, slack, clock, quiet_hours="06:00-09:00", timezone="UTC"
    ) as service:
        await first_poll_then_new_story(service, feed_server, clock)
        assert slack.messages == []
        await service.dispatcher.deliver(datetime(2026, 11, 24, 9, 0, 1, tzinfo=UTC))
        assert len(slack.messages) == 1


async def test_missing_token_names_the_environment_variable(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    from feeds.errors import ConfigError

    config = make_config(
        tmp_path, {"A": feed_server.url("/a.xml")}, channels=[{"platform": "slack", "id": SLACK_CHANNEL}]
    )
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN is not set"):
        await open_service(config, clock=clock)


PointAt = Callable[[FakeDiscordAPI], FakeDiscordAPI]


@pytest.fixture
def point_discord_py_at(monkeypatch: pytest.MonkeyPatch) -> PointAt:
    def point_at(fake: FakeDiscordAPI) -> FakeDiscordAPI:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
        return fake

    return point_at


async def test_alert_reaches_discord(
    tmp_path: Path, feed_server: FeedServer, clock: Clock, point_discord_py_at: PointAt
) -> None:
    serve_history(feed_server)
    async with FakeDiscordAPI(token="discord-test-token") as fake:
        point_discord_py_at(fake)
        config = make_config(
            tmp_path,
            {"Outlet A": feed_server.url("/a.xml"), "Outlet B": feed_server.url("/b.xml")},
            channels=[{"platform": "discord", "id": DISCORD_CHANNEL, "actors": ["witkoff"], "topics": ["*"]}],
            environ={"DISCORD_TOKEN": "discord-test-token"},
        )
        async with await open_service(config, clock=clock) as service:
            await service.start_platforms()
            await first_poll_then_new_story(service, feed_server, clock)
            posts = [m for m in fake.received if m.channel_id == DISCORD_CHANNEL]
            assert len(posts) == 1
            assert "Putin and Witkoff hold five-hour Kremlin talks" in str(posts[0].embeds)
            assert posts[0].allowed_mentions is not None
