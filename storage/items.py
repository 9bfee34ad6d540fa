"""Stored feed items: duplicate-free inserts, story membership, recent items, full-text search, retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from feeds.errors import StorageError
from feeds.models import Item, StoredItem
from storage.db import Database, IntegrityViolation, Row, SqlValue, decode_time, encode_time, statement_chunks

MAX_QUERY_TERMS = 32
DEFAULT_HALF_LIFE_DAYS = 7.0
DEFAULT_SEARCH_CANDIDATES = 5_000
# bm25 column weights: a hit in the title counts most, the outlet's name least.
_BM25_WEIGHTS = "4.0, 1.0, 0.5"
# item_id_blocks (migration 0006) keys a block of ids by items.id >> _ID_BLOCK_BITS.
_ID_BLOCK_BITS = 10
_NO_ITEM_ID = 2**63 - 1
# Ids of one page bound as parameters per statement, well under the oldest SQLite limit of 999.
_PAGE_IDS_PER_STATEMENT = 500

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
# Several rows per statement, at most 999 parameters (the oldest SQLite limit): fewer statements to step.
_ROWS_PER_STATEMENT = 999 // _INSERT_PARAMS


def _insert_statement(rows: int) -> str:
    values = ", ".join(["(" + ", ".join("?" * _INSERT_PARAMS) + ")"] * rows)
    return f"INSERT INTO items ({_INSERT_COLUMNS}) VALUES {values} ON CONFLICT DO NOTHING"


_INSERT_FULL = _insert_statement(_ROWS_PER_STATEMENT)
_INDEX_NEW_ITEMS = (
    "INSERT INTO items_fts (rowid, title, summary, source) SELECT id, title, summary, source FROM items "
    "WHERE id > ?"
)


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


# A candidate's rank, log2(relevance) + published / half-life (the ``?``): ordering by it halves an item's
# weight every half-life without needing "now". SQLite's own log2 spares a Python call per candidate; the
# function registered by storage.db computes the same for SQLite builds without math functions.
SQL_SCORE = "log2(max(-relevance, 1e-12)) + published / ?"
PYTHON_SCORE = "recency_rank(relevance, published, ?)"


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


def _in_utc(item: Item) -> Item:
    if item.published.tzinfo is UTC:
        return item
    return replace(item, published=item.published.astimezone(UTC))


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemBatch:
    """One feed's parsed items, fetched at ``fetched_at``: a unit of :meth:`ItemRepository.add_batches`."""

    feed_id: int
    items: Sequence[Item]
    fetched_at: datetime


def _all_stored(ids: Sequence[Row], batches: Sequence[ItemBatch]) -> list[list[StoredItem]]:
    # As many new rows as items: none was a duplicate (a feed's first poll), so row i stores item i.
    new_ids = iter(ids)
    return [
        [
            StoredItem(id=int(next(new_ids)[0]), feed_id=batch.feed_id, item=_in_utc(item), fetched_at=at)
            for item in batch.items
        ]
        for batch in batches
        for at in (batch.fetched_at.astimezone(UTC),)
    ]


def _pair_with_batches(rows: Sequence[Row], batches: Sequence[ItemBatch]) -> list[list[StoredItem]]:
    # New rows keep batch order, and once an item is skipped as a duplicate every later item of its feed with
    # the same (guid, url, hash) is skipped too, so the first unclaimed batch item with a row's feed and keys
    # is the one that row stores. Pairing this way spares decoding every new row back from the database.
    stored: list[list[StoredItem]] = [[] for _ in batches]
    flat = [
        (b, (batch.feed_id, item.guid, item.url, item.content_hash), item)
        for b, batch in enumerate(batches)
        for item in batch.items
    ]
    fetched_at = [batch.fetched_at.astimezone(UTC) for batch in batches]
    position = 0
    for item_id, feed_id, guid, url, content_hash in rows:  # the columns add_batches selects, in order
        keys = (int(feed_id), guid, url, content_hash)
        while position < len(flat) and flat[position][1] != keys:
            position += 1
        if position == len(flat):
            raise StorageError(f"stored item {item_id} does not match the batch that stored it")
        b, _keys, item = flat[position]
        stored[b].append(
            StoredItem(id=int(item_id), feed_id=keys[0], item=_in_utc(item), fetched_at=fetched_at[b])
        )
        position += 1
    return stored


