"""Delivery through the outbox: every message is stored before it is sent and marked sent once confirmed.

Guarantees: at-least-once (a crash between the platform's confirmation and ``mark_sent`` resends the entry on
the next round, with the same idempotency key so a platform that honours it drops the copy); per-channel order
(an entry waiting for a retry holds back the later entries of its channel); transient errors back off
exponentially with jitter, honouring the platform's ``retry_after``; permanent errors (or too many attempts)
fail the entry and flag the channel as failing until a later message gets through. Nothing here sleeps: the
caller passes ``now`` and calls :meth:`DeliveryOutbox.deliver_due` again later.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from bot.config import ChannelConfig, QuietHours
from bot.platforms.base import ChatPlatform, Highlight, Message, MessageSection, RenderedStory, SendReceipt
from feeds.errors import DeliveryError, StorageError
from storage.outbox import EntryKind, OutboxEntry, OutboxRepository
from storage.subscriptions import ChannelSettings, Subscription, SubscriptionRepository, SubscriptionSync

PAYLOAD_VERSION = 1
AfterSend = Callable[[OutboxEntry, SendReceipt], Awaitable[None]]
_Outcome = Literal["sent", "retrying", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff: ``base_delay_s * 2**(attempt-1)`` capped at ``max_delay_s``, less jitter."""

    base_delay_s: float = 30.0
    max_delay_s: float = 3600.0
    jitter: float = 0.5  # fraction of the delay that is randomised away, so channels do not retry in lockstep
    max_attempts: int = 12

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after the ``attempt``-th failed attempt (1-based)."""
        capped = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(attempt - 1, 0))
        return capped * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """What one delivery round did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0  # due entries not tried because an earlier entry of the same channel did not go out
    errors: tuple[str, ...] = field(default_factory=tuple)  # "platform:channel: message" per failed attempt


