"""Look-ups on a real database with stored stories: search, actor, topic, digest, watchlist, status."""

from __future__ import annotations

from datetime import timedelta

from bot.commands import CommandRunner
from storage.db import Database
from storage.subscriptions import ChannelSettings, SubscriptionRepository
from tests.bot.commands.conftest import ADMIN, T0, USER, ManualClock, add_feed, make_item, store_story

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


async def _news(db: Database) -> None:
    """Four stories over two weeks: two naming Lavrov, one about sanctions, one about nothing tracked."""
    wire = await add_feed(db, 1, name="Example Wire")
    tass = await add_feed(db, 2, name="TASS")
    await store_story(db, wire, [make_item(1, "Lavrov meets envoy on sanctions", published=T0 - HOUR),
                                 make_item(2, "Lavrov envoy meeting on sanctions", published=T0 - HOUR,
                                           source="TASS")],
                      actors=("lavrov",), topics=("sanctions",), score=0.8)
    await store_story(db, tass, [make_item(3, "Lavrov visits Ankara", published=T0 - 3 * DAY, source="TASS")],
                      actors=("lavrov",), score=0.6)
    await store_story(db, wire, [make_item(4, "New sanctions package agreed", published=T0 - 2 * DAY)],
                      topics=("sanctions",), score=0.7)
    await store_story(db, wire, [make_item(5, "Weather turns cold", published=T0 - 20 * DAY)])


async def test_search_one_line_per_story_with_its_sources(runner: CommandRunner, db: Database) -> None:
    await _news(db)
    reply = await runner.run_text(USER, "search sanctions")
    assert reply.ephemeral
    assert reply.title == "Search “sanctions”: stories 1–2"
    assert reply.lines == (
        "• Lavrov meets envoy on sanctions — Example Wire, TASS · 2024-05-20 · https://example.org/news/1",
        "• New sanctions package agreed — Example Wire · 2024-05-18 · https://example.org/news/4",
    )
    assert reply.next_page is None


async def test_search_filters_and_public(runner: CommandRunner, db: Database) -> None:
    await _news(db)
    by_actor = await runner.run_text(USER, "search lavrov actor:Sergey Lavrov public:true")
    assert "no tracked actor" in by_actor.to_text()  # an unquoted name stops at the space
    by_actor = await runner.run_text(USER, 'search lavrov actor:"Sergey Lavrov" since:2d public:true')
    assert not by_actor.ephemeral
    assert by_actor.title == "Search “lavrov” (actor:lavrov, since 2024-05-18 12:00 UTC): stories 1–1"
    by_topic = await runner.run_text(USER, "search lavrov topic:sanctions source:tass")
    assert len(by_topic.lines) == 1
    nothing = await runner.run_text(USER, "search lavrov topic:sanctions source:reuters")
    assert nothing.lines == ("No stored item matches “lavrov” (topic:sanctions, source:reuters).",)
    unknown = await runner.run_text(USER, "search x topic:sanctons")
    assert "no tracked topic is called 'sanctons'. Did you mean `sanctions`?" in unknown.to_text()
    empty = await runner.run_text(USER, 'search "***"')
    assert "search needs at least one word with letters or digits" in empty.to_text()


async def test_search_pages_never_repeat_a_story(runner: CommandRunner, db: Database) -> None:
    feed = await add_feed(db, 1)
    for n in range(8):
        # Two reports per story, so item ranks and story ranks differ.
        await store_story(db, feed, [make_item(10 * n, f"Summit report {n}", published=T0 - n * HOUR),
                                     make_item(10 * n + 1, f"Summit story {n}", published=T0 - n * HOUR)])
    seen: list[str] = []
    reply = await runner.run_text(USER, "search summit")
    while True:
        seen += reply.lines
        if reply.next_page is None:
            break
        assert reply.next_page.command_line.startswith("search query:summit offset:")
        reply = await runner.run_text(USER, f"more {reply.next_page.token}")
    assert len(seen) == 8 == len(set(seen))
    assert reply.title == "Search “summit”: stories 7–8"


async def test_more_tokens_expire_but_the_command_line_does_not(
    runner: CommandRunner, db: Database, clock: ManualClock
) -> None:
    feed = await add_feed(db, 1)
    for n in range(5):
        await store_story(db, feed, [make_item(n, f"Summit report {n}", published=T0 - n * HOUR)])
    first = await runner.run_text(USER, "search summit")
    assert first.next_page is not None
    clock.advance(3601)
    stale = await runner.run(USER, first.next_page.more_invocation)
    assert "that page is no longer available; run the command again" in stale.to_text()
    again = await runner.run_text(USER, first.next_page.command_line)
    assert again.title == "Search “summit”: stories 4–5"
    unknown = await runner.run_text(USER, "more nosuchtoken")
    assert unknown.kind == "error"


