"""Subscriptions from the config and from chat on a real SQLite file: a config sync leaves chat rows alone."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.config import ChannelConfig, QuietHours
from bot.outbox import channel_settings, subscription_to_channel
from feeds.errors import StorageError
from storage.db import Database, load_migrations, open_database
from storage.subscriptions import ChannelSettings, Subscription, SubscriptionRepository

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
NEWS = ChannelSettings(platform="slack", channel_id="C0NEWS", mode="both")
DESK = ChannelSettings(platform="discord", channel_id="1234", actors=("lavrov",))
CHAT = ChannelSettings(platform="slack", channel_id="C0CHAT", topics=("sanctions",), mode="digest")


async def test_a_config_sync_keeps_chat_subscriptions(db: Database) -> None:
    repo = SubscriptionRepository(db)
    await repo.sync([NEWS, DESK], T0)
    assert await repo.upsert(CHAT, "chat", T0 + MINUTE) == "added"

    # The config changed: DESK left it. The chat row stays, the config row goes.
    sync = await repo.sync([NEWS], T0 + 2 * MINUTE)

    assert (sync.added, sync.updated, sync.removed, sync.adopted) == ((), (), ("discord:1234",), ())
    stored = await repo.all()
    assert [(s.settings, s.origin) for s in stored] == [(NEWS, "config"), (CHAT, "chat")]
    assert stored[1].created_at == T0 + MINUTE


async def test_a_chat_row_the_config_names_becomes_a_config_row(db: Database) -> None:
    repo = SubscriptionRepository(db)
    await repo.upsert(CHAT, "chat", T0)
    assert await repo.mark_failing("slack", "C0CHAT", "not_in_channel", T0 + MINUTE)
    from_config = ChannelSettings(platform="slack", channel_id="C0CHAT", mode="alert")

    sync = await repo.sync([from_config], T0 + 2 * MINUTE)

    assert (sync.added, sync.updated, sync.adopted) == ((), ("slack:C0CHAT",), ("slack:C0CHAT",))
    adopted = await repo.get("slack", "C0CHAT")
    assert adopted is not None
    assert (adopted.settings, adopted.origin, adopted.created_at, adopted.failing) == (
        from_config, "config", T0, True,
    )
    # Now that the config owns it, leaving the config removes it.
    assert (await repo.sync([], T0 + 3 * MINUTE)).removed == ("slack:C0CHAT",)
    assert await repo.all() == []


async def test_upsert_changes_settings_and_keeps_state_and_origin(db: Database) -> None:
    repo = SubscriptionRepository(db)
    await repo.sync([NEWS], T0)
    await repo.set_last_digest_end("slack", "C0NEWS", T0 + MINUTE)
    changed = ChannelSettings(platform="slack", channel_id="C0NEWS", mode="digest", min_score=0.5)

    assert await repo.upsert(changed, "chat", T0 + 2 * MINUTE) == "updated"
    assert await repo.upsert(changed, "chat", T0 + 3 * MINUTE) == "unchanged"

    stored = await repo.get("slack", "C0NEWS")
    assert stored is not None
    # The config file still names the channel, so it stays a config row (the next sync restores its settings).
    assert (stored.settings, stored.origin, stored.created_at, stored.last_digest_end) == (
        changed, "config", T0, T0 + MINUTE,
    )
    assert (await repo.sync([NEWS], T0 + 4 * MINUTE)).updated == ("slack:C0NEWS",)


async def test_remove_deletes_one_channel_of_either_origin(db: Database) -> None:
    repo = SubscriptionRepository(db)
    await repo.sync([NEWS], T0)
    await repo.upsert(CHAT, "chat", T0)

    assert await repo.remove("slack", "C0CHAT")
    assert not await repo.remove("slack", "C0CHAT")
    assert await repo.remove("slack", "C0NEWS")
    assert await repo.all() == []
    # A removed config channel comes back with the next sync while the config names it.
    assert (await repo.sync([NEWS], T0 + MINUTE)).added == ("slack:C0NEWS",)


async def test_rows_from_before_the_origin_column_are_config_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in load_migrations():
        if migration.name == "subscription_origin":
            break
        conn.executescript(migration.sql)
        conn.execute(f"PRAGMA user_version = {migration.version}")
    conn.execute(
        "INSERT INTO subscriptions (platform, channel_id, mode, digest_cron, timezone, created_at) "
        "VALUES ('slack', 'C0OLD', 'alert', '0 8 * * *', 'UTC', 0)"
    )
    conn.close()

    async with await open_database(path) as db:
        (old,) = await SubscriptionRepository(db).all()

    assert (old.settings.channel_id, old.origin) == ("C0OLD", "config")


async def test_a_chat_subscription_becomes_the_channel_delivery_uses(db: Database) -> None:
    repo = SubscriptionRepository(db)
    settings = ChannelSettings(
        platform="discord", channel_id="1234", actors=("lavrov",), topics=("*",), mode="both", min_score=0.4,
        digest_cron="0 8 * * 1-5", timezone="Europe/Berlin", quiet_hours=(time(22), time(7)),
    )
    await repo.upsert(settings, "chat", T0)
    (stored,) = await repo.all()

    channel = subscription_to_channel(stored)

    assert channel == ChannelConfig(
        platform="discord", id="1234", actors=("lavrov",), topics=("*",), mode="both", min_score=0.4,
        digest_cron="0 8 * * 1-5", timezone="Europe/Berlin",
        quiet_hours=QuietHours(start=time(22), end=time(7)),
    )
    assert channel_settings(channel) == settings
    matrix = ChannelSettings(platform="matrix", channel_id="!room")
    unknown = Subscription(id=9, settings=matrix, created_at=T0)
    with pytest.raises(StorageError, match="unknown platform 'matrix'"):
        subscription_to_channel(unknown)
