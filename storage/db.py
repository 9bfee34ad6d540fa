"""The SQLite connection: pragmas, migrations by ``PRAGMA user_version`` and explicit transactions.

One :class:`Database` wraps one aiosqlite connection (autocommit mode). Writes that belong together go inside
``async with db.transaction():`` (``BEGIN IMMEDIATE`` … ``COMMIT``, ``ROLLBACK`` on any exception). Using
``transaction()`` again inside an open transaction, in the same task, opens a SAVEPOINT instead: the inner
block rolls back alone on error and commits only with the outer one. Repositories wrap their multi-statement
methods this way, so each method is atomic on its own and joins the caller's transaction when there is one.

While a transaction is open, statements from other tasks wait until it ends, so they never see or join it.
Statements of a transaction must therefore run in the task that opened it (not in tasks it spawns and awaits,
which would wait forever).
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import aiosqlite

from feeds.errors import StorageError

T = TypeVar("T")

SqlValue = str | int | float | bytes | None
Row = sqlite3.Row

DEFAULT_BUSY_TIMEOUT_MS = 5000
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SQL_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*|/\*.*?\*/)+", re.DOTALL)


class IntegrityViolation(StorageError):
    """A write broke a uniqueness, foreign-key or check rule; repositories reword it for the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One numbered schema step, shipped as ``storage/migrations/NNNN_name.sql``."""

    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The script split into single statements (trigger bodies stay whole)."""
        statements: list[str] = []
        start = 0
        for index, char in enumerate(self.sql):
            if char == ";" and sqlite3.complete_statement(self.sql[start : index + 1]):
                statements.append(_LEADING_COMMENTS.sub("", self.sql[start : index + 1]).strip())
                start = index + 1
        if _SQL_COMMENTS.sub("", self.sql[start:]).strip():
            raise StorageError(
                f"migration {self.version:04d}_{self.name} ends with an unterminated statement"
            )
        return statements


@functools.cache
def load_migrations() -> tuple[Migration, ...]:
    """Every migration shipped with the package, in version order; numbers run 1, 2, 3, … without gaps."""
    found: list[Migration] = []
    for entry in (resources.files("storage") / "migrations").iterdir():
        matched = _MIGRATION_FILE.match(entry.name)
        if matched is None:
            continue
        sql = entry.read_text(encoding="utf-8")
        found.append(Migration(version=int(matched[1]), name=matched[2], sql=sql))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StorageError(
                f"migration files are misnumbered: expected {expected:04d}_*.sql, found "
                f"{migration.version:04d}_{migration.name}.sql"
            )
    return tuple(found)


