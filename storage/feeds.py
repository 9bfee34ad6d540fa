"""Feeds and their fetch state: what to poll, when, with which validators, and how healthy each feed is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from feeds.errors import StorageError
from feeds.models import FeedSource, FeedState
from storage.db import (
    Database,
    IntegrityViolation,
    Row,
    SqlValue,
    decode_optional_time,
    decode_time,
    encode_time,
)

FeedOrigin = Literal["config", "chat"]
HEALTH_DAYS = 7

_COLUMNS = (
    "id, url, name, interval_s, origin, paused, etag, last_modified, body_hash, last_success_at, last_error, "
    "last_error_at, consecutive_failures, next_poll_at, created_at"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSuccess:
    """A fetch of ``feed_id`` that returned a body: what :meth:`FeedRepository.record_successes` stores."""

    feed_id: int
    now: datetime
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    next_poll_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedHealth:
    """A feed's state with how many items it published on each of the last seven days."""

    feed: FeedState
    origin: FeedOrigin
    created_at: datetime
    items_per_day: tuple[int, ...]  # newest first: [0] is the 24 hours up to now, [6] six to seven days ago

    @property
    def items_last_week(self) -> int:
        """Items published in the last seven days."""
        return sum(self.items_per_day)

    @property
    def average_per_day(self) -> float:
        """Mean items per day over the last seven days."""
        return self.items_last_week / HEALTH_DAYS


