"""Item inserts with exact-duplicate rules, lookups and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feeds.errors import StorageError
from feeds.models import FeedState, Item, Match, StoredItem
from storage.db import Database
from storage.items import ItemBatch, ItemRepository
from storage.matches import MatchRepository
from storage.stories import StoryRepository
from tests.storage.samples import T0, check_fts_in_sync, fts_rowids, make_item


def _guids(stored: list[StoredItem]) -> list[str | None]:
    return [s.item.guid for s in stored]


async def test_new_items_are_returned_with_ids_in_input_order(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    batch = [make_item(n) for n in (3, 1, 2)]
    stored = await items.add_items(feed.id, batch, fetched_at=T0)
    assert [s.item for s in stored] == batch
    assert all(s.feed_id == feed.id and s.fetched_at == T0 and s.story_id is None for s in stored)
    assert stored[0].id < stored[1].id < stored[2].id
    assert await items.get(stored[1].id) == stored[1]
    assert await items.add_items(feed.id, batch, fetched_at=T0 + timedelta(minutes=5)) == []
    assert await items.add_items(feed.id, [], fetched_at=T0) == []


@pytest.mark.parametrize(
    ("duplicate", "rule"),
    [
        (make_item(99, guid="guid-1"), "same guid"),
        (make_item(99, guid=None, url="https://example.org/news/1"), "same canonical url"),
        (
            make_item(99, guid="other", url="https://example.org/other", content_hash="hash-1"),
            "same content hash",
        ),
    ],
    ids=["guid", "url", "content-hash"],
)
async def test_exact_duplicates_in_a_feed_are_stored_once(
    db: Database, feed: FeedState, duplicate: Item, rule: str
) -> None:
    items = ItemRepository(db)
    await items.add_items(feed.id, [make_item(1)], fetched_at=T0)
    new = await items.add_items(feed.id, [duplicate, make_item(2)], fetched_at=T0)
    assert _guids(new) == ["guid-2"], rule
    assert _guids(await items.recent(limit=10)) == ["guid-2", "guid-1"], rule


async def test_times_come_back_in_utc(db: Database, feed: FeedState) -> None:
    kyiv_summer = timezone(timedelta(hours=3))
    published = datetime(2024, 5, 1, 15, 0, 0, 123456, tzinfo=kyiv_summer)
    [stored] = await ItemRepository(db).add_items(
        feed.id, [make_item(1, published=published)], fetched_at=T0.astimezone(kyiv_summer)
    )
    assert stored.item.published == published and stored.item.published.tzinfo is UTC
    assert stored.fetched_at == T0 and stored.fetched_at.tzinfo is UTC
    assert await ItemRepository(db).get(stored.id) == stored


async def test_duplicates_inside_one_batch_are_stored_once(db: Database, feed: FeedState) -> None:
    batch = [
        make_item(1),
        make_item(1, title="Updated headline"),  # same guid, url and hash rules all apply
        make_item(2, guid=None),
        make_item(3, guid=None, url="https://example.org/news/2"),  # url of the previous one
        make_item(4, content_hash="hash-1"),
        make_item(5),
    ]
    stored = await ItemRepository(db).add_items(feed.id, batch, fetched_at=T0)
    assert [s.item for s in stored] == [batch[0], batch[2], batch[5]]


@pytest.mark.parametrize("size", [75, 76, 77, 152, 500])
async def test_large_batches_keep_order_and_duplicate_rules(db: Database, feed: FeedState, size: int) -> None:
    batch = [make_item(n) for n in range(size)]
    # Duplicates of earlier items, placed in later statement-sized chunks of the batch.
    batch[size - 1] = make_item(size - 1, url="https://example.org/news/0")
    batch[size // 2] = make_item(size // 2, content_hash="hash-1")
    stored = await ItemRepository(db).add_items(feed.id, batch, fetched_at=T0)
    expected = [item for n, item in enumerate(batch) if n not in (size - 1, size // 2)]
    assert [s.item for s in stored] == expected
    assert [s.id for s in stored] == sorted(s.id for s in stored)
    assert [s.item for s in await ItemRepository(db).recent(limit=size)][::-1] == expected


async def test_each_stored_item_is_indexed_once_and_skipped_duplicates_not_at_all(
    db: Database, feed: FeedState, other_feed: FeedState
) -> None:
    items = ItemRepository(db)
    first = [make_item(n, title=f"Ceasefire talks round {n}") for n in range(100)]
    await items.add_batches(
        [
            ItemBatch(feed_id=feed.id, items=first, fetched_at=T0),
            ItemBatch(feed_id=other_feed.id, items=first[:3], fetched_at=T0),
        ]
    )
    again = [make_item(0, title="Ceasefire talks round 0, updated"), make_item(100, title="Mediation")]
    [stored] = await items.add_batches([ItemBatch(feed_id=feed.id, items=again, fetched_at=T0)])
    assert [s.item for s in stored] == [again[1]]
    assert len(await fts_rowids(db, "ceasefire")) == 103
    assert len(await fts_rowids(db, "updated")) == 0
    assert await fts_rowids(db, "mediation") == [stored[0].id]
    await check_fts_in_sync(db)


async def test_items_without_guid_or_url_are_kept_apart_by_hash(db: Database, feed: FeedState) -> None:
    batch = [make_item(n, guid=None, url=None) for n in range(3)]
    stored = await ItemRepository(db).add_items(feed.id, batch, fetched_at=T0)
    assert [s.item.identity for s in stored] == ["hash:hash-0", "hash:hash-1", "hash:hash-2"]


async def test_same_guid_in_another_feed_is_stored(
    db: Database, feed: FeedState, other_feed: FeedState
) -> None:
    items = ItemRepository(db)
    await items.add_items(feed.id, [make_item(1)], fetched_at=T0)
    again = await items.add_items(other_feed.id, [make_item(1)], fetched_at=T0)
    assert [(s.feed_id, s.item.guid) for s in again] == [(other_feed.id, "guid-1")]


async def test_unknown_feed_and_item_raise(db: Database) -> None:
    items = ItemRepository(db)
    with pytest.raises(StorageError, match="no feed with id 5"):
        await items.add_items(5, [make_item(1)], fetched_at=T0)
    with pytest.raises(StorageError, match="no item with id 5"):
        await items.get(5)


async def test_recent_is_newest_first_and_respects_since(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(
        feed.id, [make_item(n, published=T0 + timedelta(hours=n)) for n in range(5)], fetched_at=T0
    )
    assert _guids(await items.recent(limit=3)) == ["guid-4", "guid-3", "guid-2"]
    assert _guids(await items.recent(limit=10, since=T0 + timedelta(hours=3))) == ["guid-4", "guid-3"]
    newest = (await items.recent(limit=1))[0]
    assert newest.item.published == T0 + timedelta(hours=4)
    assert newest.item.published.utcoffset() == timedelta(0)


async def test_set_story_records_membership_and_fingerprint(db: Database, feed: FeedState) -> None:
    items, stories = ItemRepository(db), StoryRepository(db)
    [stored] = await items.add_items(feed.id, [make_item(1)], fetched_at=T0)
    story_id = await stories.create("k1", title="Story", first_seen=T0, score=0.0)
    await items.set_story(stored.id, story_id, b"\x00\x01fp")
    assert (await items.get(stored.id)).story_id == story_id
    [candidate] = await stories.candidates(T0 - timedelta(days=1))
    assert (candidate.item_id, candidate.fingerprint) == (stored.id, b"\x00\x01fp")
    with pytest.raises(StorageError, match="no story with id 77"):
        await items.set_story(stored.id, 77, b"")
    with pytest.raises(StorageError, match="no item with id 77"):
        await items.set_story(77, story_id, b"")


async def test_retention_deletes_old_items_matches_and_empty_stories(db: Database, feed: FeedState) -> None:
    items, stories, matches = ItemRepository(db), StoryRepository(db), MatchRepository(db)
    old_time = T0 - timedelta(days=100)
    old = await items.add_items(
        feed.id,
        [make_item(n, title=f"Ancient treaty {n}", published=old_time) for n in range(3)],
        fetched_at=old_time,
    )
    # Published long ago but only fetched now: kept, or the next poll would store it again as new.
    late = await items.add_items(
        feed.id, [make_item(10, title="Ancient treaty found late", published=old_time)], fetched_at=T0
    )
    fresh = await items.add_items(feed.id, [make_item(20, title="Fresh treaty")], fetched_at=T0)
    old_story = await stories.create("old", title="Old", first_seen=old_time, score=0.0)
    shared_story = await stories.create("shared", title="Shared", first_seen=old_time, score=0.0)
    await stories.attach(old_story, old[0].id, b"a")
    await stories.attach(shared_story, old[1].id, b"b")
    await stories.attach(shared_story, fresh[0].id, b"c")
    await matches.save(old[0].id, Match(actors=("lavrov",), score=1.0))

    deleted = await items.delete_older_than(T0 - timedelta(days=30))

    assert deleted == 3
    assert _guids(await items.recent(limit=10)) == ["guid-20", "guid-10"]
    assert len(await fts_rowids(db, "ancient")) == 1
    assert [h.item.id for h in await items.search("treaty")] == [fresh[0].id, late[0].id]
    await check_fts_in_sync(db)
    with pytest.raises(StorageError, match="no story"):
        await stories.get(old_story)
    assert [s.title for s in (await stories.get(shared_story)).sources] == ["Fresh treaty"]
    assert (await matches.for_item(old[0].id)).is_empty
    assert await db.fetch_value("SELECT count(*) FROM matches") == 0
