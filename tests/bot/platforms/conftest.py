"""Shared by the Discord and Slack command tests: a real database holding the module's ``watchlist``, a
CommandRunner on a fixed clock, and stored stories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.commands import CommandRunner, CommandSettings, fetcher_probe
from feeds.fetch import Fetcher, FetchPolicy
from feeds.models import FeedSource, Item, Match, Watchlist
from storage.db import Database, open_database
from storage.feeds import FeedRepository
from storage.items import ItemRepository
from storage.matches import MatchRepository
from storage.stories import StoryRepository
from storage.watchlists import WatchlistRepository

T0 = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
# A one-actor watchlist import, as an admin would paste it.
KALLAS_IMPORT = '[[actors]]\nid = "kallas"\nname = "Kaja Kallas"\nkind = "person"\naliases = ["Kallas"]\n'


class FixedClock:
    """The runner's clock: it stays at T0."""

    def __call__(self) -> datetime:
        return T0


@pytest.fixture
async def db(tmp_path: Path, watchlist: Watchlist) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "diplowatch.db")
    try:
        await WatchlistRepository(database).replace(watchlist)
        yield database
    finally:
        await database.close()


@pytest.fixture
async def runner(db: Database) -> AsyncIterator[CommandRunner]:
    clock = FixedClock()
    async with Fetcher(FetchPolicy(timeout_s=2.0), clock=clock) as fetcher:
        yield CommandRunner(
            db=db, probe=fetcher_probe(fetcher, clock=clock), clock=clock,
            settings=CommandSettings(cooldown_capacity=1000, cooldown_per_second=100.0, page_size=2),
        )


async def store_stories(db: Database, titles: list[str], *, feed_name: str = "World Desk") -> None:
    """One feed with one story per title, each naming Putin, newest last."""
    feed = await FeedRepository(db).add(
        FeedSource(url="https://example.org/world.xml", name=feed_name, interval_s=600), T0, "config"
    )
    for n, title in enumerate(titles):
        published = T0 - timedelta(hours=len(titles) - n)
        item = Item(
            identity=f"guid:item-{n}", guid=f"item-{n}", url=f"https://example.org/news/{n}", title=title,
            summary=f"{title}. Putin spoke.", published=published, published_estimated=False,
            content_hash=f"hash-{n}", source="World Desk", language="en",
        )
        (stored,) = await ItemRepository(db).add_items(feed.id, [item], fetched_at=T0)
        stories = StoryRepository(db)
        story_id = await stories.create(f"story-{n}", title=title, first_seen=published, score=0.5)
        await stories.attach(story_id, stored.id, b"fp")
        await MatchRepository(db).save(stored.id, Match(actors=("putin",), topics=(), score=0.5))
