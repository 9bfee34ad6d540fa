"""From stored stories to queued messages: alerts after each poll, digests on each channel's schedule."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import ChannelConfig
from bot.outbox import DeliveryOutbox, DeliveryReport, subscription_to_channel
from bot.poller import FeedPollResult, NewItem
from bot.render import render_alert, render_digest, render_empty_digest_note
from bot.routing import channel_wants, digest_period, in_quiet_hours, previous_digest_at, quiet_hours_end
from feeds.models import Story, Watchlist
from storage.db import Database
from storage.stories import StoryRepository
from storage.subscriptions import SubscriptionRepository

log = logging.getLogger(__name__)

# How far back a digest or a backfill looks for stories; older periods are not worth a message.
MAX_DIGEST_LOOKBACK = timedelta(days=14)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestResult:
    """What one digest run queued."""

    channel: ChannelConfig
    period_start: datetime
    period_end: datetime
    stories: int
    queued: bool


def alerting_channels(channels: Sequence[ChannelConfig]) -> list[ChannelConfig]:
    """Channels that want alerts."""
    return [c for c in channels if c.mode in ("alert", "both")]


def digest_channels(channels: Sequence[ChannelConfig]) -> list[ChannelConfig]:
    """Channels that want digests."""
    return [c for c in channels if c.mode in ("digest", "both")]


def collect_alert_candidates(result: FeedPollResult, candidates: dict[int, NewItem]) -> None:
    """Note in ``candidates`` (story id → the item that first told it) the stories ``result`` may alert."""
    if result.feed.last_success_at is None and result.feed.body_hash is None:
        # A feed's first poll is its history: it must not flood the channels.
        return
    for new in result.new_items:
        if new.story_id is not None and not new.match.is_empty:
            candidates.setdefault(new.story_id, new)


class Dispatcher:
    """Decides which channel hears about which story, and queues it in the outbox (delivery is separate)."""

    def __init__(
        self,
        *,
        db: Database,
        configured: Sequence[ChannelConfig],
        outbox: DeliveryOutbox,
        stories: StoryRepository,
        subscriptions: SubscriptionRepository,
    ) -> None:
        self._db = db
        self.configured = tuple(configured)
        self.outbox = outbox
        self._stories = stories
        self._subscriptions = subscriptions

    async def channels(self) -> list[ChannelConfig]:
        """Every subscribed channel: from the config and from chat (``subscribe``)."""
        return [subscription_to_channel(s) for s in await self._subscriptions.all()]

    async def sync_channels(self, *, now: datetime, watchlist: Watchlist) -> list[str]:
        """Store configured channels; a newly added channel gets its ``backfill`` most recent stories."""
        async with self._db.transaction():
            sync = await self.outbox.sync_channels(self.configured, now)
        lines = [f"channel added: {c}" for c in sync.added] + [f"channel removed: {c}" for c in sync.removed]
        added = set(sync.added)
        for channel in self.configured:
            if (
                f"{channel.platform}:{channel.id}" in added
                and channel.backfill > 0
                and channel.mode != "digest"
            ):
                queued = await self._backfill(channel, now=now, watchlist=watchlist)
                lines.append(f"channel {channel.platform}:{channel.id}: {queued} stories backfilled")
        return lines

    async def _backfill(self, channel: ChannelConfig, *, now: datetime, watchlist: Watchlist) -> int:
        recent = await self._stories.recent(now - MAX_DIGEST_LOOKBACK, limit=max(channel.backfill * 10, 100))
        wanted = [s for s in recent if channel_wants(channel, s.actors, s.topics, s.score)][
            : channel.backfill
        ]
        queued = 0
        async with self._db.transaction():
            for story in reversed(wanted):  # oldest first, so the channel reads them in order
                message = render_alert(story, item_snippet="", spans=(), watchlist=watchlist)
                queued += await self.outbox.queue_alert(channel, story_id=story.id, message=message, now=now)
        return queued

    async def queue_alerts(
        self, results: Sequence[FeedPollResult], *, now: datetime, watchlist: Watchlist
    ) -> int:
        """Queue one alert per (channel, story) for the stories this poll touched; returns how many."""
        candidates: dict[int, NewItem] = {}
        for result in results:
            collect_alert_candidates(result, candidates)
        return await self.queue_candidate_alerts(candidates, now=now, watchlist=watchlist)

    async def queue_candidate_alerts(
        self, candidates: Mapping[int, NewItem], *, now: datetime, watchlist: Watchlist
    ) -> int:
        """:meth:`queue_alerts` for candidates gathered by :func:`collect_alert_candidates`."""
        channels = alerting_channels(await self.channels())
        if not candidates or not channels:
            return 0
        queued = 0
        async with self._db.transaction():
            for story_id, new in candidates.items():
                story = await self._stories.get(story_id)
                for channel in channels:
                    if not channel_wants(channel, story.actors, story.topics, story.score):
                        continue
                    summary_spans = [s for s in new.match.spans if s.field == "summary"]
                    message = render_alert(
                        story, item_snippet=new.stored.item.summary, spans=summary_spans, watchlist=watchlist
                    )
                    not_before = quiet_hours_end(channel, now) if in_quiet_hours(channel, now) else None
                    queued += await self.outbox.queue_alert(
                        channel, story_id=story_id, message=message, now=now, not_before=not_before
                    )
        return queued

    async def run_digest(
        self, channel: ChannelConfig, *, fire_time: datetime, now: datetime, watchlist: Watchlist
    ) -> DigestResult:
        """Queue the digest of the period ending at ``fire_time`` (idempotent per period)."""
        subscription = await self._subscriptions.get(channel.platform, channel.id)
        last_end = subscription.last_digest_end if subscription is not None else None
        period = digest_period(channel, fire_time, last_end=last_end)
        start = max(period.start, period.end - MAX_DIGEST_LOOKBACK)
        stories = await self.stories_between(channel, start, period.end)
        message = render_digest(
            stories,
            period_start=start,
            period_end=period.end,
            timezone=channel.timezone,
            watchlist=watchlist,
            channel_actors=channel.actors,
            channel_topics=channel.topics,
        )
        if message is None and channel.empty_digest == "note":
            message = render_empty_digest_note(
                period_start=start, period_end=period.end, timezone=channel.timezone
            )
        queued = False
        async with self._db.transaction():
            if message is not None:
                queued = await self.outbox.queue_digest(
                    channel, period_end=period.end, message=message, now=now
                )
            else:
                await self._subscriptions.set_last_digest_end(channel.platform, channel.id, period.end)
        return DigestResult(
            channel=channel, period_start=start, period_end=period.end, stories=len(stories), queued=queued
        )

    async def stories_between(self, channel: ChannelConfig, start: datetime, end: datetime) -> list[Story]:
        """Stories first seen in [start, end) that the channel wants."""
        recent = await self._stories.recent(start, limit=5000)
        return [
            s
            for s in recent
            if start <= s.first_seen < end and channel_wants(channel, s.actors, s.topics, s.score)
        ]

    async def catch_up_digests(self, *, now: datetime, watchlist: Watchlist) -> list[DigestResult]:
        """After a restart: send the digest whose firing was missed while down — once, never twice."""
        results = []
        for channel in digest_channels(await self.channels()):
            fire = previous_digest_at(channel, now)
            if fire is None:
                continue
            subscription = await self._subscriptions.get(channel.platform, channel.id)
            if subscription is None or subscription.created_at > fire:
                continue
            if subscription.last_digest_end is not None and subscription.last_digest_end >= fire:
                continue
            results.append(await self.run_digest(channel, fire_time=fire, now=now, watchlist=watchlist))
        return results

    async def deliver(self, now: datetime) -> DeliveryReport:
        """Send what is due in the outbox."""
        report = await self.outbox.deliver_due(now)
        for error in report.errors:
            log.warning("delivery: %s", error)
        return report
