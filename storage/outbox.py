"""The delivery outbox: messages written before they are sent, then marked sent, retried or failed."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from feeds.errors import StorageError
from storage.db import (
    Database,
    IntegrityViolation,
    Row,
    SqlValue,
    decode_optional_time,
    decode_time,
    encode_optional_time,
    encode_time,
)

EntryKind = Literal["alert", "digest", "note"]
EntryState = Literal["pending", "sent", "failed"]

_COLUMNS = (
    "id, platform, channel_id, kind, dedupe_key, story_id, period_end, payload, state, attempts, "
    "next_attempt_at, last_error, message_ids, created_at, sent_at"
)
_PREFIXED_COLUMNS = ", ".join(f"o.{name.strip()}" for name in _COLUMNS.split(","))


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    """One message owed to one channel; ``payload`` is opaque text (the serialised neutral message)."""

    id: int
    platform: str
    channel_id: str
    kind: EntryKind
    dedupe_key: str
    story_id: int | None
    period_end: datetime | None
    payload: str
    state: EntryState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    message_ids: tuple[str, ...]
    created_at: datetime
    sent_at: datetime | None


def dedupe_key(*, story_id: int | None, period_end: datetime | None) -> str:
    """What makes an entry unique in its channel and kind: its story, or (digests, notes) its period end."""
    if story_id is not None and period_end is None:
        return f"story:{story_id}"
    if period_end is not None and story_id is None:
        return f"period:{encode_time(period_end):.6f}"
    raise StorageError("an outbox entry is keyed by exactly one of a story id or a digest period end")


class OutboxRepository:
    """The outbox table: queue, find due entries (per-channel order kept), record outcomes, prune."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def queue(
        self,
        *,
        platform: str,
        channel_id: str,
        kind: EntryKind,
        payload: str,
        now: datetime,
        story_id: int | None = None,
        period_end: datetime | None = None,
        not_before: datetime | None = None,
    ) -> bool:
        """Store a message to send at ``not_before`` (default ``now``); False when it was already queued.

        Alerts are keyed by ``story_id``, digests and empty-digest notes by ``period_end``.
        """
        key = dedupe_key(story_id=story_id, period_end=period_end)
        due = not_before if not_before is not None and not_before > now else now
        try:
            changed = await self._db.execute(
                "INSERT INTO outbox (platform, channel_id, kind, dedupe_key, story_id, period_end, payload, "
                "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, channel_id, kind, dedupe_key) DO NOTHING",
                (
                    platform, channel_id, kind, key, story_id, encode_optional_time(period_end), payload,
                    encode_time(due), encode_time(now),
                ),
            )
        except IntegrityViolation as e:
            raise StorageError(f"cannot queue {kind} for {platform}:{channel_id}: {e}") from e
        return changed > 0

    async def get(self, entry_id: int) -> OutboxEntry | None:
        """The entry with this id, if it still exists."""
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (entry_id,))
        return None if row is None else _entry(row)

    async def due(
        self, now: datetime, limit: int, *, platforms: Collection[str] | None = None
    ) -> list[OutboxEntry]:
        """Pending entries due at ``now``, oldest first, on the given platforms (default: all).

        An entry waiting behind an earlier pending entry of its channel that is not yet due is left out,
        so a retry never lets later messages overtake it.
        """
        params: list[SqlValue] = [encode_time(now), encode_time(now)]
        platform_filter = ""
        if platforms is not None:
            if not platforms:
                return []
            platform_filter = f" AND o.platform IN ({', '.join('?' * len(platforms))})"
            params += sorted(platforms)
        params.append(max(limit, 0))
        rows = await self._db.fetch_all(
            f"SELECT {_PREFIXED_COLUMNS} FROM outbox AS o "
            "WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND NOT EXISTS ("
            "SELECT 1 FROM outbox AS e WHERE e.state = 'pending' AND e.platform = o.platform "
            "AND e.channel_id = o.channel_id AND e.id < o.id AND e.next_attempt_at > ?)"
            f"{platform_filter} ORDER BY o.id LIMIT ?",
            params,
        )
        return [_entry(row) for row in rows]

    async def mark_sent(self, entry_id: int, message_ids: Sequence[str], now: datetime) -> bool:
        """The platform confirmed the entry; False when it was no longer pending."""
        changed = await self._db.execute(
            "UPDATE outbox SET state = 'sent', attempts = attempts + 1, message_ids = ?, sent_at = ?, "
            "last_error = NULL WHERE id = ? AND state = 'pending'",
            (json.dumps(list(message_ids)), encode_time(now), entry_id),
        )
        return changed > 0

    async def mark_retry(self, entry_id: int, error: str, next_attempt_at: datetime) -> bool:
        """A send failed for now: count the attempt, keep the error, try again at ``next_attempt_at``."""
        changed = await self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
            "WHERE id = ? AND state = 'pending'",
            (error, encode_time(next_attempt_at), entry_id),
        )
        return changed > 0

    async def mark_failed(self, entry_id: int, error: str) -> bool:
        """A send failed for good: count the attempt, keep the error, never try again."""
        changed = await self._db.execute(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? "
            "WHERE id = ? AND state = 'pending'",
            (error, entry_id),
        )
        return changed > 0

    async def pending_count(self, platform: str, channel_id: str) -> int:
        """How many messages are still owed to a channel."""
        value = await self._db.fetch_value(
            "SELECT count(*) FROM outbox WHERE state = 'pending' AND platform = ? AND channel_id = ?",
            (platform, channel_id),
        )
        return int(value or 0)

    async def last_sent_at(self, platform: str, channel_id: str) -> datetime | None:
        """When a message last reached a channel, if ever."""
        value = await self._db.fetch_value(
            "SELECT max(sent_at) FROM outbox WHERE state = 'sent' AND platform = ? AND channel_id = ?",
            (platform, channel_id),
        )
        return decode_optional_time(value)

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Delete sent and failed entries created before ``cutoff`` (pending ones are still owed); how many.

        A deleted alert no longer blocks its story from being queued again, so the cutoff must be older
        than the stories retention keeps.
        """
        return await self._db.execute(
            "DELETE FROM outbox WHERE state IN ('sent', 'failed') AND created_at < ?", (encode_time(cutoff),)
        )


def _entry(row: Row) -> OutboxEntry:
    kind = str(row["kind"])
    state = str(row["state"])
    if kind not in ("alert", "digest", "note") or state not in ("pending", "sent", "failed"):
        raise StorageError(f"outbox entry {row['id']} has an unknown kind {kind!r} or state {state!r}")
    story_id = row["story_id"]
    return OutboxEntry(
        id=int(row["id"]),
        platform=str(row["platform"]),
        channel_id=str(row["channel_id"]),
        kind="alert" if kind == "alert" else "digest" if kind == "digest" else "note",
        dedupe_key=str(row["dedupe_key"]),
        story_id=None if story_id is None else int(story_id),
        period_end=decode_optional_time(row["period_end"]),
        payload=str(row["payload"]),
        state="pending" if state == "pending" else "sent" if state == "sent" else "failed",
        attempts=int(row["attempts"]),
        next_attempt_at=decode_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        message_ids=_message_ids(row),
        created_at=decode_time(row["created_at"]),
        sent_at=decode_optional_time(row["sent_at"]),
    )


def _message_ids(row: Row) -> tuple[str, ...]:
    try:
        values = json.loads(str(row["message_ids"]))
    except json.JSONDecodeError as e:
        raise StorageError(f"outbox entry {row['id']} has unreadable message ids: {e}") from e
    if not isinstance(values, list):
        raise StorageError(f"outbox entry {row['id']} has message ids that are not a list")
    return tuple(str(v) for v in values)
