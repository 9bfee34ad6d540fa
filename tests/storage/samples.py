"""Sample domain values for the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feeds.models import Actor, FeedSource, Item, Topic, Watchlist
from storage.db import Database

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_item(
    n: int,
    *,
    guid: str | None = "",
    url: str | None = "",
    title: str | None = None,
    summary: str | None = None,
    content_hash: str | None = None,
    published: datetime | None = None,
    source: str = "Example Wire",
) -> Item:
    """Item number ``n``; ``""`` for guid/url means "derive from n", ``None`` means "absent"."""
    real_guid = f"guid-{n}" if guid == "" else guid
    real_url = f"https://example.org/news/{n}" if url == "" else url
    real_hash = content_hash if content_hash is not None else f"hash-{n}"
    if real_guid is not None:
        identity = f"guid:{real_guid}"
    elif real_url is not None:
        identity = f"url:{real_url}"
    else:
        identity = f"hash:{real_hash}"
    return Item(
        identity=identity,
        guid=real_guid,
        url=real_url,
        title=title if title is not None else f"Report number {n}",
        summary=summary if summary is not None else f"Body of report {n}.",
        published=published if published is not None else T0 + timedelta(minutes=n),
        published_estimated=False,
        content_hash=real_hash,
        source=source,
        language="en",
        author=None,
    )


def make_source(n: int, *, interval_s: int = 600) -> FeedSource:
    """Feed source number ``n``."""
    return FeedSource(url=f"https://feeds.example.org/{n}.xml", name=f"Feed {n}", interval_s=interval_s)


def sample_watchlist() -> Watchlist:
    """A watchlist using every stored feature: Cyrillic, exact case, not_near, any/all/none."""
    return Watchlist(
        actors=(
            Actor(
                id="lavrov",
                name="Sergey Lavrov",
                kind="person",
                aliases=("Sergey Lavrov", "Лавров", "Сергей Лавров"),
                not_near=("Lavrov Street",),
            ),
            Actor(id="un", name="United Nations", kind="org", aliases=("United Nations", "ООН")),
            Actor(
                id="us",
                name="United States",
                kind="state",
                aliases=("United States",),
                exact_case_aliases=("US", "U.S."),
                not_near=("US Open", "US dollar"),
            ),
        ),
        topics=(
            Topic(id="sanctions", name="Sanctions", any=("sanction", "санкции"), none=("sanctioned goal",)),
            Topic(id="ceasefire", name="Ceasefire talks", any=("ceasefire", "truce"), all=("talks",)),
        ),
    )


async def fts_rowids(db: Database, term: str) -> list[int]:
    """Row ids the full-text index itself holds for ``term`` (not filtered through the items table)."""
    rows = await db.fetch_all("SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY rowid", (term,))
    return [int(row[0]) for row in rows]


async def check_fts_in_sync(db: Database) -> None:
    """Raise unless the full-text index matches the items table exactly."""
    await db.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)")
