"""Opening, pragmas, migrations and transactions on real SQLite files."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.errors import StorageError
from feeds.models import FeedState
from storage.db import (
    Database,
    Migration,
    decode_time,
    encode_time,
    load_migrations,
    open_database,
    statement_sizes,
)
from storage.feeds import FeedRepository
from storage.items import ItemRepository
from tests.storage.samples import T0, make_item, make_source

MIGRATIONS = load_migrations()
LATEST = MIGRATIONS[-1].version


def _schema(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master").fetchall()
    conn.close()
    return {(str(kind), str(name), " ".join(str(sql).split())) for kind, name, sql in rows}


def _create_at_version(path: Path, version: int) -> None:
    """A database as an older diplowatch with only the first ``version`` migrations would have left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:version]:
        conn.executescript(migration.sql)
        conn.execute(f"PRAGMA user_version = {migration.version}")
    if version >= 1:
        conn.execute(
            "INSERT INTO feeds (url, name, interval_s, origin, created_at) "
            "VALUES ('https://old.example/rss', 'Old feed', 300, 'config', 0)"
        )
    conn.close()


async def test_fresh_database_has_pragmas_and_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    async with await open_database(path) as db:
        assert await db.schema_version() == LATEST
        assert await db.fetch_value("PRAGMA journal_mode") == "wal"
        assert await db.fetch_value("PRAGMA foreign_keys") == 1
        assert await db.fetch_value("PRAGMA busy_timeout") == 5000
        assert await db.fetch_value("PRAGMA synchronous") == 1  # NORMAL
        assert await db.fetch_value("PRAGMA page_size") == 16384
        assert await db.fetch_value("PRAGMA cache_size") == -8192  # KiB
    assert path.is_file()


async def test_an_existing_database_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")  # a file made before 16 KiB pages: SQLite's 4 KiB
    conn.execute("CREATE TABLE early (x)")
    conn.close()
    async with await open_database(path) as db:
        assert await db.fetch_value("PRAGMA page_size") == 4096
        assert await db.schema_version() == LATEST
    async with await open_database(path) as db:
        assert await db.fetch_value("PRAGMA page_size") == 4096


async def test_full_text_index_merges_eight_segments_at_a_time(tmp_path: Path) -> None:
    async with await open_database(tmp_path / "fts.db") as db:
        assert await db.fetch_value("SELECT v FROM items_fts_config WHERE k = 'automerge'") == 8


async def test_busy_timeout_is_configurable(tmp_path: Path) -> None:
    async with await open_database(tmp_path / "t.db", busy_timeout_ms=1234) as db:
        assert await db.fetch_value("PRAGMA busy_timeout") == 1234


async def test_bare_file_name_opens_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await open_database("plain.db") as db:
        assert await db.schema_version() == LATEST
    assert (tmp_path / "plain.db").is_file()


def test_migrations_are_numbered_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    for migration in MIGRATIONS:
        assert migration.statements(), migration.name


@pytest.mark.parametrize("start", range(len(MIGRATIONS)))
async def test_upgrade_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    reference = tmp_path / "reference.db"
    async with await open_database(reference):
        pass
    old = tmp_path / f"at-{start}.db"
    _create_at_version(old, start)

    async with await open_database(old) as db:
        assert await db.schema_version() == LATEST
        feeds = await FeedRepository(db).all()
    assert _schema(old) == _schema(reference)
    assert [f.url for f in feeds] == (["https://old.example/rss"] if start >= 1 else [])


async def test_reopening_a_current_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    async with await open_database(path) as db:
        await FeedRepository(db).add(make_source(1), T0)
    before = _schema(path)
    async with await open_database(path) as db:
        assert len(await FeedRepository(db).all()) == 1
    assert _schema(path) == before


async def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    async with await open_database(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(StorageError, match=r"schema version \d+, newer than this diplowatch knows"):
        await open_database(path)


async def test_failed_migration_rolls_back_and_keeps_the_version(db: Database) -> None:
    broken = Migration(
        version=LATEST + 1,
        name="broken",
        sql="CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    with pytest.raises(StorageError, match="broken failed"):
        await db.migrate([*MIGRATIONS, broken])
    assert await db.schema_version() == LATEST
    assert await db.fetch_value("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") == 0


def test_unterminated_migration_statement_is_reported() -> None:
    migration = Migration(version=9, name="oops", sql="CREATE TABLE a (x);\nCREATE TABLE b (y)\n-- done\n")
    with pytest.raises(StorageError, match="0009_oops ends with an unterminated statement"):
        migration.statements()


def test_trigger_bodies_stay_one_statement() -> None:
    sql = (
        "-- header; with a semicolon\n/* block */\nCREATE TABLE t (x);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\n"
        "-- trailing\n"
    )
    statements = Migration(version=1, name="t", sql=sql).statements()
    assert len(statements) == 2
    assert statements[0] == "CREATE TABLE t (x);"
    assert statements[1].endswith("END;")


@pytest.mark.parametrize(
    ("make_path", "reason"),
    [
        (lambda tmp: tmp / "missing" / "dir" / "x.db", "does not exist"),
        (lambda tmp: tmp / "a-file" / "x.db", "is not a directory"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: tmp / "garbage.db", "not a database"),
    ],
    ids=["missing-directory", "parent-is-a-file", "path-is-a-directory", "not-a-database"],
)
async def test_unusable_paths_raise_storage_error(tmp_path: Path, make_path: object, reason: str) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "garbage.db").write_bytes(b"this is not an sqlite file at all" * 100)
    assert callable(make_path)
    path = make_path(tmp_path)
    with pytest.raises(StorageError, match="cannot open database at") as info:
        await open_database(path)
    assert reason in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
async def test_read_only_directory_raises_storage_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="cannot open database at"):
            await open_database(locked / "x.db")
    finally:
        locked.chmod(0o700)


