"""Subscribed chat channels: their settings, where they came from (config or chat) and their delivery state.

Config rows follow the config file: :meth:`SubscriptionRepository.sync` adds, updates and removes them.
Chat rows (``/diplowatch subscribe``) are changed only by :meth:`~SubscriptionRepository.upsert` and
:meth:`~SubscriptionRepository.remove`, so they survive restarts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal

from feeds.errors import StorageError
from storage.db import (
    Database,
    Row,
    SqlValue,
    decode_optional_time,
    decode_time,
    encode_time,
)

SubscriptionMode = Literal["alert", "digest", "both"]
EmptyDigest = Literal["skip", "note"]
SubscriptionOrigin = Literal["config", "chat"]
UpsertOutcome = Literal["added", "updated", "unchanged"]

_COLUMNS = (
    "id, platform, channel_id, actors, topics, mode, min_score, digest_cron, timezone, quiet_start, "
    "quiet_end, backfill, empty_digest, created_at, last_digest_end, failing, last_error, last_error_at, "
    "origin"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSettings:
    """What a channel asked for, as the config states it (``quiet_hours`` is a local start/end pair)."""

    platform: str
    channel_id: str
    actors: tuple[str, ...] = ("*",)
    topics: tuple[str, ...] = ("*",)
    mode: SubscriptionMode = "alert"
    min_score: float = 0.0
    digest_cron: str = "0 8 * * *"
    timezone: str = "UTC"
    quiet_hours: tuple[time, time] | None = None
    backfill: int = 0
    empty_digest: EmptyDigest = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """A stored channel: its settings, origin (``config`` file or ``chat`` command) and delivery state."""

    id: int
    settings: ChannelSettings
    created_at: datetime
    origin: SubscriptionOrigin = "config"
    last_digest_end: datetime | None = None
    failing: bool = False
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionSync:
    """What a config sync changed, by ``platform:channel_id``; ``adopted``: chat rows the config now names."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    adopted: tuple[str, ...] = ()