async def test_actor_shows_activity_and_recent_stories(runner: CommandRunner, db: Database) -> None:
    await _news(db)
    reply = await runner.run_text(USER, "actor lavrov")
    assert reply.title == "Sergey Lavrov (lavrov)"
    assert reply.blocks[0].lines == ("Kind: person", "Aliases: Sergey Lavrov, Lavrov")
    activity = reply.blocks[1]
    assert activity.heading == "Activity"
    assert activity.lines[0] == "Last 14 days: ▁▁▁▁▁▁▁▁▁▁▅▁▁█  3 mentions"
    assert activity.lines[1] == "Per day (oldest first): 0 0 0 0 0 0 0 0 0 0 1 0 0 2"
    assert activity.lines[2] == "Busiest: 2 in the 24 h up to 2024-05-20 12:00 UTC"
    assert reply.blocks[2].lines == (
        "• Lavrov meets envoy on sanctions — Example Wire, TASS · 2024-05-20 · https://example.org/news/1",
        "• Lavrov visits Ankara — TASS · 2024-05-17 · https://example.org/news/3",
    )
    by_alias = await runner.run_text(USER, "actor LAVROV")
    assert by_alias.title == reply.title
    unknown = await runner.run_text(USER, "actor Lavorv")
    assert "Did you mean `lavrov`?" in unknown.to_text()


async def test_topic_and_an_actor_never_mentioned(runner: CommandRunner, db: Database) -> None:
    await _news(db)
    topic = await runner.run_text(USER, "topic Sanctions")
    assert topic.blocks[0].lines == ("Any of: sanction, embargo",)
    assert topic.blocks[1].lines[0] == "Last 14 days: ▁▁▁▁▁▁▁▁▁▁▁▅▁█  3 mentions"
    quiet = await runner.run_text(USER, "actor un")
    assert quiet.blocks[1].lines == ("Last 14 days: ▁▁▁▁▁▁▁▁▁▁▁▁▁▁  0 mentions",)
    assert quiet.blocks[2].lines == ("No stored story names it yet.",)


async def test_digest_preview(runner: CommandRunner, db: Database) -> None:
    await _news(db)
    not_subscribed = await runner.run_text(USER, "digest")
    assert "this channel is not subscribed" in not_subscribed.to_text()
    await SubscriptionRepository(db).sync([ChannelSettings(
        platform="slack", channel_id=USER.channel_id, mode="digest", topics=("sanctions",),
        digest_cron="0 8 * * *", timezone="Europe/Berlin",
    )], T0)
    await SubscriptionRepository(db).set_last_digest_end("slack", USER.channel_id, T0 - 5 * DAY)
    reply = await runner.run_text(USER, "digest")
    assert reply.title == ("Preview — Digest: 2 stories, 2024-05-15 14:00 – 2024-05-20 14:00 (Europe/Berlin)")
    assert reply.blocks[0].lines == ("Next digest: 2024-05-21 08:00 Europe/Berlin",)
    assert [b.heading for b in reply.blocks[1:]] == ["Sergey Lavrov", "Sanctions"]
    assert reply.blocks[1].lines == (
        "• Lavrov meets envoy on sanctions — Example Wire · https://example.org/news/1",)
    await SubscriptionRepository(db).set_last_digest_end("slack", USER.channel_id, T0 - timedelta(minutes=1))
    empty = await runner.run_text(USER, "digest")
    assert empty.lines[0].startswith("Nothing for the next digest yet (since 2024-05-20 ")


async def test_digest_preview_for_an_alert_only_channel(runner: CommandRunner, db: Database) -> None:
    await SubscriptionRepository(db).sync([ChannelSettings(platform="slack", channel_id=USER.channel_id)], T0)
    reply = await runner.run_text(USER, "digest")
    assert "gets alerts only (mode alert)" in reply.to_text()


async def test_watchlist_lists_actors_then_topics_in_pages(runner: CommandRunner, db: Database) -> None:
    for n in range(20):
        assert (await runner.run_text(ADMIN, f"watch add-actor Person{n} id:p{n}")).kind == "result"
    reply = await runner.run_text(USER, "watchlist")
    assert reply.title == "Watchlist: 23 actors, 2 topics"
    assert reply.blocks[0].heading == "Actors"
    assert reply.blocks[0].lines[0] == "Sergey Lavrov (lavrov, person) · aliases: Sergey Lavrov, Lavrov"
    assert reply.blocks[0].lines[2] == "United States (us, state) · aliases: United States · exact case: US"
    assert reply.next_page is not None
    following = await runner.run(USER, reply.next_page.invocation)
    assert [b.heading for b in following.blocks] == ["Actors", "Topics"]
    assert following.blocks[1].lines == (
        "Sanctions (sanctions) · any of: sanction, embargo",
        "Ceasefire talks (ceasefire) · any of: ceasefire, truce · all of: talks",
    )
    assert following.next_page is None


async def test_status(runner: CommandRunner, db: Database) -> None:
    await _news(db)
    reply = await runner.run_text(USER, "status public:yes")
    assert not reply.ephemeral
    assert reply.blocks[0].lines == (
        "Feeds: 2 (0 paused, 0 failing); last successful fetch never",
        "Items: 5 (2 published in the last 24 h); stories: 4",
        "Watchlist: 3 actors, 2 topics (version 1)",
        "Outbox: 0 pending, 0 failed",
    )
    assert reply.blocks[1].lines == ("Not subscribed.",)
