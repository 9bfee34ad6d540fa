"""The audit log: every edit made from chat, with who made it, from which platform and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feeds.errors import StorageError
from storage.db import Database, Row, decode_time, encode_time

_COLUMNS = "id, at, platform, actor_user, command, detail"
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One recorded edit: ``actor_user`` is who made it as the platform names them (e.g. ``alice (U123)``)."""

    id: int
    at: datetime
    platform: str
    actor_user: str
    command: str
    detail: str


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=decode_time(row["at"]),
        platform=str(row["platform"]),
        actor_user=str(row["actor_user"]),
        command=str(row["command"]),
        detail=str(row["detail"]),
    )


class AuditRepository:
    """The audit_log table; ``record`` joins the caller's transaction: an edit and its row commit together."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, *, actor_user: str, platform: str, command: str, detail: str, now: datetime
    ) -> AuditEntry:
        """Append one row; ``detail`` longer than :data:`MAX_DETAIL_CHARS` is cut with ``…``."""
        if not actor_user.strip():
            raise StorageError("an audit row needs the user who made the change")
        if not platform.strip() or not command.strip():
            raise StorageError("an audit row needs the platform and the command")
        text = detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 1] + "…"
        entry_id = await self._db.insert(
            "INSERT INTO audit_log (at, platform, actor_user, command, detail) VALUES (?, ?, ?, ?, ?)",
            (encode_time(now), platform, actor_user, command, text),
        )
        return AuditEntry(id=entry_id, at=now, platform=platform, actor_user=actor_user, command=command,
                          detail=text)

    async def recent(self, limit: int, *, offset: int = 0) -> list[AuditEntry]:
        """The newest rows first (``offset`` rows skipped)."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM audit_log ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
            (max(limit, 0), max(offset, 0)),
        )
        return [_entry(row) for row in rows]

    async def count(self) -> int:
        """How many rows the log holds."""
        value = await self._db.fetch_value("SELECT count(*) FROM audit_log")
        return int(value or 0)

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: delete rows recorded before ``cutoff``; how many."""
        return await self._db.execute("DELETE FROM audit_log WHERE at < ?", (encode_time(cutoff),))