class SubscriptionRepository:
    """The subscriptions table: one row per subscribed channel (from the config or from chat)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync(self, channels: Sequence[ChannelSettings], now: datetime) -> SubscriptionSync:
        """Make the config rows exactly ``channels``: insert new ones, update settings, delete the rest.

        Chat rows are left alone, except one the config now names: it becomes a config row with the config's
        settings (reported as adopted). Delivery state (``created_at``, ``last_digest_end``, the failing flag)
        survives an update; a channel whose settings did not change is not reported as updated.
        """
        added: list[str] = []
        updated: list[str] = []
        removed: list[str] = []
        adopted: list[str] = []
        async with self._db.transaction():
            existing = {(s.settings.platform, s.settings.channel_id): s for s in await self.all()}
            for settings in channels:
                label = _label(settings)
                before = existing.pop((settings.platform, settings.channel_id), None)
                if before is None:
                    await self._insert(settings, "config", now)
                    added.append(label)
                    continue
                if before.origin != "config":
                    await self._db.execute(
                        "UPDATE subscriptions SET origin = 'config' WHERE id = ?", (before.id,)
                    )
                    adopted.append(label)
                if before.settings != settings:
                    await self._update(before.id, settings)
                    updated.append(label)
            for stale in existing.values():
                if stale.origin == "config":
                    await self._db.execute("DELETE FROM subscriptions WHERE id = ?", (stale.id,))
                    removed.append(_label(stale.settings))
        return SubscriptionSync(
            added=tuple(added), updated=tuple(updated), removed=tuple(removed), adopted=tuple(adopted)
        )

    async def upsert(
        self, settings: ChannelSettings, origin: SubscriptionOrigin, now: datetime
    ) -> UpsertOutcome:
        """Store one channel's settings (a chat ``subscribe``), keeping its delivery state when it exists.

        A config row stays a config row (the config file owns it, so the next sync restores its settings); a
        new row gets ``origin``.
        """
        async with self._db.transaction():
            before = await self.get(settings.platform, settings.channel_id)
            if before is None:
                await self._insert(settings, origin, now)
                return "added"
            if before.settings == settings:
                return "unchanged"
            await self._update(before.id, settings)
            return "updated"

    async def remove(self, platform: str, channel_id: str) -> bool:
        """Delete one channel's subscription, whatever its origin; False when it was not subscribed.

        A config row comes back at the next sync (restart) while the config file still names it.
        """
        changed = await self._db.execute(
            "DELETE FROM subscriptions WHERE platform = ? AND channel_id = ?", (platform, channel_id)
        )
        return changed > 0

    async def _insert(self, settings: ChannelSettings, origin: SubscriptionOrigin, now: datetime) -> None:
        await self._db.execute(
            f"INSERT INTO subscriptions (platform, channel_id, {_SETTING_COLUMNS}, created_at, origin) "
            f"VALUES (?, ?, {', '.join('?' * _SETTING_COUNT)}, ?, ?)",
            (settings.platform, settings.channel_id, *_setting_values(settings), encode_time(now), origin),
        )

    async def _update(self, subscription_id: int, settings: ChannelSettings) -> None:
        assignments = ", ".join(f"{c.strip()} = ?" for c in _SETTING_COLUMNS.split(","))
        await self._db.execute(
            f"UPDATE subscriptions SET {assignments} WHERE id = ?",
            (*_setting_values(settings), subscription_id),
        )

    async def all(self) -> list[Subscription]:
        """Every subscribed channel, in the order they were first added."""
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM subscriptions ORDER BY id")
        return [_subscription(row) for row in rows]

    async def get(self, platform: str, channel_id: str) -> Subscription | None:
        """The subscription of one channel, if it is subscribed."""
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE platform = ? AND channel_id = ?",
            (platform, channel_id),
        )
        return None if row is None else _subscription(row)

    async def set_last_digest_end(self, platform: str, channel_id: str, end: datetime) -> bool:
        """Record the end of the last digest period queued for a channel (never moves backwards).

        False when the channel is not subscribed.
        """
        changed = await self._db.execute(
            "UPDATE subscriptions SET last_digest_end = max(coalesce(last_digest_end, ?), ?) "
            "WHERE platform = ? AND channel_id = ?",
            (encode_time(end), encode_time(end), platform, channel_id),
        )
        return changed > 0

    async def mark_failing(self, platform: str, channel_id: str, error: str, now: datetime) -> bool:
        """Flag a channel whose messages cannot be delivered; False when the channel is not subscribed."""
        changed = await self._db.execute(
            "UPDATE subscriptions SET failing = 1, last_error = ?, last_error_at = ? "
            "WHERE platform = ? AND channel_id = ?",
            (error, encode_time(now), platform, channel_id),
        )
        return changed > 0

    async def clear_failing(self, platform: str, channel_id: str) -> bool:
        """A message got through: the channel is healthy again; True when it had been failing."""
        changed = await self._db.execute(
            "UPDATE subscriptions SET failing = 0 WHERE platform = ? AND channel_id = ? AND failing = 1",
            (platform, channel_id),
        )
        return changed > 0


_SETTING_COLUMNS = (
    "actors, topics, mode, min_score, digest_cron, timezone, quiet_start, quiet_end, backfill, empty_digest"
)
_SETTING_COUNT = len(_SETTING_COLUMNS.split(","))


def _label(settings: ChannelSettings) -> str:
    return f"{settings.platform}:{settings.channel_id}"


def _setting_values(settings: ChannelSettings) -> tuple[SqlValue, ...]:
    quiet = settings.quiet_hours
    return (
        json.dumps(list(settings.actors)),
        json.dumps(list(settings.topics)),
        settings.mode,
        settings.min_score,
        settings.digest_cron,
        settings.timezone,
        None if quiet is None else quiet[0].strftime("%H:%M"),
        None if quiet is None else quiet[1].strftime("%H:%M"),
        settings.backfill,
        settings.empty_digest,
    )


def _subscription(row: Row) -> Subscription:
    mode = str(row["mode"])
    empty = str(row["empty_digest"])
    quiet_start, quiet_end = row["quiet_start"], row["quiet_end"]
    settings = ChannelSettings(
        platform=str(row["platform"]),
        channel_id=str(row["channel_id"]),
        actors=_ids(row, "actors"),
        topics=_ids(row, "topics"),
        mode="digest" if mode == "digest" else "both" if mode == "both" else "alert",
        min_score=float(row["min_score"]),
        digest_cron=str(row["digest_cron"]),
        timezone=str(row["timezone"]),
        quiet_hours=(
            None if quiet_start is None or quiet_end is None
            else (time.fromisoformat(str(quiet_start)), time.fromisoformat(str(quiet_end)))
        ),
        backfill=int(row["backfill"]),
        empty_digest="note" if empty == "note" else "skip",
    )
    return Subscription(
        id=int(row["id"]),
        settings=settings,
        created_at=decode_time(row["created_at"]),
        origin="chat" if str(row["origin"]) == "chat" else "config",
        last_digest_end=decode_optional_time(row["last_digest_end"]),
        failing=bool(row["failing"]),
        last_error=row["last_error"],
        last_error_at=decode_optional_time(row["last_error_at"]),
    )


def _ids(row: Row, column: str) -> tuple[str, ...]:
    try:
        values = json.loads(str(row[column]))
    except json.JSONDecodeError as e:
        raise StorageError(f"subscription {row['id']} has unreadable {column}: {e}") from e
    if not isinstance(values, list):
        raise StorageError(f"subscription {row['id']} has {column} that are not a list")
    return tuple(str(v) for v in values)
