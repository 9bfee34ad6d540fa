"""Read-only queries behind the chat look-ups: activity of one actor or topic, and the bot's vital counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from storage.db import Database, decode_optional_time, encode_time

TargetKind = Literal["actor", "topic"]
DAY_S = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusCounts:
    """How much the bot tracks and how healthy it is, at one moment."""

    feeds: int
    paused_feeds: int
    failing_feeds: int
    items: int
    items_last_day: int
    stories: int
    last_success_at: datetime | None
    outbox_pending: int
    outbox_failed: int


class LookupQueries:
    """Queries that no single repository owns: they join items, matches, stories, feeds and the outbox."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def mentions_per_day(
        self, kind: TargetKind, target_id: str, *, now: datetime, days: int = 14
    ) -> tuple[int, ...]:
        """Items matched to the actor or topic per 24-hour window (by published time), oldest window first.

        The last window is the 24 hours up to ``now``; items published after ``now`` are not counted.
        """
        if days <= 0:
            return ()
        end = encode_time(now)
        start = encode_time(now - timedelta(days=days))
        counts = [0] * days
        for row in await self._db.fetch_all(
            "SELECT CAST((? - items.published) / ? AS INTEGER) AS age, count(*) AS n "
            "FROM matches JOIN items ON items.id = matches.item_id "
            "WHERE matches.kind = ? AND matches.target_id = ? "
            "AND items.published > ? AND items.published <= ? "
            "GROUP BY age",
            (end, DAY_S, kind, target_id, start, end),
        ):
            age = min(int(row["age"]), days - 1)
            counts[days - 1 - age] += int(row["n"])
        return tuple(counts)

    async def story_ids_for(self, kind: TargetKind, target_id: str, *, limit: int) -> list[int]:
        """Stories with at least one item matched to the actor or topic, most recently first seen first."""
        rows = await self._db.fetch_all(
            "SELECT stories.id FROM stories WHERE EXISTS ("
            "SELECT 1 FROM items JOIN matches ON matches.item_id = items.id "
            "WHERE items.story_id = stories.id AND matches.kind = ? AND matches.target_id = ?) "
            "ORDER BY stories.first_seen DESC, stories.id DESC LIMIT ?",
            (kind, target_id, max(limit, 0)),
        )
        return [int(row["id"]) for row in rows]

    async def status_counts(self, now: datetime) -> StatusCounts:
        """Feeds (paused, failing), items (all, last 24 h), stories and the outbox backlog."""
        feeds = await self._db.fetch_one(
            "SELECT count(*) AS total, coalesce(sum(paused), 0) AS paused, "
            "coalesce(sum(consecutive_failures > 0), 0) AS failing, max(last_success_at) AS last_success "
            "FROM feeds"
        )
        items = await self._db.fetch_one(
            "SELECT count(*) AS total, coalesce(sum(published > ?), 0) AS recent FROM items",
            (encode_time(now - timedelta(days=1)),),
        )
        outbox = await self._db.fetch_one(
            "SELECT coalesce(sum(state = 'pending'), 0) AS pending, "
            "coalesce(sum(state = 'failed'), 0) AS failed FROM outbox"
        )
        stories = await self._db.fetch_value("SELECT count(*) FROM stories")
        if feeds is None or items is None or outbox is None:
            return StatusCounts(
                feeds=0, paused_feeds=0, failing_feeds=0, items=0, items_last_day=0, stories=0,
                last_success_at=None, outbox_pending=0, outbox_failed=0,
            )
        return StatusCounts(
            feeds=int(feeds["total"]),
            paused_feeds=int(feeds["paused"]),
            failing_feeds=int(feeds["failing"]),
            items=int(items["total"]),
            items_last_day=int(items["recent"]),
            stories=int(stories or 0),
            last_success_at=decode_optional_time(feeds["last_success"]),
            outbox_pending=int(outbox["pending"]),
            outbox_failed=int(outbox["failed"]),
        )