def statement_sizes(count: int, largest: int) -> list[int]:
    """How many rows each multi-row statement for ``count`` rows takes: ``largest`` while that many are left,
    then the rest as powers of two.

    Every distinct statement text is prepared and kept in the connection's statement cache; one per
    possible remainder would keep dozens of large programs (~100 KB each for an item insert with its
    triggers), a handful of sizes keeps a few.
    """
    sizes = [largest] * (count // largest)
    rest = count % largest
    bit = 1 << max(rest.bit_length() - 1, 0)
    while rest:
        if rest & bit:
            sizes.append(bit)
            rest -= bit
        bit >>= 1
    return sizes


def statement_chunks(values: Sequence[T], largest: int) -> list[Sequence[T]]:
    """``values`` cut into consecutive chunks of the :func:`statement_sizes` for their count."""
    chunks: list[Sequence[T]] = []
    start = 0
    for size in statement_sizes(len(values), largest):
        chunks.append(values[start : start + size])
        start += size
    return chunks


def encode_time(moment: datetime) -> float:
    """An aware datetime as stored: unix seconds (REAL), which sort in time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StorageError(f"refusing to store naive datetime {moment.isoformat()}: use aware UTC datetimes")
    return moment.timestamp()


def decode_time(value: SqlValue) -> datetime:
    """A stored unix-seconds value back as an aware UTC datetime."""
    if not isinstance(value, int | float):
        raise StorageError(f"stored time {value!r} is not a number of seconds")
    return datetime.fromtimestamp(value, UTC)


def encode_optional_time(moment: datetime | None) -> float | None:
    """:func:`encode_time`, passing ``None`` through."""
    return None if moment is None else encode_time(moment)


def decode_optional_time(value: SqlValue) -> datetime | None:
    """:func:`decode_time`, passing ``NULL`` through."""
    return None if value is None else decode_time(value)


def _recency_rank(bm25: float | None, published: float | None, half_life_s: float | None) -> float:
    # log2(relevance) + published / half_life is log2(relevance * 2 ** (-age / half_life)) plus a constant,
    # so ordering by it halves an item's weight every half-life without the query needing "now".
    relevance = max(-(bm25 or 0.0), 1e-12)
    return math.log2(relevance) + (published or 0.0) / (half_life_s or 1.0)


class Database:
    """An open diplowatch database: run statements, group them in transactions, close."""

    def __init__(self, connection: aiosqlite.Connection, *, path: Path, busy_timeout_ms: int) -> None:
        self._conn = connection
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._savepoints = 0

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; an open transaction is rolled back by SQLite."""
        try:
            await self._conn.close()
        except sqlite3.Error as e:
            raise StorageError(f"cannot close database at {self.path}: {e}") from e

    @property
    def in_transaction(self) -> bool:
        """True inside ``transaction()`` in the task that opened it."""
        return self._owns_transaction()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on exception); nested in one task: a savepoint."""
        if self._owns_transaction():
            async with self._savepoint():
                yield
            return
        async with self._lock:
            try:
                await self._raw("BEGIN IMMEDIATE")
            except BaseException:
                # Cancelled while waiting: the queued BEGIN still runs on the worker thread, so undo it.
                await self._rollback_quietly()
                raise
            self._owner = asyncio.current_task()
            try:
                yield
            except BaseException:
                await self._rollback_quietly()
                raise
            else:
                try:
                    await self._raw("COMMIT")
                except BaseException:
                    await self._rollback_quietly()
                    raise
            finally:
                self._owner = None

    async def execute(self, sql: str, params: Sequence[SqlValue] = ()) -> int:
        """Run one statement; the number of rows it inserted, changed or deleted."""
        async with self._turn():
            try:
                # Not closed: a finished write holds nothing, and closing costs a second thread hop.
                cursor = await self._conn.execute(sql, params)
            except (sqlite3.Error, ValueError) as e:
                raise self._error(e) from e
            return cursor.rowcount

    async def insert(self, sql: str, params: Sequence[SqlValue] = ()) -> int:
        """Run one INSERT; the rowid of the new row."""
        async with self._turn():
            try:
                cursor = await self._conn.execute(sql, params)
            except (sqlite3.Error, ValueError) as e:
                raise self._error(e) from e
            rowid = cursor.lastrowid
        if rowid is None:
            raise StorageError(f"database at {self.path} reported no row id for an insert")
        return rowid

    async def executemany(self, sql: str, rows: Iterable[Sequence[SqlValue]]) -> int:
        """Run one statement once per parameter row in a single call; the total rows changed."""
        async with self._turn():
            try:
                cursor = await self._conn.executemany(sql, rows)
            except (sqlite3.Error, ValueError) as e:
                raise self._error(e) from e
            return cursor.rowcount

    async def fetch_all(self, sql: str, params: Sequence[SqlValue] = ()) -> list[Row]:
        """Every row of a query."""
        async with self._turn():
            try:
                return list(await self._conn.execute_fetchall(sql, params))
            except (sqlite3.Error, ValueError) as e:
                raise self._error(e) from e

    async def fetch_one(self, sql: str, params: Sequence[SqlValue] = ()) -> Row | None:
        """The first row of a query, if any."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_value(self, sql: str, params: Sequence[SqlValue] = ()) -> SqlValue:
        """The first column of the first row of a query (``None`` when there is no row)."""
        row = await self.fetch_one(sql, params)
        if row is None:
            return None
        value: SqlValue = row[0]
        return value

    async def schema_version(self) -> int:
        """The schema version recorded in the file (``PRAGMA user_version``)."""
        value = await self.fetch_value("PRAGMA user_version")
        if not isinstance(value, int):
            raise StorageError(f"database at {self.path} has an unreadable schema version {value!r}")
        return value

    async def migrate(self, migrations: Sequence[Migration]) -> None:
        """Apply the migrations newer than the file, each in its own transaction; refuse a newer file."""
        latest = migrations[-1].version if migrations else 0
        current = await self.schema_version()
        if current > latest:
            raise StorageError(
                f"database at {self.path} has schema version {current}, newer than this diplowatch knows "
                f"({latest}); upgrade diplowatch or use another database file"
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            async with self.transaction():
                # Another process may have migrated while we waited for the write lock.
                if await self.schema_version() >= migration.version:
                    continue
                try:
                    for statement in migration.statements():
                        await self.execute(statement)
                except StorageError as e:
                    raise StorageError(
                        f"migration {migration.version:04d}_{migration.name} failed on {self.path}: {e}"
                    ) from e
                await self.execute(f"PRAGMA user_version = {migration.version:d}")

    def _owns_transaction(self) -> bool:
        task = asyncio.current_task()
        return task is not None and self._owner is task

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        # Outside the owning task, wait for any open transaction so statements never interleave with it.
        if self._owns_transaction():
            yield
        else:
            async with self._lock:
                yield

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        name = f"nested_{self._savepoints}"
        self._savepoints += 1
        try:
            await self._raw(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                await self._raw(f"ROLLBACK TO {name}")
                await self._raw(f"RELEASE {name}")
                raise
            await self._raw(f"RELEASE {name}")
        finally:
            self._savepoints -= 1

    async def _raw(self, sql: str) -> None:
        try:
            await self._conn.execute_fetchall(sql)
        except (sqlite3.Error, ValueError) as e:
            raise self._error(e) from e

    async def _rollback_quietly(self) -> None:
        # The original exception matters more; SQLite may already have rolled back on its own.
        with suppress(StorageError):
            await self._raw("ROLLBACK")

    def _error(self, error: sqlite3.Error | ValueError) -> StorageError:
        if isinstance(error, ValueError):
            return StorageError(f"database at {self.path} cannot run the statement: {error}")
        if isinstance(error, sqlite3.IntegrityError):
            return IntegrityViolation(f"database rule broken: {error}")
        message = str(error)
        if "locked" in message or "busy" in message:
            return StorageError(
                f"database at {self.path} is locked by another writer "
                f"(waited {self.busy_timeout_ms} ms): {message}"
            )
        return StorageError(f"database error on {self.path}: {message}")


async def open_database(path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Database:
    """Open (creating if needed) the database file, set its pragmas and migrate it to the latest schema."""
    location = Path(path)
    if busy_timeout_ms < 0:
        raise StorageError(f"busy timeout must be >= 0 ms, got {busy_timeout_ms}")
    try:
        # Probe first: aiosqlite leaves its worker thread to finish after a failed connect, which then
        # outlives the event loop that would hear about it.
        await asyncio.to_thread(_probe, location)
        connection = await aiosqlite.connect(location, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as e:
        raise StorageError(f"cannot open database at {location}: {e}{_path_hint(location)}") from e
    connection.row_factory = sqlite3.Row
    db = Database(connection, path=location, busy_timeout_ms=busy_timeout_ms)
    try:
        await _configure(db, connection, location, busy_timeout_ms)
        await db.migrate(load_migrations())
    except BaseException:
        await connection.close()
        raise
    return db


# Items are ~1.5 KB rows under a full-text index, written in batches: with 16 KiB pages instead of SQLite's
# 4 KiB, storing a 500-feed first poll took ~69 instead of ~74 µs CPU per item (8 KiB: ~73).
_PAGE_SIZE = 16384
# The page cache, in KiB (SQLite's default is 2,000). A poll's transaction touches index pages all over the
# file; with 2 MB cached, storing a 500-feed first poll read 411 MB back through read() and wrote 780 MB,
# with 8 MB 129 MB and 642 MB, ~5 µs less CPU per item. Polling 10,000 feeds peaked at ~188 MB resident
# instead of ~182 MB.
_CACHE_KIB = 8192


async def _configure(
    db: Database, connection: aiosqlite.Connection, location: Path, busy_timeout_ms: int
) -> None:
    try:
        await db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
        # Only a new, empty file takes it (before write-ahead logging starts); older files keep theirs.
        await db.execute(f"PRAGMA page_size = {_PAGE_SIZE:d}")
        mode = await db.fetch_value("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute(f"PRAGMA cache_size = -{_CACHE_KIB:d}")
        await connection.create_function("recency_rank", 3, _recency_rank, deterministic=True)
    except (StorageError, sqlite3.Error) as e:
        reason = e.__cause__ if isinstance(e, StorageError) and e.__cause__ is not None else e
        raise StorageError(f"cannot open database at {location}: {reason}{_path_hint(location)}") from e
    if str(mode).lower() != "wal" and str(location) != ":memory:":
        raise StorageError(
            f"cannot open database at {location}: the file system does not support write-ahead logging "
            f"(journal mode is {mode!r}); put the database on a local disk"
        )


def _probe(location: Path) -> None:
    sqlite3.connect(location).close()


def _path_hint(location: Path) -> str:
    parent = location.parent
    if location.is_dir():
        return " (the path is a directory)"
    if not parent.exists():
        return f" (directory {parent} does not exist)"
    if not parent.is_dir():
        return f" ({parent} is not a directory)"
    return ""
