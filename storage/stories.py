"""Stories: one event reported by one or more feeds, with the items (sources) that told it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from feeds.errors import StorageError
from feeds.models import Story, StoryCandidate, StorySource
from storage.db import Database, IntegrityViolation, Row, decode_time, encode_time, statement_chunks
from storage.items import attach_to_story

_COLUMNS = "id, key, title, first_seen, last_seen, score"
# Stay far below SQLite's bound-parameter limit when listing story ids.
_IDS_PER_QUERY = 500
_NEW_STORIES_PER_STATEMENT = 999 // 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    """A stored item joining the story ``story_key``, with the fingerprint it was matched by.

    With ``new_story`` the story does not exist yet and is created from this item's title and score.
    """

    item_id: int
    story_key: str
    fingerprint: bytes
    new_story: bool
    title: str = ""
    score: float = 0.0


class StoryRepository:
    """The stories table and story membership of items."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, key: str, *, title: str, first_seen: datetime, score: float) -> int:
        """A new story with no items yet; its id. A key already used is a StorageError."""
        moment = encode_time(first_seen)
        try:
            return await self._db.insert(
                "INSERT INTO stories (key, title, first_seen, last_seen, score) VALUES (?, ?, ?, ?, ?)",
                (key, title, moment, moment, score),
            )
        except IntegrityViolation as e:
            raise StorageError(f"a story with key {key!r} already exists") from e

    async def attach(self, story_id: int, item_id: int, fingerprint: bytes) -> None:
        """Make a stored item a source of the story, with the fingerprint it was matched by."""
        await attach_to_story(self._db, story_id=story_id, item_id=item_id, fingerprint=fingerprint)

    async def add_members(self, members: Sequence[Membership], *, seen_at: datetime) -> dict[str, int]:
        """Create the new stories and attach every item in a handful of statements; story ids by key.

        The poll path's batch form of :meth:`create` + :meth:`attach`: each statement is a thread hop.
        """
        if not members:
            return {}
        moment = encode_time(seen_at)
        ids: dict[str, int] = {}
        created = [m for m in members if m.new_story]
        if len({m.story_key for m in created}) != len(created):
            raise StorageError("a batch creates the same story twice")
        async with self._db.transaction():
            for chunk in statement_chunks(created, _NEW_STORIES_PER_STATEMENT):
                values = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
                params = [v for m in chunk for v in (m.story_key, m.title, moment, moment, m.score)]
                try:
                    rows = await self._db.fetch_all(
                        "INSERT INTO stories (key, title, first_seen, last_seen, score) "
                        f"VALUES {values} RETURNING id, key",
                        params,
                    )
                except IntegrityViolation as e:
                    raise StorageError(f"a story of this batch already exists: {e}") from e
                ids.update((str(row["key"]), int(row["id"])) for row in rows)
            known = list(dict.fromkeys(m.story_key for m in members if m.story_key not in ids))
            for chunk_keys in statement_chunks(known, _IDS_PER_QUERY):
                marks = ", ".join("?" * len(chunk_keys))
                for row in await self._db.fetch_all(
                    f"SELECT id, key FROM stories WHERE key IN ({marks})", chunk_keys
                ):
                    ids[str(row["key"])] = int(row["id"])
            missing = [key for key in known if key not in ids]
            if missing:
                raise StorageError(f"no story with key {missing[0]!r}")
            changed = await self._db.executemany(
                "UPDATE items SET story_id = ?, fingerprint = ? WHERE id = ?",
                [(ids[m.story_key], m.fingerprint, m.item_id) for m in members],
            )
            if changed != len(members):
                raise StorageError("a story member is not a stored item")
            await self._db.executemany(
                "UPDATE stories SET last_seen = max(last_seen, ?) WHERE id = ?",
                [(moment, story_id) for story_id in dict.fromkeys(ids[m.story_key] for m in members)],
            )
        return ids

    async def candidates(self, since: datetime) -> list[StoryCandidate]:
        """Items published at or after ``since`` that belong to a story, oldest first, with fingerprints."""
        rows = await self._db.fetch_all(
            "SELECT items.id, items.story_id, stories.key, items.published, items.fingerprint "
            "FROM items JOIN stories ON stories.id = items.story_id "
            "WHERE items.published >= ? AND items.fingerprint IS NOT NULL "
            "ORDER BY items.published, items.id",
            (encode_time(since),),
        )
        return [
            StoryCandidate(
                item_id=int(row["id"]),
                story_id=int(row["story_id"]),
                story_key=str(row["key"]),
                published=decode_time(row["published"]),
                fingerprint=bytes(row["fingerprint"]),
            )
            for row in rows
        ]

    async def get(self, story_id: int) -> Story:
        """The story with its sources, actors and topics; StorageError if there is none.

        Its score is the best of the stored score and the match scores of its items.
        """
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM stories WHERE id = ?", (story_id,))
        if row is None:
            raise StorageError(f"no story with id {story_id}")
        return (await self._assemble([row]))[0]

    async def by_key(self, key: str) -> Story | None:
        """The story with this key, if any."""
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM stories WHERE key = ?", (key,))
        return None if row is None else (await self._assemble([row]))[0]

    async def id_for_key(self, key: str) -> int:
        """The id of the story with this key; StorageError if there is none."""
        value = await self._db.fetch_value("SELECT id FROM stories WHERE key = ?", (key,))
        if not isinstance(value, int):
            raise StorageError(f"no story with key {key!r}")
        return value

    async def recent(self, since: datetime, *, limit: int) -> list[Story]:
        """Stories first seen at or after ``since``, newest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM stories WHERE first_seen >= ? ORDER BY first_seen DESC, id DESC LIMIT ?",
            (encode_time(since), max(limit, 0)),
        )
        return await self._assemble(rows)

    async def update_score(self, story_id: int, score: float) -> None:
        """Set the story's stored score."""
        if await self._db.execute("UPDATE stories SET score = ? WHERE id = ?", (score, story_id)) == 0:
            raise StorageError(f"no story with id {story_id}")

    async def _assemble(self, rows: Sequence[Row]) -> list[Story]:
        # Sources in publication order; actors and topics in the order their items first named them;
        # score is the best of the stored score and the item match scores.
        ids = [int(row["id"]) for row in rows]
        sources: dict[int, list[StorySource]] = {story_id: [] for story_id in ids}
        targets: dict[tuple[int, str], dict[str, None]] = {}
        best: dict[int, float] = {}
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            for row in await self._db.fetch_all(
                "SELECT items.story_id, items.source, feeds.name AS feed_name, items.title, items.url, "
                "items.published FROM items JOIN feeds ON feeds.id = items.feed_id "
                f"WHERE items.story_id IN ({marks}) ORDER BY items.published, items.id",
                chunk,
            ):
                sources[int(row["story_id"])].append(
                    StorySource(
                        source=str(row["source"] or row["feed_name"]),
                        title=str(row["title"]),
                        url=row["url"],
                        published=decode_time(row["published"]),
                    )
                )
            for row in await self._db.fetch_all(
                "SELECT items.story_id, matches.kind, matches.target_id FROM matches "
                "JOIN items ON items.id = matches.item_id "
                f"WHERE items.story_id IN ({marks}) ORDER BY items.published, items.id, matches.position",
                chunk,
            ):
                targets.setdefault((int(row["story_id"]), str(row["kind"])), {})[str(row["target_id"])] = None
            for row in await self._db.fetch_all(
                "SELECT items.story_id, max(match_results.score) AS best FROM match_results "
                f"JOIN items ON items.id = match_results.item_id WHERE items.story_id IN ({marks}) "
                "GROUP BY items.story_id",
                chunk,
            ):
                best[int(row["story_id"])] = float(row["best"])
        return [
            Story(
                id=int(row["id"]),
                key=str(row["key"]),
                title=str(row["title"]),
                first_seen=decode_time(row["first_seen"]),
                actors=tuple(targets.get((int(row["id"]), "actor"), {})),
                topics=tuple(targets.get((int(row["id"]), "topic"), {})),
                score=max(float(row["score"]), best.get(int(row["id"]), float("-inf"))),
                sources=tuple(sources[int(row["id"])]),
            )
            for row in rows
        ]
