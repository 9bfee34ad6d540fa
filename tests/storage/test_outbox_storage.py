"""The outbox and subscription tables on a real SQLite file: uniqueness, due order, outcomes, config sync."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiosqlite
import pytest

from feeds.errors import StorageError
from storage.db import Database, load_migrations, open_database
from storage.outbox import EntryKind, OutboxRepository, dedupe_key
from storage.subscriptions import ChannelSettings, SubscriptionRepository

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


async def queue_alert(repo: OutboxRepository, story_id: int, *, channel: str = "C1", now: datetime = T0,
                      not_before: datetime | None = None) -> bool:
    return await repo.queue(
        platform="slack", channel_id=channel, kind="alert", payload=f'{{"story": {story_id}}}', now=now,
        story_id=story_id, not_before=not_before,
    )


async def queue_period(repo: OutboxRepository, kind: EntryKind) -> bool:
    return await repo.queue(platform="slack", channel_id="C1", kind=kind, payload="{}", now=T0, period_end=T0)


# --- outbox ----------------------------------------------------------------------------------------------


async def test_a_story_is_queued_once_per_channel_and_kind(db: Database) -> None:
    repo = OutboxRepository(db)
    assert await queue_alert(repo, 1)
    assert not await queue_alert(repo, 1, now=T0 + MINUTE)
    assert await queue_alert(repo, 1, channel="C2")
    # The same period end twice is one digest; a note for that period is another kind.
    assert await queue_period(repo, "digest")
    assert not await queue_period(repo, "digest")
    assert await queue_period(repo, "note")
    assert await repo.pending_count("slack", "C1") == 3
    assert await repo.pending_count("slack", "C2") == 1
    rows = await db.fetch_all(
        "SELECT kind, dedupe_key, story_id FROM outbox WHERE channel_id = 'C1' ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("alert", "story:1", 1), ("digest", f"period:{T0.timestamp():.6f}", None),
        ("note", f"period:{T0.timestamp():.6f}", None),
    ]


async def test_an_entry_is_keyed_by_exactly_one_of_story_or_period(db: Database) -> None:
    repo = OutboxRepository(db)
    with pytest.raises(StorageError, match="exactly one"):
        await repo.queue(platform="slack", channel_id="C1", kind="alert", payload="{}", now=T0)
    with pytest.raises(StorageError, match="exactly one"):
        dedupe_key(story_id=1, period_end=T0)


async def test_due_keeps_channel_order_behind_a_waiting_retry(db: Database) -> None:
    repo = OutboxRepository(db)
    for story_id in (1, 2, 3):
        await queue_alert(repo, story_id, channel="A")
    await queue_alert(repo, 4, channel="B")
    first = (await repo.due(T0, 10))[0]
    assert [(e.channel_id, e.story_id) for e in await repo.due(T0, 10)] == [
        ("A", 1), ("A", 2), ("A", 3), ("B", 4),
    ]
    assert await repo.mark_retry(first.id, "rate limited", T0 + 5 * MINUTE)
    # Channel A waits for its first entry; channel B is unaffected.
    assert [(e.channel_id, e.story_id) for e in await repo.due(T0 + MINUTE, 10)] == [("B", 4)]
    assert [e.story_id for e in await repo.due(T0 + 5 * MINUTE, 10)] == [1, 2, 3, 4]
    assert [e.story_id for e in await repo.due(T0 + 5 * MINUTE, 2)] == [1, 2]
    assert await repo.due(T0, 10, platforms=["discord"]) == []
    assert await repo.due(T0, 10, platforms=[]) == []


async def test_not_before_holds_an_entry(db: Database) -> None:
    repo = OutboxRepository(db)
    await queue_alert(repo, 1, not_before=T0 + 60 * MINUTE)
    await queue_alert(repo, 2, not_before=T0 - MINUTE)  # in the past: due now
    assert await repo.due(T0, 10) == []  # 2 waits behind 1 in the same channel
    entries = await repo.due(T0 + 60 * MINUTE, 10)
    assert [e.story_id for e in entries] == [1, 2]
    assert entries[1].next_attempt_at == T0


async def test_outcomes_are_recorded(db: Database) -> None:
    repo = OutboxRepository(db)
    await queue_alert(repo, 1)
    await queue_alert(repo, 2, channel="C2")
    one, two = await repo.due(T0, 10)
    assert (one.state, one.attempts, one.created_at) == ("pending", 0, T0)
    assert (one.sent_at, one.message_ids, one.last_error) == (None, (), None)

    assert await repo.mark_retry(one.id, "HTTP 502", T0 + MINUTE)
    assert await repo.mark_sent(one.id, ["m1", "m2"], T0 + 2 * MINUTE)
    assert not await repo.mark_sent(one.id, ["again"], T0 + 3 * MINUTE)  # no longer pending
    sent = await repo.get(one.id)
    assert sent is not None
    assert (sent.state, sent.attempts, sent.message_ids, sent.sent_at, sent.last_error) == (
        "sent", 2, ("m1", "m2"), T0 + 2 * MINUTE, None,
    )

    assert await repo.mark_failed(two.id, "channel_not_found")
    failed = await repo.get(two.id)
    assert failed is not None
    assert (failed.state, failed.attempts, failed.last_error) == ("failed", 1, "channel_not_found")
    assert not await repo.mark_retry(two.id, "late", T0)
    assert await repo.due(T0 + 60 * MINUTE, 10) == []
    assert await repo.pending_count("slack", "C1") == 0
    assert await repo.get(999) is None


async def test_delete_older_than_keeps_pending_entries(db: Database) -> None:
    repo = OutboxRepository(db)
    await queue_alert(repo, 1, now=T0)
    await queue_alert(repo, 2, now=T0, channel="C2")
    await queue_alert(repo, 3, now=T0, channel="C3")
    await queue_alert(repo, 4, now=T0 + 10 * MINUTE, channel="C4")
    entries = {e.story_id: e for e in await repo.due(T0 + 10 * MINUTE, 10)}
    await repo.mark_sent(entries[1].id, ["x"], T0)
    await repo.mark_failed(entries[2].id, "gone")
    await repo.mark_sent(entries[4].id, ["y"], T0 + 10 * MINUTE)
    assert await repo.delete_older_than(T0 + MINUTE) == 2
    remaining = await db.fetch_all("SELECT story_id, state FROM outbox ORDER BY story_id")
    assert [tuple(r) for r in remaining] == [(3, "pending"), (4, "sent")]
    # An alert whose row was pruned can be queued again; ids are never reused.
    assert await queue_alert(repo, 1, now=T0 + 20 * MINUTE)
    newest = await db.fetch_value("SELECT max(id) FROM outbox")
    assert newest == 5


# --- subscriptions -----------------------------------------------------------------------------------------


SLACK = ChannelSettings(
    platform="slack", channel_id="C0123456", actors=("lavrov", "iran"), topics=("*",), mode="both",
    min_score=0.3, digest_cron="0 8 * * 1-5", timezone="Europe/Moscow",
    quiet_hours=(time(22, 0), time(7, 30)), backfill=5, empty_digest="note",
)
DISCORD = ChannelSettings(platform="discord", channel_id="123456789")


async def test_sync_inserts_updates_and_removes(db: Database) -> None:
    repo = SubscriptionRepository(db)
    first = await repo.sync([SLACK, DISCORD], T0)
    assert (first.added, first.updated, first.removed) == (("slack:C0123456", "discord:123456789"), (), ())
    stored = await repo.get("slack", "C0123456")
    assert stored is not None
    assert stored.settings == SLACK
    assert (stored.created_at, stored.last_digest_end, stored.failing) == (T0, None, False)

    assert await repo.set_last_digest_end("slack", "C0123456", T0 + MINUTE)
    assert await repo.mark_failing("slack", "C0123456", "not_in_channel", T0 + 2 * MINUTE)
    changed = ChannelSettings(
        platform="slack", channel_id="C0123456", actors=("*",), timezone="UTC", quiet_hours=None
    )
    second = await repo.sync([changed], T0 + 3 * MINUTE)
    assert (second.added, second.updated, second.removed) == ((), ("slack:C0123456",), ("discord:123456789",))
    after = await repo.get("slack", "C0123456")
    assert after is not None
    # Settings follow the config; delivery state survives.
    assert after.settings == changed
    assert (after.created_at, after.last_digest_end, after.failing, after.last_error) == (
        T0, T0 + MINUTE, True, "not_in_channel",
    )
    assert after.last_error_at == T0 + 2 * MINUTE
    assert await repo.get("discord", "123456789") is None

    unchanged = await repo.sync([changed], T0 + 4 * MINUTE)
    assert (unchanged.added, unchanged.updated, unchanged.removed) == ((), (), ())
    assert [s.settings for s in await repo.all()] == [changed]


async def test_failing_flag_and_digest_end(db: Database) -> None:
    repo = SubscriptionRepository(db)
    await repo.sync([SLACK], T0)
    assert not await repo.clear_failing("slack", "C0123456")  # was not failing
    assert await repo.mark_failing("slack", "C0123456", "missing access", T0)
    assert await repo.clear_failing("slack", "C0123456")
    healthy = await repo.get("slack", "C0123456")
    assert healthy is not None and not healthy.failing
    assert healthy.last_error == "missing access"  # kept for the status command
    assert not await repo.mark_failing("slack", "CUNKNOWN", "x", T0)

    await repo.set_last_digest_end("slack", "C0123456", T0 + 60 * MINUTE)
    await repo.set_last_digest_end("slack", "C0123456", T0)  # never moves backwards
    later = await repo.get("slack", "C0123456")
    assert later is not None and later.last_digest_end == T0 + 60 * MINUTE
    assert not await repo.set_last_digest_end("slack", "CUNKNOWN", T0)


# --- migration ---------------------------------------------------------------------------------------------


async def test_migration_0002_only_adds_tables(tmp_path: Path) -> None:
    migrations = load_migrations()
    delivery = next(m for m in migrations if m.version == 2)
    assert delivery.name == "delivery"
    for statement in delivery.statements():
        code = re.sub(r"--[^\n]*", "", statement).strip().upper()
        assert code.startswith(("CREATE TABLE", "CREATE INDEX")), statement

    fresh = await open_database(tmp_path / "fresh.db")
    try:
        fresh_schema = await _schema(fresh)
    finally:
        await fresh.close()
    # A file that stopped at 0001 upgrades to the same schema, and its rows survive.
    older = tmp_path / "older.db"
    async with aiosqlite.connect(older) as conn:
        for statement in migrations[0].statements():
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO stories (key, title, first_seen, last_seen) VALUES ('k', 'kept', 1.0, 1.0)"
        )
        await conn.execute("PRAGMA user_version = 1")
        await conn.commit()
    upgraded = await open_database(older)
    try:
        assert await upgraded.schema_version() == migrations[-1].version
        assert await _schema(upgraded) == fresh_schema
        assert await upgraded.fetch_value("SELECT title FROM stories") == "kept"
        assert await queue_alert(OutboxRepository(upgraded), 1)
    finally:
        await upgraded.close()


async def _schema(db: Database) -> set[str]:
    rows = await db.fetch_all("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
    return {str(row[0]) for row in rows}