class DeliveryOutbox:
    """Queues rendered messages in SQLite and delivers the due ones through the matching chat platform."""

    def __init__(
        self,
        *,
        outbox: OutboxRepository,
        subscriptions: SubscriptionRepository,
        platforms: Mapping[str, ChatPlatform],
        rng: random.Random | None = None,
        policy: RetryPolicy | None = None,
        batch_size: int = 100,
        max_parallel_channels: int = 8,
        after_send: AfterSend | None = None,
    ) -> None:
        """``after_send`` runs after the platform confirmed and before the entry is marked sent."""
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._platforms = dict(platforms)
        self._rng = rng if rng is not None else random.Random()
        self._policy = policy if policy is not None else RetryPolicy()
        self._batch_size = batch_size
        self._parallel = asyncio.Semaphore(max(max_parallel_channels, 1))
        self._after_send = after_send

    async def sync_channels(self, channels: Sequence[ChannelConfig], now: datetime) -> SubscriptionSync:
        """Store the configured channels as config subscriptions (removing config channels no longer there).

        Channels subscribed from chat stay, unless the config now names them: then the config's settings win.
        """
        return await self._subscriptions.sync([channel_settings(c) for c in channels], now)

    async def queue_alert(
        self,
        channel: ChannelConfig,
        *,
        story_id: int,
        message: Message,
        now: datetime,
        not_before: datetime | None = None,
    ) -> bool:
        """Store an alert for a channel, sent from ``not_before`` on (quiet hours); False if queued."""
        return await self._outbox.queue(
            platform=channel.platform,
            channel_id=channel.id,
            kind="alert",
            payload=message_to_json(message),
            now=now,
            story_id=story_id,
            not_before=not_before,
        )

    async def queue_digest(
        self, channel: ChannelConfig, *, period_end: datetime, message: Message, now: datetime
    ) -> bool:
        """Store a digest (or the empty-digest note) for the period ending at ``period_end``; False if queued.

        Also records ``period_end`` as the channel's last digest end; queueing the same period again is
        harmless, so a crash between the two steps is repaired by the next run.
        """
        kind: EntryKind = "note" if message.kind == "note" else "digest"
        queued = await self._outbox.queue(
            platform=channel.platform,
            channel_id=channel.id,
            kind=kind,
            payload=message_to_json(message),
            now=now,
            period_end=period_end,
        )
        await self._subscriptions.set_last_digest_end(channel.platform, channel.id, period_end)
        return queued

    async def deliver_due(self, now: datetime) -> DeliveryReport:
        """Send the entries due at ``now`` (one batch), channel by channel in queue order."""
        entries = await self._outbox.due(now, self._batch_size, platforms=self._platforms.keys())
        by_channel: dict[tuple[str, str], list[OutboxEntry]] = {}
        for entry in entries:
            by_channel.setdefault((entry.platform, entry.channel_id), []).append(entry)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._deliver_channel(q, now)) for q in by_channel.values()]
        except BaseExceptionGroup as grouped:
            # Surface the first real failure (e.g. the process dying) rather than a wrapper around it.
            raise grouped.exceptions[0] from None
        reports = [task.result() for task in tasks]
        return DeliveryReport(
            sent=sum(r.sent for r in reports),
            retrying=sum(r.retrying for r in reports),
            failed=sum(r.failed for r in reports),
            held=sum(r.held for r in reports),
            errors=tuple(e for r in reports for e in r.errors),
        )

    async def _deliver_channel(self, entries: Sequence[OutboxEntry], now: datetime) -> DeliveryReport:
        sent = retrying = failed = 0
        errors: list[str] = []
        async with self._parallel:
            for index, entry in enumerate(entries):
                outcome, error = await self._deliver(entry, now)
                if error:
                    errors.append(f"{entry.platform}:{entry.channel_id}: {error}")
                if outcome == "sent":
                    sent += 1
                elif outcome == "failed":
                    failed += 1
                else:
                    retrying += 1
                    return DeliveryReport(
                        sent=sent,
                        retrying=retrying,
                        failed=failed,
                        held=len(entries) - index - 1,
                        errors=tuple(errors),
                    )
        return DeliveryReport(sent=sent, retrying=retrying, failed=failed, errors=tuple(errors))

    async def _deliver(self, entry: OutboxEntry, now: datetime) -> tuple[_Outcome, str]:
        platform = self._platforms[entry.platform]
        try:
            message = message_from_json(entry.payload)
            receipt = await platform.send(entry.channel_id, message, idempotency_key=idempotency_key(entry))
        except DeliveryError as e:
            return await self._record_failure(entry, e, now), str(e)
        except Exception as e:
            # An adapter bug must not wedge the channel's queue: transient, bounded by max_attempts.
            error = DeliveryError(f"{platform.name} adapter failed unexpectedly: {e!r}")
            return await self._record_failure(entry, error, now), str(error)
        if self._after_send is not None:
            await self._after_send(entry, receipt)
        await self._outbox.mark_sent(entry.id, receipt.message_ids, now)
        await self._subscriptions.clear_failing(entry.platform, entry.channel_id)
        return "sent", ""

    async def _record_failure(self, entry: OutboxEntry, error: DeliveryError, now: datetime) -> _Outcome:
        attempt = entry.attempts + 1
        text = str(error) or type(error).__name__
        if error.permanent or attempt >= self._policy.max_attempts:
            reason = text if error.permanent else f"gave up after {attempt} attempts: {text}"
            await self._outbox.mark_failed(entry.id, reason)
            await self._subscriptions.mark_failing(entry.platform, entry.channel_id, reason, now)
            return "failed"
        if error.retry_after_s is not None:
            delay = max(error.retry_after_s, 0.0)
        else:
            delay = self._policy.delay_s(attempt, self._rng)
        await self._outbox.mark_retry(entry.id, text, now + timedelta(seconds=delay))
        return "retrying"


def idempotency_key(entry: OutboxEntry) -> str:
    """Stable across retries and restarts for one outbox entry (short enough for a Discord nonce)."""
    return f"dw-{entry.id}"


def channel_settings(channel: ChannelConfig) -> ChannelSettings:
    """A configured channel as storage keeps it."""
    quiet = channel.quiet_hours
    return ChannelSettings(
        platform=channel.platform,
        channel_id=channel.id,
        actors=channel.actors,
        topics=channel.topics,
        mode=channel.mode,
        min_score=channel.min_score,
        digest_cron=channel.digest_cron,
        timezone=channel.timezone,
        quiet_hours=None if quiet is None else (quiet.start, quiet.end),
        backfill=channel.backfill,
        empty_digest=channel.empty_digest,
    )


def subscription_to_channel(subscription: Subscription) -> ChannelConfig:
    """A stored subscription (from the config or from chat) as the channel routing and delivery take."""
    return settings_to_channel(subscription.settings)


def settings_to_channel(settings: ChannelSettings) -> ChannelConfig:
    """Stored channel settings as the channel routing and delivery take."""
    platform = settings.platform
    if platform not in ("discord", "slack", "console"):
        raise StorageError(f"channel {settings.channel_id!r} names an unknown platform {platform!r}")
    quiet = settings.quiet_hours
    return ChannelConfig(
        platform="discord" if platform == "discord" else "slack" if platform == "slack" else "console",
        id=settings.channel_id,
        actors=settings.actors,
        topics=settings.topics,
        mode=settings.mode,
        min_score=settings.min_score,
        digest_cron=settings.digest_cron,
        timezone=settings.timezone,
        quiet_hours=None if quiet is None else QuietHours(start=quiet[0], end=quiet[1]),
        backfill=settings.backfill,
        empty_digest=settings.empty_digest,
    )


