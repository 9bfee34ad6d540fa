"""What each stored item matched in the watchlist: actor and topic ids, score and the spans that hit."""

from __future__ import annotations

import json
from collections.abc import Sequence

from feeds.errors import StorageError
from feeds.models import Match, Span, TextField
from storage.db import Database, IntegrityViolation

_TEXT_FIELDS: tuple[TextField, ...] = ("title", "summary")


# Each span as an array: [field, start, end, target, phrase]. Rows written before this format hold one object
# per span ({"field": ..., "start": ...}) and still read back. Arrays take half the bytes: storing a 500-feed
# first poll made an 86 MB database before, 73 MB after.
_SPANS_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def spans_json(spans: tuple[Span, ...]) -> str:
    """The stored JSON of ``spans``: an array of ``[field, start, end, target, phrase]`` arrays."""
    return _SPANS_ENCODER.encode(spans)  # Span is a named tuple: json writes each as an array


def _span(entry: object) -> Span:
    if isinstance(entry, list) and len(entry) == 5:
        field, start, end, target, phrase = entry
    elif isinstance(entry, dict):  # the format before arrays
        field, start, end, target, phrase = (
            entry["field"], entry["start"], entry["end"], entry["target"], entry["phrase"]
        )  # fmt: skip
    else:
        raise ValueError(f"not a span: {entry!r}")
    if field not in _TEXT_FIELDS:
        raise ValueError(f"unknown field {field!r}")
    if not (isinstance(start, int) and isinstance(end, int)):
        raise ValueError(f"span offsets are not whole numbers: {start!r}, {end!r}")
    return Span(field=field, start=start, end=end, target=str(target), phrase=str(phrase))


def _spans(text: str, item_id: int) -> tuple[Span, ...]:
    try:
        decoded = json.loads(text)
        if not isinstance(decoded, list):
            raise ValueError("not an array")
        return tuple([_span(entry) for entry in decoded])
    except (ValueError, TypeError, KeyError) as e:
        raise StorageError(f"stored match spans of item {item_id} are unreadable: {e}") from e


class MatchRepository:
    """The matches of stored items."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, item_id: int, match: Match) -> None:
        """Store (or replace) an item's match; an empty match is stored too ("classified, nothing found")."""
        await self._save([(item_id, match)], missing=f"cannot store a match: no item with id {item_id}")

    async def save_many(self, matches: Sequence[tuple[int, Match]]) -> None:
        """:meth:`save` for many items in three statements (the poll path stores a feed's matches at once)."""
        item_ids = [item_id for item_id, _ in matches]
        if len(set(item_ids)) != len(item_ids):
            raise StorageError("a batch of matches names the same item twice")
        await self._save(matches, missing="cannot store a match: one of its items is not stored")

    async def _save(self, matches: Sequence[tuple[int, Match]], *, missing: str) -> None:
        if not matches:
            return
        async with self._db.transaction():
            try:
                await self._db.executemany(
                    "INSERT INTO match_results (item_id, score, spans) VALUES (?, ?, ?) "
                    "ON CONFLICT (item_id) DO UPDATE SET score = excluded.score, spans = excluded.spans",
                    [(item_id, match.score, spans_json(match.spans)) for item_id, match in matches],
                )
            except IntegrityViolation as e:
                if "FOREIGN KEY" not in str(e):
                    raise
                raise StorageError(missing) from e
            await self._db.executemany(
                "DELETE FROM matches WHERE item_id = ?", [(item_id,) for item_id, _ in matches]
            )
            await self._db.executemany(
                "INSERT INTO matches (item_id, kind, target_id, position) VALUES (?, ?, ?, ?)",
                [
                    (item_id, kind, target, position)
                    for item_id, match in matches
                    for kind, targets in (("actor", match.actors), ("topic", match.topics))
                    for position, target in enumerate(dict.fromkeys(targets))
                ],
            )

    async def for_item(self, item_id: int) -> Match:
        """The stored match of an item; an empty Match when none was stored."""
        result = await self._db.fetch_one(
            "SELECT score, spans FROM match_results WHERE item_id = ?", (item_id,)
        )
        if result is None:
            return Match()
        rows = await self._db.fetch_all(
            "SELECT kind, target_id FROM matches WHERE item_id = ? ORDER BY kind, position", (item_id,)
        )
        return Match(
            actors=tuple(str(row["target_id"]) for row in rows if row["kind"] == "actor"),
            topics=tuple(str(row["target_id"]) for row in rows if row["kind"] == "topic"),
            score=float(result["score"]),
            spans=_spans(str(result["spans"]), item_id),
        )
