"""Stored feed items: duplicate-free inserts, story membership, recent items, full-text search, retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from feeds.errors import StorageError
from feeds.models import Item, StoredItem
from storage.db import Database, IntegrityViolation, Row, SqlValue, decode_time, encode_time

MAX_QUERY_TERMS = 32
DEFAULT_HALF_LIFE_DAYS = 7.0
# bm25 column weights: a hit in the title counts most, the outlet's name least.
_BM25_WEIGHTS = "4.0, 1.0, 0.5"

ITEM_COLUMNS = (
    "items.id, items.feed_id, items.identity, items.guid, items.url, items.title, items.summary, "
    "items.published, items.published_estimated, items.content_hash, items.source, items.language, "
    "items.author, items.fetched_at, items.story_id"
)

_INSERT_COLUMNS = (
    "feed_id, identity, guid, url, title, summary, published, published_estimated, content_hash, source, "
    "language, author, fetched_at"
)
_INSERT_PARAMS = len(_INSERT_COLUMNS.split(","))
# Several rows per statement, at most 999 parameters (the oldest SQLite limit). One statement per row would
# make FTS5 flush its pending index data at every row's statement savepoint: two to three times slower.
_ROWS_PER_STATEMENT = 999 // _INSERT_PARAMS


def _insert_statement(rows: int) -> str:
    values = ", ".join(["(" + ", ".join("?" * _INSERT_PARAMS) + ")"] * rows)
    return f"INSERT INTO items ({_INSERT_COLUMNS}) VALUES {values} ON CONFLICT DO NOTHING"


_INSERT_FULL = _insert_statement(_ROWS_PER_STATEMENT)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    """One search result: the item, its rank (higher is better; compare within one search) and an excerpt."""

    item: StoredItem
    score: float
    snippet: str


def stored_item(row: Row) -> StoredItem:
    """A row selected with :data:`ITEM_COLUMNS` as a StoredItem."""
    story_id = row["story_id"]
    return StoredItem(
        id=int(row["id"]),
        feed_id=int(row["feed_id"]),
        item=Item(
            identity=str(row["identity"]),
            guid=row["guid"],
            url=row["url"],
            title=str(row["title"]),
            summary=str(row["summary"]),
            published=decode_time(row["published"]),
            published_estimated=bool(row["published_estimated"]),
            content_hash=str(row["content_hash"]),
            source=str(row["source"]),
            language=row["language"],
            author=row["author"],
        ),
        fetched_at=decode_time(row["fetched_at"]),
        story_id=None if story_id is None else int(story_id),
    )


def fts_query(text: str) -> str | None:
    """The user's words as a safe FTS5 query (every word quoted, ANDed; ``word*`` keeps a prefix search).

    Operators and punctuation lose their meaning; ``None`` when nothing searchable is left.
    """
    terms: list[str] = []
    for chunk in text.replace("\x00", " ").split():
        word = chunk.rstrip("*")
        if not any(char.isalnum() for char in word):
            continue
        quoted = '"' + word.replace('"', '""') + '"'
        terms.append(quoted + "*" if chunk.endswith("*") else quoted)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return " ".join(terms) or None


async def attach_to_story(db: Database, *, story_id: int, item_id: int, fingerprint: bytes) -> None:
    """Make an item a member of a story (with its fingerprint) and move the story's last_seen forward."""
    async with db.transaction():
        try:
            changed = await db.execute(
                "UPDATE items SET story_id = ?, fingerprint = ? WHERE id = ?",
                (story_id, fingerprint, item_id),
            )
        except IntegrityViolation as e:
            if "FOREIGN KEY" not in str(e):
                raise
            raise StorageError(f"no story with id {story_id}") from e
        if changed == 0:
            raise StorageError(f"no item with id {item_id}")
        await db.execute(
            "UPDATE stories SET last_seen = max(last_seen, (SELECT fetched_at FROM items WHERE id = ?)) "
            "WHERE id = ?",
            (item_id, story_id),
        )


def _dedupe_keys(item: Item) -> tuple[str | None, str | None, str]:
    return (item.guid, item.url, item.content_hash)


def _in_utc(item: Item) -> Item:
    if item.published.tzinfo is UTC:
        return item
    return replace(item, published=item.published.astimezone(UTC))


def _pair_with_batch(
    rows: Sequence[Row], items: Sequence[Item], *, feed_id: int, fetched_at: datetime
) -> list[StoredItem]:
    # New rows keep batch order, and once an item is skipped as a duplicate every later item with the same
    # (guid, url, hash) is skipped too, so the first unclaimed batch item with a row's keys is the one that
    # row stores. Pairing this way spares decoding every new row back from the database.
    stored: list[StoredItem] = []
    position = 0
    for row in rows:
        keys = (row["guid"], row["url"], row["content_hash"])
        while position < len(items) and _dedupe_keys(items[position]) != keys:
            position += 1
        if position == len(items):
            raise StorageError(f"stored item {row['id']} does not match the batch that stored it")
        stored.append(
            StoredItem(
                id=int(row["id"]),
                feed_id=feed_id,
                item=_in_utc(items[position]),
                fetched_at=fetched_at.astimezone(UTC),
            )
        )
        position += 1
    return stored


