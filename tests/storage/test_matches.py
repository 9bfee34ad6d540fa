"""Per-item matches: round trip, replacement, absence."""

from __future__ import annotations

import pytest

from feeds.errors import StorageError
from feeds.models import FeedState, Match, Span
from storage.db import Database
from storage.items import ItemRepository
from storage.matches import MatchRepository
from tests.storage.samples import T0, make_item


async def test_match_round_trip_and_replace(db: Database, feed: FeedState) -> None:
    [stored] = await ItemRepository(db).add_items(feed.id, [make_item(1)], fetched_at=T0)
    repo = MatchRepository(db)
    assert await repo.for_item(stored.id) == Match()

    match = Match(
        actors=("un", "lavrov"),
        topics=("sanctions",),
        score=3.25,
        spans=(
            Span(field="title", start=0, end=6, target="lavrov", phrase="Лавров"),
            Span(field="summary", start=10, end=17, target="sanctions", phrase="санкции"),
            Span(field="title", start=20, end=22, target="un", phrase="UN"),
        ),
    )
    await repo.save(stored.id, match)
    assert await repo.for_item(stored.id) == match

    smaller = Match(topics=("ceasefire",), score=0.5)
    await repo.save(stored.id, smaller)
    assert await repo.for_item(stored.id) == smaller

    await repo.save(stored.id, Match())
    assert await repo.for_item(stored.id) == Match()


async def test_match_for_unknown_item_raises(db: Database) -> None:
    with pytest.raises(StorageError, match="no item with id 9"):
        await MatchRepository(db).save(9, Match(actors=("un",)))