def message_to_json(message: Message) -> str:
    """The neutral message as JSON text for the outbox (read back by :func:`message_from_json`)."""
    return json.dumps(
        {
            "v": PAYLOAD_VERSION,
            "kind": message.kind,
            "heading": message.heading,
            "note": message.note,
            "sections": [
                {"heading": s.heading, "stories": [_story_to_json(story) for story in s.stories]}
                for s in message.sections
            ],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def message_from_json(text: str) -> Message:
    """A message stored by :func:`message_to_json`; a DeliveryError (permanent) when the text is unusable."""
    try:
        data = json.loads(text)
        fields = _Fields(data, "message")
        version = fields.integer("v")
        if version != PAYLOAD_VERSION:
            raise ValueError(f"payload version {version} is not {PAYLOAD_VERSION}")
        kind = fields.string("kind")
        if kind not in ("alert", "digest", "note"):
            raise ValueError(f"unknown message kind {kind!r}")
        sections = tuple(
            MessageSection(
                heading=section.string("heading"),
                stories=tuple(_story_from_json(story) for story in section.objects("stories")),
            )
            for section in fields.objects("sections")
        )
        return Message(
            kind="alert" if kind == "alert" else "digest" if kind == "digest" else "note",
            heading=fields.string("heading"),
            sections=sections,
            note=fields.string("note"),
        )
    except (ValueError, TypeError) as e:
        raise DeliveryError(f"stored message cannot be read back ({e}); not sent", permanent=True) from e


def _story_to_json(story: RenderedStory) -> dict[str, object]:
    return {
        "title": story.title,
        "url": story.url,
        "source": story.source,
        "published": story.published.isoformat(),
        "snippet": story.snippet,
        "highlights": [[h.start, h.end] for h in story.highlights],
        "actors": list(story.actors),
        "topics": list(story.topics),
        "topic_ids": list(story.topic_ids),
        "also_reported_by": list(story.also_reported_by),
        "score": story.score,
    }


def _story_from_json(fields: _Fields) -> RenderedStory:
    published = datetime.fromisoformat(fields.string("published"))
    if published.tzinfo is None:
        raise ValueError(f"story time {published.isoformat()} has no timezone")
    url = fields.raw("url")
    if url is not None and not isinstance(url, str):
        raise ValueError("story url is not a string")
    highlights: list[Highlight] = []
    for pair in fields.array("highlights"):
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(v) is int for v in pair)):
            raise ValueError(f"highlight {pair!r} is not a [start, end] pair")
        highlights.append(Highlight(start=pair[0], end=pair[1]))
    score = fields.raw("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise ValueError("story score is not a number")
    return RenderedStory(
        title=fields.string("title"),
        url=url,
        source=fields.string("source"),
        published=published,
        snippet=fields.string("snippet"),
        highlights=tuple(highlights),
        actors=fields.strings("actors"),
        topics=fields.strings("topics"),
        topic_ids=fields.strings("topic_ids"),
        also_reported_by=fields.strings("also_reported_by"),
        score=float(score),
    )


class _Fields:
    """Typed reads from one decoded JSON object; every problem is a ValueError naming the field."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not a JSON object")
        self._data: dict[str, object] = data
        self._where = where

    def raw(self, name: str) -> object:
        if name not in self._data:
            raise ValueError(f"{self._where}.{name} is missing")
        return self._data[name]

    def string(self, name: str) -> str:
        value = self.raw(name)
        if not isinstance(value, str):
            raise ValueError(f"{self._where}.{name} is not a string")
        return value

    def integer(self, name: str) -> int:
        value = self.raw(name)
        if type(value) is not int:
            raise ValueError(f"{self._where}.{name} is not an integer")
        return value

    def array(self, name: str) -> list[object]:
        value = self.raw(name)
        if not isinstance(value, list):
            raise ValueError(f"{self._where}.{name} is not a list")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.array(name)
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"{self._where}.{name} is not a list of strings")
        return tuple(str(v) for v in values)

    def objects(self, name: str) -> list[_Fields]:
        return [_Fields(v, f"{self._where}.{name}[{i}]") for i, v in enumerate(self.array(name))]