def test_times_are_stored_sortable_and_come_back_aware_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    back = decode_time(encode_time(local))
    assert back == local
    assert back.utcoffset() == timedelta(0)
    assert encode_time(T0) < encode_time(T0 + timedelta(microseconds=1))
    with pytest.raises(StorageError, match="naive"):
        encode_time(datetime(2024, 5, 1, 12, 0))


async def test_a_failed_poll_leaves_nothing_written(db: Database, feed: FeedState) -> None:
    feeds, items = FeedRepository(db), ItemRepository(db)
    with pytest.raises(RuntimeError, match="parser exploded"):
        async with db.transaction():
            stored = await items.add_items(feed.id, [make_item(n) for n in range(5)], fetched_at=T0)
            assert len(stored) == 5
            await feeds.record_success(
                feed.id, now=T0, etag='"v1"', last_modified=None, body_hash="b", next_poll_at=T0
            )
            raise RuntimeError("parser exploded")
    assert await items.recent(limit=10) == []
    assert await items.search("report") == []
    assert await feeds.get(feed.id) == feed


async def test_nested_transaction_is_a_savepoint(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    async with db.transaction():
        await items.add_items(feed.id, [make_item(1)], fetched_at=T0)
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await items.add_items(feed.id, [make_item(2)], fetched_at=T0)
                raise RuntimeError("inner failure")
        await items.add_items(feed.id, [make_item(3)], fetched_at=T0)
    assert sorted(s.item.guid or "" for s in await items.recent(limit=10)) == ["guid-1", "guid-3"]


async def test_other_tasks_wait_for_an_open_transaction(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    release = asyncio.Event()

    async def writer() -> None:
        async with db.transaction():
            await items.add_items(feed.id, [make_item(1)], fetched_at=T0)
            await release.wait()

    writing = asyncio.create_task(writer())
    for _ in range(20):
        await asyncio.sleep(0)
    reading = asyncio.create_task(items.recent(limit=10))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not reading.done()  # it must not read (or join) the uncommitted transaction
    release.set()
    await writing
    assert [s.item.guid for s in await reading] == ["guid-1"]


async def test_two_writers_on_one_file_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with await open_database(path) as first, await open_database(path) as second:
        feed_a = await FeedRepository(first).add(make_source(1), T0)
        feed_b = await FeedRepository(second).add(make_source(2), T0)
        started = asyncio.Event()

        async def slow_writer() -> None:
            async with first.transaction():
                await ItemRepository(first).add_items(
                    feed_a.id, [make_item(n) for n in range(50)], fetched_at=T0
                )
                started.set()
                # Hold the write lock while the other connection asks for it.
                await asyncio.sleep(0.2)

        async def waiting_writer() -> int:
            await started.wait()
            async with second.transaction():
                stored = await ItemRepository(second).add_items(
                    feed_b.id, [make_item(n) for n in range(50)], fetched_at=T0
                )
            return len(stored)

        _, second_count = await asyncio.gather(slow_writer(), waiting_writer())
        assert second_count == 50
        assert len(await ItemRepository(first).recent(limit=1000)) == 100


async def test_writer_without_busy_timeout_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with (
        await open_database(path) as first,
        await open_database(path, busy_timeout_ms=0) as impatient,
        first.transaction(),
    ):
        await FeedRepository(first).add(make_source(1), T0)
        with pytest.raises(StorageError, match="locked by another writer"):
            async with impatient.transaction():
                await FeedRepository(impatient).add(make_source(2), T0)
    async with await open_database(path) as db:
        assert [f.url for f in await FeedRepository(db).all()] == [make_source(1).url]


async def test_closed_database_raises_storage_error(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "closed.db")
    await db.close()
    with pytest.raises(StorageError):
        await db.fetch_all("SELECT 1")


async def test_cancelled_wait_for_the_write_lock_leaves_no_transaction_behind(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with await open_database(path) as first, await open_database(path) as second:
        release = asyncio.Event()
        holding = asyncio.Event()

        async def holder() -> None:
            async with first.transaction():
                await FeedRepository(first).add(make_source(1), T0)
                holding.set()
                await release.wait()

        async def waiter() -> None:
            async with second.transaction():
                await FeedRepository(second).add(make_source(2), T0)

        holder_task = asyncio.create_task(holder())
        await holding.wait()
        waiting = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)  # let its BEGIN IMMEDIATE reach SQLite's busy wait
        waiting.cancel()
        release.set()
        await holder_task
        with pytest.raises(asyncio.CancelledError):
            await waiting
        async with second.transaction():
            await FeedRepository(second).add(make_source(3), T0)
        assert [f.url for f in await FeedRepository(second).all()] == [make_source(1).url, make_source(3).url]


@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=1, max_value=999))
def test_statement_sizes_cover_every_row_with_few_distinct_sizes(count: int, largest: int) -> None:
    sizes = statement_sizes(count, largest)
    assert sum(sizes) == count and all(0 < size <= largest for size in sizes)
    remainders = [size for size in sizes if size != largest]
    # Only powers of two below the largest, each once: a handful of statements to prepare and cache.
    assert all(size & (size - 1) == 0 for size in remainders)
    assert len(set(remainders)) == len(remainders) and sum(remainders) < largest
