"""``subscribe`` and ``unsubscribe`` change only this channel's row, in one transaction with the audit row."""

from __future__ import annotations

from datetime import time

import pytest

from bot.commands import CommandRunner
from storage.audit import AuditRepository
from storage.db import Database
from storage.subscriptions import ChannelSettings, SubscriptionRepository
from tests.bot.commands.conftest import ADMIN, DISCORD_ADMIN, T0, USER

DESK = ChannelSettings(platform="slack", channel_id="C0DESK01", actors=("un",), mode="digest")


async def test_subscribe_with_defaults_then_change_some_options(runner: CommandRunner, db: Database) -> None:
    repo = SubscriptionRepository(db)
    await repo.sync([DESK], T0)
    created = await runner.run_text(ADMIN, "subscribe")
    assert created.title == "This channel is now subscribed"
    assert created.lines[0] == "Mode: alert; min score 0"
    mine = await repo.get("slack", ADMIN.channel_id)
    assert mine is not None
    assert mine.settings == ChannelSettings(platform="slack", channel_id=ADMIN.channel_id)
    changed = await runner.run_text(
        ADMIN, 'subscribe actors:lavrov,"United Nations" mode:both min_score:0.4 digest_cron:"0 8 * * 1-5" '
               "timezone:europe/berlin quiet_hours:22:00-07:00",
    )
    assert changed.title == "Subscription updated", changed.to_text()
    assert changed.lines == (
        "Mode: both; min score 0.4",
        "Actors: lavrov, un; topics: *",
        "Digest: cron '0 8 * * 1-5' in Europe/Berlin",
        "Quiet hours: 22:00–07:00",
        "Next digest: 2024-05-21 08:00 Europe/Berlin",
    )
    mine = await repo.get("slack", ADMIN.channel_id)
    assert mine is not None
    assert mine.settings == ChannelSettings(
        platform="slack", channel_id=ADMIN.channel_id, actors=("lavrov", "un"), mode="both", min_score=0.4,
        digest_cron="0 8 * * 1-5", timezone="Europe/Berlin", quiet_hours=(time(22), time(7)),
    )
    assert (await repo.get("slack", "C0DESK01")) is not None
    partial = await runner.run_text(ADMIN, "subscribe topics:sanctions quiet_hours:off")
    assert partial.kind == "result"
    mine = await repo.get("slack", ADMIN.channel_id)
    assert mine is not None
    assert mine.settings.actors == ("lavrov", "un")
    assert (mine.settings.topics, mine.settings.mode) == (("sanctions",), "both")
    assert mine.settings.quiet_hours is None
    same = await runner.run_text(ADMIN, "subscribe mode:both")
    assert "already reads so; nothing changed" in same.title
    details = [e.detail for e in await AuditRepository(db).recent(10)]
    assert len(details) == 3
    assert details[-1].startswith("subscribed slack:C0NEWS01 (defaults): Mode: alert")
    assert details[0].startswith("changed slack:C0NEWS01 (topics, quiet_hours): ")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("subscribe actors:lavrov,*", "'*' already means every actor; give ids or '*' alone"),
        ("subscribe actors:lavorv", "no tracked actor is called 'lavorv'. Did you mean `lavrov`?"),
        ("subscribe topics:nope", "no tracked topic is called 'nope'"),
        ('subscribe digest_cron:"61 8 * * *"', "digest_cron: '61 8 * * *' is not a valid cron expression"),
        ("subscribe timezone:Mars/Base", "'Mars/Base' is not a known timezone"),
        ("subscribe mode:sometimes", "mode 'sometimes' is not one of alert, digest, both"),
        ("subscribe quiet_hours:22-07", "quiet_hours: '22-07' is not a window like '22:00-07:00'"),
    ],
)
async def test_subscribe_errors_change_nothing(
    runner: CommandRunner, db: Database, line: str, message: str
) -> None:
    reply = await runner.run_text(ADMIN, line)
    assert reply.kind == "error"
    assert message in reply.to_text()
    assert await SubscriptionRepository(db).all() == []
    assert await AuditRepository(db).count() == 0


async def test_unsubscribe_removes_only_this_channel(runner: CommandRunner, db: Database) -> None:
    repo = SubscriptionRepository(db)
    await repo.sync([DESK, ChannelSettings(platform="slack", channel_id=ADMIN.channel_id)], T0)
    not_admin = await runner.run_text(USER, "unsubscribe")
    assert not_admin.kind == "denied"
    reply = await runner.run_text(ADMIN, "unsubscribe")
    assert reply.title == "This channel is unsubscribed"
    assert [s.settings.channel_id for s in await repo.all()] == ["C0DESK01"]
    again = await runner.run_text(ADMIN, "unsubscribe")
    assert "this channel is not subscribed" in again.to_text()
    [entry] = await AuditRepository(db).recent(5)
    assert (entry.command, entry.detail) == ("unsubscribe", "unsubscribed slack:C0NEWS01")


async def test_channels_are_told_apart_by_platform(runner: CommandRunner, db: Database) -> None:
    await runner.run_text(DISCORD_ADMIN, "subscribe mode:digest")
    [row] = await SubscriptionRepository(db).all()
    settings = row.settings
    assert (settings.platform, settings.channel_id, settings.mode) == ("discord", "1234567890", "digest")
    [entry] = await AuditRepository(db).recent(1)
    assert (entry.platform, entry.actor_user) == ("discord", "dan (42)")