class ItemRepository:
    """The items table and its full-text index."""

    def __init__(
        self,
        db: Database,
        *,
        recency_half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
        search_candidates: int = DEFAULT_SEARCH_CANDIDATES,
    ) -> None:
        if recency_half_life_days <= 0:
            raise StorageError("the search recency half-life must be a positive number of days")
        if search_candidates <= 0:
            raise StorageError("the number of search candidates must be a positive number")
        self._db = db
        self._half_life_s = recency_half_life_days * 86400.0
        self._candidates = search_candidates
        self._score: str | None = None

    async def add_items(
        self, feed_id: int, items: Sequence[Item], *, fetched_at: datetime
    ) -> list[StoredItem]:
        """Store a feed's items in one batch; only the newly stored ones, in input order.

        An item is skipped when the feed already has (or the batch already had) the same guid, the same
        canonical URL or the same content hash.
        """
        [stored] = await self.add_batches([ItemBatch(feed_id=feed_id, items=items, fetched_at=fetched_at)])
        return stored

    async def add_batches(self, batches: Sequence[ItemBatch]) -> list[list[StoredItem]]:
        """:meth:`add_items` for several feeds in the same few statements; per batch, its new items."""
        rows = [
            (
                batch.feed_id,
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
                encode_time(batch.fetched_at),
            )
            for batch in batches
            for item in batch.items
        ]
        if not rows:
            return [[] for _ in batches]
        chunks = statement_chunks(rows, _ROWS_PER_STATEMENT)
        # Full chunks come first: they share one prepared statement, run by executemany.
        full = [
            [value for row in chunk for value in row] for chunk in chunks if len(chunk) == _ROWS_PER_STATEMENT
        ]
        async with self._db.transaction():
            # The write lock is held from here on, so every id above this one is ours.
            before = await self._db.fetch_value("SELECT coalesce(max(id), 0) FROM items")
            try:
                if full:
                    await self._db.executemany(_INSERT_FULL, full)
                for rest in chunks[len(full) :]:
                    params = [value for row in rest for value in row]
                    await self._db.execute(_insert_statement(len(rest)), params)
            except IntegrityViolation as e:
                if "FOREIGN KEY" not in str(e):
                    raise
                ids = sorted({batch.feed_id for batch in batches})
                which = f"id {ids[0]}" if len(ids) == 1 else "one of the ids " + ", ".join(map(str, ids))
                raise StorageError(f"cannot store items: no feed with {which}") from e
            # Indexed here, the whole batch at once (migration 0008): FTS5 writes its pending postings out
            # at every statement's savepoint, so a trigger per stored row made a segment per statement.
            await self._db.execute(_INDEX_NEW_ITEMS, (before,))
            new_ids = await self._db.fetch_all("SELECT id FROM items WHERE id > ? ORDER BY id", (before,))
            if len(new_ids) == len(rows):
                return _all_stored(new_ids, batches)
            new_rows = await self._db.fetch_all(
                "SELECT id, feed_id, guid, url, content_hash FROM items WHERE id > ? ORDER BY id", (before,)
            )
        return _pair_with_batches(new_rows, batches)

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
        Only the ``search_candidates`` (5,000 by default) most recently stored matches that pass the filters
        are ranked, and pages end there: on purpose, an older but more relevant match of a very common word is
        left out, so that recent news comes first and a look-up costs about the same at any database size.
        """
        match = fts_query(query)
        if match is None or limit <= 0:
            return []
        conditions = ["items_fts MATCH ?"]
        params: list[SqlValue] = [match]
        if since is not None:
            moment = encode_time(since)
            # Within the full-text index, so the ids of blocks published wholly before ``since`` are never
            # read; the exact test on items.published still decides.
            conditions.append(
                "items_fts.rowid >= (SELECT coalesce(min(block) << ?, ?) FROM item_id_blocks "
                "WHERE max_published >= ?)"
            )
            params += [_ID_BLOCK_BITS, _NO_ITEM_ID, moment]
            conditions.append("items.published >= ?")
            params.append(moment)
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
        # The full-text index yields matches newest id first, so only the candidates are ever scored. Their
        # rank and filter columns come from the small items_search_columns index (migration 0006) rather
        # than whole items rows.
        ranked = await self._db.fetch_all(
            "WITH candidates AS ("
            f"SELECT items_fts.rowid AS id, bm25(items_fts, {_BM25_WEIGHTS}) AS relevance, "
            "items.published AS published "
            "FROM items_fts JOIN items INDEXED BY items_search_columns ON items.id = items_fts.rowid "
            f"WHERE {' AND '.join(conditions)} "
            "ORDER BY items_fts.rowid DESC LIMIT ?) "
            f"SELECT id, {await self._score_expression()} AS score FROM candidates "
            "ORDER BY score DESC, id DESC LIMIT ? OFFSET ?",
            [*params, self._candidates, self._half_life_s, limit, max(offset, 0)],
        )
        scores = {int(row["id"]): float(row["score"]) for row in ranked}
        found = await self._page_with_snippets(match, list(scores))
        return [
            SearchHit(item=stored_item(found[item_id]), score=score, snippet=str(found[item_id]["snippet"]))
            for item_id, score in scores.items()
            if item_id in found
        ]

    async def _page_with_snippets(self, match: str, ids: list[int]) -> dict[int, Row]:
        # The excerpt is the dearest part and needs the full-text cursor on its row: one pass over the
        # page's id range of the match, with membership tested by SQLite (the unary + keeps the id list out
        # of the full-text index, which would otherwise run the whole MATCH again for every id). An item
        # deleted since it was ranked is simply missing.
        found: dict[int, Row] = {}
        for start in range(0, len(ids), _PAGE_IDS_PER_STATEMENT):
            chunk = ids[start : start + _PAGE_IDS_PER_STATEMENT]
            rows = await self._db.fetch_all(
                f"SELECT {ITEM_COLUMNS}, snippet(items_fts, -1, '', '', '…', 24) AS snippet "
                "FROM items_fts CROSS JOIN items ON items.id = items_fts.rowid "
                "WHERE items_fts MATCH ? AND items_fts.rowid BETWEEN ? AND ? "
                f"AND +items_fts.rowid IN ({', '.join('?' * len(chunk))})",
                [match, min(chunk), max(chunk), *chunk],
            )
            found.update((int(row["id"]), row) for row in rows)
        return found

    async def _score_expression(self) -> str:
        if self._score is None:
            try:
                await self._db.fetch_value("SELECT log2(2.0)")
            except StorageError:
                self._score = PYTHON_SCORE
            else:
                self._score = SQL_SCORE
        return self._score

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
