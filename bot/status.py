"""``diplowatch status``: feed health and channel delivery state, read from storage only."""

from __future__ import annotations

from datetime import datetime

from bot.commands.formatting import format_age
from storage.db import Database
from storage.feeds import FeedRepository
from storage.lookups import LookupQueries
from storage.outbox import OutboxRepository
from storage.subscriptions import SubscriptionRepository


async def status_lines(db: Database, now: datetime) -> list[str]:
    """Feeds (last success, last error, items/day) and channels (last delivery, pending, failing)."""
    counts = await LookupQueries(db).status_counts(now)
    lines = [
        f"Items: {counts.items} ({counts.items_last_day} published in the last 24 h); "
        f"stories: {counts.stories}",
        f"Outbox: {counts.outbox_pending} pending, {counts.outbox_failed} failed",
        "",
        f"Feeds: {counts.feeds} ({counts.paused_feeds} paused, {counts.failing_feeds} failing)",
    ]
    for health in await FeedRepository(db).health(now):
        feed = health.feed
        success = "never" if feed.last_success_at is None else format_age(feed.last_success_at, now)
        line = f"  - {feed.name} <{feed.url}>: last success {success}, {health.average_per_day:.1f} items/day"
        if feed.paused:
            line += ", paused"
        if feed.consecutive_failures:
            line += f", failing ×{feed.consecutive_failures}: {feed.last_error}"
        lines.append(line)
    subscriptions = await SubscriptionRepository(db).all()
    outbox = OutboxRepository(db)
    lines += ["", f"Channels: {len(subscriptions)}"]
    for sub in subscriptions:
        s = sub.settings
        sent = await outbox.last_sent_at(s.platform, s.channel_id)
        pending = await outbox.pending_count(s.platform, s.channel_id)
        delivered = "never" if sent is None else format_age(sent, now)
        line = f"  - {s.platform}:{s.channel_id} ({s.mode}): last delivery {delivered}, {pending} pending"
        if sub.failing:
            line += f", FAILING: {sub.last_error}"
        lines.append(line)
    return lines