def _feed_state(row: Row) -> FeedState:
    return FeedState(
        id=int(row["id"]),
        url=str(row["url"]),
        name=str(row["name"]),
        interval_s=int(row["interval_s"]),
        paused=bool(row["paused"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        last_success_at=decode_optional_time(row["last_success_at"]),
        last_error=row["last_error"],
        last_error_at=decode_optional_time(row["last_error_at"]),
        consecutive_failures=int(row["consecutive_failures"]),
        next_poll_at=decode_optional_time(row["next_poll_at"]),
    )


def _origin(row: Row) -> FeedOrigin:
    return "chat" if row["origin"] == "chat" else "config"


class FeedRepository:
    """The feeds table: configured and chat-added feeds with their polling state."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync_configured(self, sources: Sequence[FeedSource], now: datetime) -> list[FeedState]:
        """Make the config's feeds the stored config feeds (chat-added feeds stay); every feed afterwards.

        New URLs are inserted, known ones get the configured name and interval (a chat feed listed in the
        config becomes a config feed), and config feeds no longer configured are removed with their items.
        """
        wanted = {source.url: source for source in sources}
        async with self._db.transaction():
            for source in wanted.values():
                _check_interval(source)
                # A shorter interval pulls a far-off next poll in; an unchanged one keeps any failure backoff.
                cap = encode_time(now + timedelta(seconds=source.interval_s))
                await self._db.execute(
                    "INSERT INTO feeds (url, name, interval_s, origin, created_at) "
                    "VALUES (?, ?, ?, 'config', ?) "
                    "ON CONFLICT (url) DO UPDATE SET name = excluded.name, interval_s = excluded.interval_s, "
                    "origin = 'config', next_poll_at = CASE WHEN feeds.interval_s <> excluded.interval_s "
                    "AND feeds.next_poll_at > ? THEN ? ELSE feeds.next_poll_at END",
                    (source.url, source.name, source.interval_s, encode_time(now), cap, cap),
                )
            stale = [
                (int(row["id"]),)
                for row in await self._db.fetch_all("SELECT id, url FROM feeds WHERE origin = 'config'")
                if row["url"] not in wanted
            ]
            await self._db.executemany("DELETE FROM feeds WHERE id = ?", stale)
        return await self.all()

    async def add(self, source: FeedSource, now: datetime, origin: FeedOrigin = "chat") -> FeedState:
        """Start tracking a feed; a URL already tracked is a StorageError."""
        _check_interval(source)
        try:
            feed_id = await self._db.insert(
                "INSERT INTO feeds (url, name, interval_s, origin, created_at) VALUES (?, ?, ?, ?, ?)",
                (source.url, source.name, source.interval_s, origin, encode_time(now)),
            )
        except IntegrityViolation as e:
            if await self.by_url(source.url) is not None:
                raise StorageError(f"feed {source.url} is already tracked") from e
            raise
        return await self.get(feed_id)

    async def get(self, feed_id: int) -> FeedState:
        """The feed with this id; StorageError if there is none."""
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM feeds WHERE id = ?", (feed_id,))
        if row is None:
            raise StorageError(f"no feed with id {feed_id}")
        return _feed_state(row)

    async def by_url(self, url: str) -> FeedState | None:
        """The feed with exactly this URL, if tracked."""
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM feeds WHERE url = ?", (url,))
        return None if row is None else _feed_state(row)

    async def all(self) -> list[FeedState]:
        """Every feed, oldest first."""
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM feeds ORDER BY id")
        return [_feed_state(row) for row in rows]

    async def due(self, now: datetime, limit: int) -> list[FeedState]:
        """Unpaused feeds whose next poll is at or before ``now`` (never-polled first, then most overdue)."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM feeds WHERE paused = 0 AND (next_poll_at IS NULL OR next_poll_at <= ?) "
            "ORDER BY next_poll_at IS NOT NULL, next_poll_at, id LIMIT ?",
            (encode_time(now), max(limit, 0)),
        )
        return [_feed_state(row) for row in rows]

    async def record_success(
        self,
        feed_id: int,
        *,
        now: datetime,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
        next_poll_at: datetime,
    ) -> None:
        """A fetch returned a body: store its validators, clear the failure count, schedule the next poll."""
        await self.record_successes(
            [
                FetchSuccess(
                    feed_id=feed_id,
                    now=now,
                    etag=etag,
                    last_modified=last_modified,
                    body_hash=body_hash,
                    next_poll_at=next_poll_at,
                )
            ]
        )

    async def record_successes(self, successes: Sequence[FetchSuccess]) -> None:
        """:meth:`record_success` for several feeds in one statement (a poll stores feeds in groups)."""
        changed = await self._db.executemany(
            "UPDATE feeds SET etag = ?, last_modified = ?, body_hash = ?, last_success_at = ?, "
            "consecutive_failures = 0, next_poll_at = ? WHERE id = ?",
            [
                (
                    s.etag,
                    s.last_modified,
                    s.body_hash,
                    encode_time(s.now),
                    encode_time(s.next_poll_at),
                    s.feed_id,
                )
                for s in successes
            ],
        )
        if changed != len(successes):
            for success in successes:  # which one is missing: get() names it
                await self.get(success.feed_id)

    async def record_not_modified(self, feed_id: int, *, now: datetime, next_poll_at: datetime) -> None:
        """A fetch answered 304: the feed is healthy, validators stay, schedule the next poll."""
        await self._update(
            feed_id,
            "last_success_at = ?, consecutive_failures = 0, next_poll_at = ?",
            (encode_time(now), encode_time(next_poll_at)),
        )

    async def record_failure(
        self, feed_id: int, *, now: datetime, error: str, next_poll_at: datetime
    ) -> None:
        """A fetch failed: count it, keep the message, schedule the retry (validators stay)."""
        await self._update(
            feed_id,
            "consecutive_failures = consecutive_failures + 1, last_error = ?, last_error_at = ?, "
            "next_poll_at = ?",
            (error, encode_time(now), encode_time(next_poll_at)),
        )

    async def set_paused(self, feed_id: int, paused: bool) -> None:
        """Pause or resume polling a feed."""
        await self._update(feed_id, "paused = ?", (int(paused),))

    async def remove(self, feed_id: int) -> None:
        """Stop tracking a feed and delete its items; StorageError if there is no such feed."""
        if await self._db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,)) == 0:
            raise StorageError(f"no feed with id {feed_id}")

    async def health(self, now: datetime) -> list[FeedHealth]:
        """Every feed with its items per day over the seven days up to ``now`` (by published time)."""
        end = encode_time(now)
        start = encode_time(now - timedelta(days=HEALTH_DAYS))
        counts: dict[int, list[int]] = {}
        for row in await self._db.fetch_all(
            "SELECT feed_id, CAST((? - published) / 86400 AS INTEGER) AS day, count(*) AS n FROM items "
            "WHERE published > ? AND published <= ? GROUP BY feed_id, day",
            (end, start, end),
        ):
            day = min(int(row["day"]), HEALTH_DAYS - 1)
            counts.setdefault(int(row["feed_id"]), [0] * HEALTH_DAYS)[day] += int(row["n"])
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM feeds ORDER BY id")
        return [
            FeedHealth(
                feed=_feed_state(row),
                origin=_origin(row),
                created_at=decode_time(row["created_at"]),
                items_per_day=tuple(counts.get(int(row["id"]), [0] * HEALTH_DAYS)),
            )
            for row in rows
        ]

    async def _update(self, feed_id: int, assignments: str, params: tuple[SqlValue, ...]) -> None:
        changed = await self._db.execute(f"UPDATE feeds SET {assignments} WHERE id = ?", (*params, feed_id))
        if changed == 0:
            raise StorageError(f"no feed with id {feed_id}")


def _check_interval(source: FeedSource) -> None:
    if source.interval_s <= 0:
        raise StorageError(f"feed {source.url}: poll interval must be a positive number of seconds")
