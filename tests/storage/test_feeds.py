"""Feed configuration sync, scheduling state and health."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from feeds.errors import StorageError
from feeds.models import FeedSource, FeedState
from storage.db import Database
from storage.feeds import FeedRepository, FetchSuccess
from storage.items import ItemRepository
from tests.storage.samples import T0, check_fts_in_sync, fts_rowids, make_item, make_source


async def test_sync_inserts_updates_and_keeps_chat_feeds(db: Database) -> None:
    repo = FeedRepository(db)
    first = await repo.sync_configured([make_source(1), make_source(2)], T0)
    assert [(f.url, f.name, f.interval_s) for f in first] == [
        (make_source(1).url, "Feed 1", 600),
        (make_source(2).url, "Feed 2", 600),
    ]
    chat = await repo.add(FeedSource(url="https://chat.example/rss", name="From chat", interval_s=900), T0)

    renamed = FeedSource(url=make_source(1).url, name="Feed one", interval_s=300)
    after = await repo.sync_configured([renamed, make_source(3)], T0 + timedelta(hours=1))

    by_url = {f.url: f for f in after}
    assert set(by_url) == {make_source(1).url, make_source(3).url, chat.url}  # feed 2 left the config
    assert (by_url[renamed.url].name, by_url[renamed.url].interval_s) == ("Feed one", 300)
    assert by_url[renamed.url].id == first[0].id
    health = {h.feed.url: h.origin for h in await repo.health(T0)}
    assert health == {make_source(1).url: "config", make_source(3).url: "config", chat.url: "chat"}


async def test_chat_feed_listed_in_config_becomes_a_config_feed(db: Database) -> None:
    repo = FeedRepository(db)
    chat = await repo.add(make_source(7), T0, "chat")
    await repo.sync_configured([make_source(7)], T0)
    assert [h.origin for h in await repo.health(T0)] == ["config"]
    assert (await repo.all())[0].id == chat.id
    await repo.sync_configured([], T0)
    assert await repo.all() == []


async def test_shorter_interval_pulls_the_next_poll_in_but_keeps_backoff(db: Database) -> None:
    repo = FeedRepository(db)
    [feed] = await repo.sync_configured([make_source(1, interval_s=3600)], T0)
    await repo.record_failure(feed.id, now=T0, error="HTTP 503", next_poll_at=T0 + timedelta(hours=6))

    [same] = await repo.sync_configured([make_source(1, interval_s=3600)], T0)
    assert same.next_poll_at == T0 + timedelta(hours=6)  # unchanged interval: backoff stays

    [faster] = await repo.sync_configured([make_source(1, interval_s=300)], T0)
    assert faster.next_poll_at == T0 + timedelta(seconds=300)


async def test_add_get_by_url_and_duplicates(db: Database) -> None:
    repo = FeedRepository(db)
    feed = await repo.add(make_source(1), T0)
    assert feed == FeedState(id=feed.id, url=make_source(1).url, name="Feed 1", interval_s=600)
    assert await repo.get(feed.id) == feed
    assert await repo.by_url(make_source(1).url) == feed
    assert await repo.by_url("https://nowhere.example/") is None
    with pytest.raises(StorageError, match="already tracked"):
        await repo.add(replace(make_source(1), name="Again"), T0)
    with pytest.raises(StorageError, match="positive"):
        await repo.add(make_source(2, interval_s=0), T0)


async def test_due_feeds(db: Database) -> None:
    repo = FeedRepository(db)
    a = await repo.add(make_source(1), T0)
    b = await repo.add(make_source(2), T0)
    c = await repo.add(make_source(3), T0)
    assert [f.id for f in await repo.due(T0, limit=10)] == [a.id, b.id, c.id]  # never polled: all due
    assert [f.id for f in await repo.due(T0, limit=2)] == [a.id, b.id]

    await repo.record_success(
        a.id, now=T0, etag=None, last_modified=None, body_hash=None, next_poll_at=T0 + timedelta(minutes=10)
    )
    await repo.record_not_modified(b.id, now=T0, next_poll_at=T0 + timedelta(minutes=5))
    await repo.set_paused(c.id, True)
    assert await repo.due(T0, limit=10) == []
    assert [f.id for f in await repo.due(T0 + timedelta(minutes=5), limit=10)] == [b.id]
    assert [f.id for f in await repo.due(T0 + timedelta(minutes=10), limit=10)] == [
        b.id,
        a.id,
    ]  # most overdue
    await repo.set_paused(c.id, False)
    assert c.id in [f.id for f in await repo.due(T0, limit=10)]


async def test_success_failure_and_not_modified_state(db: Database, feed: FeedState) -> None:
    repo = FeedRepository(db)
    t1, t2, t3 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)

    await repo.record_success(
        feed.id,
        now=T0,
        etag='"abc"',
        last_modified="Wed, 01 May 2024 12:00:00 GMT",
        body_hash="h1",
        next_poll_at=t1,
    )
    ok = await repo.get(feed.id)
    assert (ok.etag, ok.last_modified, ok.body_hash) == ('"abc"', "Wed, 01 May 2024 12:00:00 GMT", "h1")
    assert (ok.last_success_at, ok.next_poll_at, ok.consecutive_failures) == (T0, t1, 0)

    await repo.record_failure(feed.id, now=t1, error="HTTP 500", next_poll_at=t2)
    await repo.record_failure(feed.id, now=t2, error="timed out", next_poll_at=t3)
    failing = await repo.get(feed.id)
    assert (failing.consecutive_failures, failing.last_error, failing.last_error_at) == (2, "timed out", t2)
    assert failing.etag == '"abc"'  # validators survive failures
    assert failing.last_success_at == T0

    await repo.record_not_modified(feed.id, now=t3, next_poll_at=t3 + timedelta(minutes=10))
    back = await repo.get(feed.id)
    assert (back.consecutive_failures, back.last_success_at, back.etag, back.body_hash) == (
        0,
        t3,
        '"abc"',
        "h1",
    )
    assert back.next_poll_at == t3 + timedelta(minutes=10)
    assert back.last_error == "timed out"  # history: the last error stays visible
    assert back.next_poll_at is not None and back.next_poll_at.utcoffset() == timedelta(0)


async def test_unknown_feed_ids_raise(db: Database) -> None:
    repo = FeedRepository(db)
    with pytest.raises(StorageError, match="no feed with id 42"):
        await repo.get(42)
    with pytest.raises(StorageError, match="no feed with id 42"):
        await repo.record_failure(42, now=T0, error="x", next_poll_at=T0)
    with pytest.raises(StorageError, match="no feed with id 42"):
        await repo.set_paused(42, True)
    with pytest.raises(StorageError, match="no feed with id 42"):
        await repo.remove(42)
    with pytest.raises(StorageError, match="no feed with id 42"):
        await repo.record_success(42, now=T0, etag=None, last_modified=None, body_hash=None, next_poll_at=T0)


async def test_record_successes_updates_each_feed_and_names_a_missing_one(
    db: Database, feed: FeedState, other_feed: FeedState
) -> None:
    repo = FeedRepository(db)
    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    await repo.record_failure(feed.id, now=T0, error="HTTP 500", next_poll_at=t1)
    await repo.record_successes(
        [
            FetchSuccess(
                feed_id=feed.id, now=t1, etag='"e1"', last_modified=None, body_hash="h1", next_poll_at=t2
            ),
            FetchSuccess(
                feed_id=other_feed.id, now=t1, etag=None, last_modified="lm", body_hash="h2", next_poll_at=t1
            ),
        ]
    )
    one, two = await repo.get(feed.id), await repo.get(other_feed.id)
    assert (one.etag, one.body_hash, one.consecutive_failures, one.next_poll_at) == ('"e1"', "h1", 0, t2)
    assert (two.last_modified, two.body_hash, two.last_success_at, two.next_poll_at) == ("lm", "h2", t1, t1)

    ok = FetchSuccess(feed_id=feed.id, now=t2, etag=None, last_modified=None, body_hash="h3", next_poll_at=t2)
    missing = FetchSuccess(feed_id=99, now=t2, etag=None, last_modified=None, body_hash="h", next_poll_at=t2)
    with pytest.raises(StorageError, match="no feed with id 99"):
        await repo.record_successes([ok, missing])


async def test_remove_deletes_the_feed_and_its_items(
    db: Database, feed: FeedState, other_feed: FeedState
) -> None:
    repo, items = FeedRepository(db), ItemRepository(db)
    await items.add_items(feed.id, [make_item(1, title="Vanishing summit")], fetched_at=T0)
    await items.add_items(other_feed.id, [make_item(2, title="Lasting summit")], fetched_at=T0)
    await repo.remove(feed.id)
    assert [f.id for f in await repo.all()] == [other_feed.id]
    assert [h.item.item.title for h in await items.search("summit")] == ["Lasting summit"]
    assert len(await fts_rowids(db, "summit")) == 1
    await check_fts_in_sync(db)


async def test_health_counts_items_per_day(db: Database, feed: FeedState, other_feed: FeedState) -> None:
    now = T0 + timedelta(days=10)
    published = [
        now - timedelta(hours=1),
        now - timedelta(hours=2),
        now - timedelta(days=1, hours=1),
        now - timedelta(days=6, hours=23),
        now - timedelta(days=8),  # outside the week
        now + timedelta(hours=1),  # in the future: not counted
    ]
    await ItemRepository(db).add_items(
        feed.id, [make_item(n, published=p) for n, p in enumerate(published)], fetched_at=now
    )
    health = await FeedRepository(db).health(now)
    assert [h.feed.id for h in health] == [feed.id, other_feed.id]
    assert health[0].items_per_day == (2, 1, 0, 0, 0, 0, 1)
    assert health[0].items_last_week == 4
    assert health[0].average_per_day == pytest.approx(4 / 7)
    assert health[0].created_at == T0
    assert health[1].items_per_day == (0,) * 7
