"""Fixtures for the command tests: a real database file, a hand-set clock, a runner, users and stored news."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.commands import CommandContext, CommandRunner, CommandSettings, fetcher_probe
from feeds.fetch import Fetcher, FetchPolicy
from feeds.models import Actor, FeedSource, FeedState, Item, Match, Topic, Watchlist
from storage.db import Database, open_database
from storage.feeds import FeedRepository
from storage.items import ItemRepository
from storage.matches import MatchRepository
from storage.stories import StoryRepository
from storage.watchlists import WatchlistRepository
from tests.fakes.feed_server import FeedServer

T0 = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)

ADMIN = CommandContext(platform="slack", channel_id="C0NEWS01", user_id="U0ADMIN", user_name="alice",
                       is_admin=True)
OTHER_ADMIN = CommandContext(platform="slack", channel_id="C0NEWS01", user_id="U0ADMIN2", user_name="bob",
                             is_admin=True)
USER = CommandContext(platform="slack", channel_id="C0NEWS01", user_id="U0USER", user_name="carol")
DISCORD_ADMIN = CommandContext(platform="discord", channel_id="1234567890", user_id="42", user_name="dan",
                               is_admin=True)

WATCHLIST = Watchlist(
    actors=(
        Actor(id="lavrov", name="Sergey Lavrov", kind="person", aliases=("Sergey Lavrov", "Lavrov")),
        Actor(id="un", name="United Nations", kind="org", aliases=("United Nations",)),
        Actor(id="us", name="United States", kind="state", aliases=("United States",),
              exact_case_aliases=("US",)),
    ),
    topics=(
        Topic(id="sanctions", name="Sanctions", any=("sanction", "embargo")),
        Topic(id="ceasefire", name="Ceasefire talks", any=("ceasefire", "truce"), all=("talks",)),
    ),
)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FeedsAdded:
    """The on_feed_added hook: remembers each feed it was told about."""

    feeds: list[FeedState] = field(default_factory=list)

    async def __call__(self, feed: FeedState) -> None:
        self.feeds.append(feed)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "diplowatch.db")
    try:
        await WatchlistRepository(database).replace(WATCHLIST)
        yield database
    finally:
        await database.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def fetcher(clock: ManualClock) -> AsyncIterator[Fetcher]:
    # The feed server listens on 127.0.0.1, which the default policy refuses.
    async with Fetcher(FetchPolicy(allow_private_networks=True, timeout_s=5.0), clock=clock) as client:
        yield client


@pytest.fixture
def feeds_added() -> FeedsAdded:
    return FeedsAdded()


@pytest.fixture
def runner(db: Database, clock: ManualClock, fetcher: Fetcher, feeds_added: FeedsAdded) -> CommandRunner:
    return make_runner(db, clock, fetcher, feeds_added, allow_private_networks=True)


def make_runner(
    db: Database, clock: ManualClock, fetcher: Fetcher, feeds_added: FeedsAdded | None = None, **settings: Any
) -> CommandRunner:
    """A runner with a generous cooldown (only the cooldown tests exercise it) and pages of three."""
    options: dict[str, Any] = {"cooldown_capacity": 1000, "cooldown_per_second": 100.0, "page_size": 3}
    options.update(settings)
    return CommandRunner(
        db=db, probe=fetcher_probe(fetcher, clock=clock), clock=clock, settings=CommandSettings(**options),
        on_feed_added=feeds_added,
    )


async def add_feed(db: Database, n: int, *, name: str | None = None, now: datetime = T0) -> FeedState:
    """Feed number ``n`` on example.org."""
    source = FeedSource(url=f"https://example.org/feed-{n}.xml", name=name or f"Feed {n}", interval_s=600)
    return await FeedRepository(db).add(source, now, "config")


def make_item(n: int, title: str, *, published: datetime, source: str = "Example Wire") -> Item:
    """An item whose identity, URL and hash derive from ``n``."""
    return Item(
        identity=f"guid:item-{n}", guid=f"item-{n}", url=f"https://example.org/news/{n}", title=title,
        summary=f"{title}. Details of report {n}.", published=published, published_estimated=False,
        content_hash=f"hash-{n}", source=source, language="en",
    )


async def store_story(
    db: Database,
    feed: FeedState,
    items: Sequence[Item],
    *,
    actors: Sequence[str] = (),
    topics: Sequence[str] = (),
    score: float = 0.5,
    fetched_at: datetime = T0,
) -> int:
    """Store ``items`` from ``feed`` as one story matched to ``actors`` and ``topics``; the story id."""
    stored = await ItemRepository(db).add_items(feed.id, items, fetched_at=fetched_at)
    stories = StoryRepository(db)
    story_id = await stories.create(f"story-{items[0].identity}", title=items[0].title,
                                    first_seen=min(i.published for i in items), score=score)
    for s in stored:
        await stories.attach(story_id, s.id, b"fp")
        await MatchRepository(db).save(s.id, Match(actors=tuple(actors), topics=tuple(topics), score=score))
    return story_id
