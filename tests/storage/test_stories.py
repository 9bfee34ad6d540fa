"""Stories: creation, membership, the candidate window and assembled views."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feeds.errors import StorageError
from feeds.models import FeedState, Match, StorySource
from storage.db import Database
from storage.items import ItemRepository
from storage.matches import MatchRepository
from storage.stories import Membership, StoryRepository
from tests.storage.samples import T0, make_item


async def test_story_gathers_sources_actors_topics_and_best_score(
    db: Database, feed: FeedState, other_feed: FeedState
) -> None:
    items, stories, matches = ItemRepository(db), StoryRepository(db), MatchRepository(db)
    [a] = await items.add_items(
        feed.id, [make_item(1, title="Lavrov meets Guterres", source="Wire A", published=T0)], fetched_at=T0
    )
    [b] = await items.add_items(
        other_feed.id,
        [make_item(2, title="Лавров и Гутерреш", source="", published=T0 + timedelta(minutes=30))],
        fetched_at=T0 + timedelta(hours=1),
    )
    await matches.save(a.id, Match(actors=("lavrov", "un"), topics=("ceasefire",), score=2.5))
    await matches.save(b.id, Match(actors=("un", "guterres"), score=4.0))
    story_id = await stories.create("key-1", title="Lavrov meets Guterres", first_seen=T0, score=1.0)
    await stories.attach(story_id, b.id, b"fp-b")
    await stories.attach(story_id, a.id, b"fp-a")

    story = await stories.get(story_id)
    assert (story.id, story.key, story.title, story.first_seen) == (
        story_id,
        "key-1",
        "Lavrov meets Guterres",
        T0,
    )
    assert story.sources == (
        StorySource(source="Wire A", title="Lavrov meets Guterres", url=a.item.url, published=T0),
        StorySource(
            source="Feed 2", title="Лавров и Гутерреш", url=b.item.url, published=T0 + timedelta(minutes=30)
        ),
    )
    assert story.actors == ("lavrov", "un", "guterres")
    assert story.topics == ("ceasefire",)
    assert story.score == 4.0
    assert await stories.by_key("key-1") == story
    assert await stories.by_key("nope") is None
    assert await stories.id_for_key("key-1") == story_id

    await stories.update_score(story_id, 9.0)
    assert (await stories.get(story_id)).score == 9.0


async def test_story_without_items(db: Database) -> None:
    stories = StoryRepository(db)
    story_id = await stories.create("lonely", title="Lonely", first_seen=T0, score=0.5)
    story = await stories.get(story_id)
    assert (story.sources, story.actors, story.topics, story.score) == ((), (), (), 0.5)


async def test_errors_are_clear(db: Database, feed: FeedState) -> None:
    stories = StoryRepository(db)
    await stories.create("dup", title="x", first_seen=T0, score=0.0)
    with pytest.raises(StorageError, match="key 'dup' already exists"):
        await stories.create("dup", title="y", first_seen=T0, score=0.0)
    with pytest.raises(StorageError, match="no story with id 404"):
        await stories.get(404)
    with pytest.raises(StorageError, match="no story with id 404"):
        await stories.update_score(404, 1.0)
    with pytest.raises(StorageError, match="no story with key 'missing'"):
        await stories.id_for_key("missing")


async def test_candidates_are_story_items_inside_the_window(db: Database, feed: FeedState) -> None:
    items, stories = ItemRepository(db), StoryRepository(db)
    stored = await items.add_items(
        feed.id, [make_item(n, published=T0 + timedelta(hours=n)) for n in range(4)], fetched_at=T0
    )
    first = await stories.create("s1", title="One", first_seen=T0, score=0.0)
    second = await stories.create("s2", title="Two", first_seen=T0, score=0.0)
    await stories.attach(first, stored[0].id, b"f0")  # before the window
    await stories.attach(first, stored[2].id, b"f2")
    await stories.attach(second, stored[3].id, b"f3")
    # stored[1] is inside the window but has no story: not a candidate

    candidates = await stories.candidates(T0 + timedelta(hours=1))
    assert [(c.item_id, c.story_id, c.story_key, c.fingerprint) for c in candidates] == [
        (stored[2].id, first, "s1", b"f2"),
        (stored[3].id, second, "s2", b"f3"),
    ]
    assert candidates[0].published == T0 + timedelta(hours=2)


async def test_recent_is_newest_first_with_limit(db: Database) -> None:
    stories = StoryRepository(db)
    ids = [
        await stories.create(f"k{n}", title=f"Story {n}", first_seen=T0 + timedelta(hours=n), score=0.0)
        for n in range(5)
    ]
    assert [s.id for s in await stories.recent(T0 + timedelta(hours=2), limit=10)] == [ids[4], ids[3], ids[2]]
    assert [s.id for s in await stories.recent(T0, limit=2)] == [ids[4], ids[3]]


async def test_attaching_later_items_moves_last_seen(db: Database, feed: FeedState) -> None:
    items, stories = ItemRepository(db), StoryRepository(db)
    story_id = await stories.create("k", title="t", first_seen=T0, score=0.0)
    [late] = await items.add_items(feed.id, [make_item(1)], fetched_at=T0 + timedelta(days=40))
    await stories.attach(story_id, late.id, b"x")
    # The story was first seen long ago but is still active, so retention at T0 + 30 days keeps it.
    await items.delete_older_than(T0 + timedelta(days=30))
    assert (await stories.get(story_id)).id == story_id


async def test_add_members_creates_joins_and_matches_one_by_one(db: Database, feed: FeedState) -> None:
    items, stories = ItemRepository(db), StoryRepository(db)
    old = await stories.create("old", title="Old", first_seen=T0, score=0.0)
    stored = await items.add_items(feed.id, [make_item(n) for n in range(4)], fetched_at=T0)
    seen = T0 + timedelta(hours=3)
    ids = await stories.add_members(
        [
            Membership(
                item_id=stored[0].id,
                story_key="new",
                fingerprint=b"f0",
                new_story=True,
                title="New",
                score=1.5,
            ),
            Membership(item_id=stored[1].id, story_key="new", fingerprint=b"f1", new_story=False),
            Membership(item_id=stored[2].id, story_key="old", fingerprint=b"f2", new_story=False),
        ],
        seen_at=seen,
    )
    assert ids["old"] == old and set(ids) == {"old", "new"}
    new = await stories.get(ids["new"])
    assert (new.title, new.first_seen, new.score, len(new.sources)) == ("New", seen, 1.5, 2)
    assert len((await stories.get(old)).sources) == 1
    candidates = await stories.candidates(T0 - timedelta(days=1))
    assert {(c.item_id, c.story_key, c.fingerprint) for c in candidates} == {
        (stored[0].id, "new", b"f0"),
        (stored[1].id, "new", b"f1"),
        (stored[2].id, "old", b"f2"),
    }
    # last_seen moved to the batch's time: retention a month after T0 keeps the old story.
    await items.delete_older_than(T0 + timedelta(days=30))
    assert await stories.add_members([], seen_at=seen) == {}


async def test_add_members_errors_roll_back_the_batch(db: Database, feed: FeedState) -> None:
    items, stories = ItemRepository(db), StoryRepository(db)
    await stories.create("taken", title="x", first_seen=T0, score=0.0)
    [item] = await items.add_items(feed.id, [make_item(1)], fetched_at=T0)

    def joining(key: str, *, new: bool, item_id: int = item.id) -> Membership:
        return Membership(item_id=item_id, story_key=key, fingerprint=b"f", new_story=new)

    with pytest.raises(StorageError, match="already exists"):
        await stories.add_members([joining("fresh", new=True), joining("taken", new=True)], seen_at=T0)
    with pytest.raises(StorageError, match="no story with key 'missing'"):
        await stories.add_members([joining("fresh", new=True), joining("missing", new=False)], seen_at=T0)
    with pytest.raises(StorageError, match="not a stored item"):
        await stories.add_members([joining("fresh", new=True, item_id=404)], seen_at=T0)
    with pytest.raises(StorageError, match="same story twice"):
        await stories.add_members([joining("fresh", new=True), joining("fresh", new=True)], seen_at=T0)
    assert await stories.by_key("fresh") is None  # nothing of a failed batch is left
    assert await stories.candidates(T0 - timedelta(days=1)) == []