class ItemRepository:
    """The items table and its full-text index."""

    def __init__(self, db: Database, *, recency_half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
        if recency_half_life_days <= 0:
            raise StorageError("the search recency half-life must be a positive number of days")
        self._db = db
        self._half_life_s = recency_half_life_days * 86400.0

    async def add_items(
        self, feed_id: int, items: Sequence[Item], *, fetched_at: datetime
    ) -> list[StoredItem]:
        """Store a feed's items in one batch; only the newly stored ones, in input order.

        An item is skipped when the feed already has (or the batch already had) the same guid, the same
        canonical URL or the same content hash.
        """
        if not items:
            return []
        fetched = encode_time(fetched_at)
        rows = [
            (
                feed_id,
                item.identity,
                item.guid,
                item.url,
                item.title,
                item.summary,
                encode_time(item.published),
                int(item.published_estimated),
                item.content_hash,
                item.source,
                item.language,
                item.author,
                fetched,
            )
            for item in items
        ]
        full = len(rows) - len(rows) % _ROWS_PER_STATEMENT
        chunks = [
            [value for row in rows[start : start + _ROWS_PER_STATEMENT] for value in row]
            for start in range(0, full, _ROWS_PER_STATEMENT)
        ]
        rest = [value for row in rows[full:] for value in row]
        async with self._db.transaction():
            # The write lock is held from here on, so every id above this one is ours.
            before = await self._db.fetch_value("SELECT coalesce(max(id), 0) FROM items")
            try:
                if chunks:
                    await self._db.executemany(_INSERT_FULL, chunks)
                if rest:
                    await self._db.execute(_insert_statement(len(rows) - full), rest)
            except IntegrityViolation as e:
                if "FOREIGN KEY" not in str(e):
                    raise
                raise StorageError(f"cannot store items: no feed with id {feed_id}") from e
            new_rows = await self._db.fetch_all(
                "SELECT id, guid, url, content_hash FROM items WHERE id > ? ORDER BY id", (before,)
            )
        return _pair_with_batch(new_rows, items, feed_id=feed_id, fetched_at=fetched_at)

    async def set_story(self, item_id: int, story_id: int, fingerprint: bytes) -> None:
        """Record the story an item belongs to and the fingerprint it was matched with."""
        await attach_to_story(self._db, story_id=story_id, item_id=item_id, fingerprint=fingerprint)

    async def get(self, item_id: int) -> StoredItem:
        """The item with this id; StorageError if there is none."""
        row = await self._db.fetch_one(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))
        if row is None:
            raise StorageError(f"no item with id {item_id}")
        return stored_item(row)

    async def recent(self, *, limit: int, since: datetime | None = None) -> list[StoredItem]:
        """The most recently published items, newest first (only those published at or after ``since``)."""
        where, params = ("WHERE published >= ?", [encode_time(since)]) if since is not None else ("", [])
        rows = await self._db.fetch_all(
            f"SELECT {ITEM_COLUMNS} FROM items {where} ORDER BY published DESC, id DESC LIMIT ?",
            (*params, max(limit, 0)),
        )
        return [stored_item(row) for row in rows]

    async def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int = 0,
        since: datetime | None = None,
        source: str | None = None,
        actor: str | None = None,
        topic: str | None = None,
    ) -> list[SearchHit]:
        """Items whose title, summary or source contain every word of ``query``, best first.

        Rank is bm25 relevance halved for every half-life of age. ``source`` matches the item's source or
        its feed's name (case-insensitively); ``actor``/``topic`` keep items matched to that watchlist id.
        """
        match = fts_query(query)
        if match is None or limit <= 0:
            return []
        conditions = ["items_fts MATCH ?"]
        params: list[SqlValue] = [self._half_life_s, match]
        if since is not None:
            conditions.append("items.published >= ?")
            params.append(encode_time(since))
        if source is not None:
            conditions.append(
                "(items.source = ? COLLATE NOCASE "
                "OR items.feed_id IN (SELECT id FROM feeds WHERE name = ? COLLATE NOCASE))"
            )
            params += [source, source]
        for kind, target in (("actor", actor), ("topic", topic)):
            if target is not None:
                conditions.append(
                    "EXISTS (SELECT 1 FROM matches WHERE matches.item_id = items.id "
                    "AND matches.kind = ? AND matches.target_id = ?)"
                )
                params += [kind, target]
        params += [limit, max(offset, 0)]
        rows = await self._db.fetch_all(
            f"SELECT {ITEM_COLUMNS}, "
            f"recency_rank(bm25(items_fts, {_BM25_WEIGHTS}), items.published, ?) AS score, "
            "snippet(items_fts, -1, '', '', '…', 24) AS snippet "
            "FROM items_fts JOIN items ON items.id = items_fts.rowid "
            f"WHERE {' AND '.join(conditions)} "
            "ORDER BY score DESC, items.id DESC LIMIT ? OFFSET ?",
            params,
        )
        return [
            SearchHit(item=stored_item(row), score=float(row["score"]), snippet=str(row["snippet"]))
            for row in rows
        ]

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: delete items published and fetched before ``cutoff`` (with their matches and search
        entries) and stories left without items; the number of items deleted."""
        moment = encode_time(cutoff)
        async with self._db.transaction():
            deleted = await self._db.execute(
                "DELETE FROM items WHERE published < ? AND fetched_at < ?", (moment, moment)
            )
            await self._db.execute(
                "DELETE FROM stories WHERE last_seen < ? "
                "AND NOT EXISTS (SELECT 1 FROM items WHERE items.story_id = stories.id)",
                (moment,),
            )
        return deleted
