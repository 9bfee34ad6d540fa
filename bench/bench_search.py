"""search: FTS5 look-up latency of storage.items.ItemRepository.search over many stored items.

Items are generated articles (titles and plain-text leads, 80% English, 20% Russian, a fifth diplomatic)
published over 90 days, bulk-loaded through ``ItemRepository.add_items`` in large transactions. The load
is timed separately; only the searches are the figure.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.corpus import ArticleKind, Language, article_item, write_article
from bench.feedserver import EPOCH
from bench.report import Figure, Section, at_most, percentile, progress
from feeds.models import FeedSource, Item
from storage.db import Database, open_database
from storage.feeds import FeedRepository
from storage.items import ItemRepository

FEEDS = 2_000
ITEMS_PER_TRANSACTION = 20_000
SPREAD = timedelta(days=90)
NOW = EPOCH + timedelta(hours=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchQuery:
    """One typical look-up, as a user would type it in chat, with its optional filters."""

    text: str
    since_days: int | None = None
    source: str | None = None

    @property
    def label(self) -> str:
        extra = f" since={self.since_days}d" if self.since_days else ""
        extra += f" source={self.source!r}" if self.source else ""
        return self.text + extra


QUERIES: tuple[SearchQuery, ...] = (
    SearchQuery(text="Lavrov"),
    SearchQuery(text="ceasefire"),
    SearchQuery(text="peace talks"),
    SearchQuery(text="Путин"),
    SearchQuery(text="переговоры"),
    SearchQuery(text="sanctions relief"),
    SearchQuery(text="Geneva"),
    SearchQuery(text="Witkoff Kremlin"),
    SearchQuery(text="prisoner exchange"),
    SearchQuery(text="negotiat*"),
    SearchQuery(text="nuclear inspections"),
    SearchQuery(text="Erdogan Istanbul"),
    SearchQuery(text="Зеленский"),
    SearchQuery(text="summit", since_days=7),
    SearchQuery(text="Qatar mediation"),
    SearchQuery(text="Macron", source="Outlet 7"),
    SearchQuery(text="electricity prices"),
    SearchQuery(text="Security Council"),
    SearchQuery(text="Trump Putin phone call"),
    SearchQuery(text="tram network", since_days=30),
)


def feed_items(feed: int, per_feed: int, *, seed: int) -> list[Item]:
    """``per_feed`` items of one generated feed, published evenly over SPREAD before NOW, newest last.

    Summaries are a lead paragraph (as most feed descriptions are), so loading a million stays quick.
    """
    language: Language = "ru" if feed % 5 == 4 else "en"
    items = []
    for number in range(per_feed):
        rng = random.Random(seed * 1_000_003 + feed * 100_003 + number)
        draw = rng.random()
        kind: ArticleKind = "diplomatic" if draw < 0.2 else "homonym" if draw < 0.21 else "everyday"
        article = write_article(rng, kind=kind, language=language, paragraphs=1)
        published = NOW - SPREAD * (1 - (number + 1) / per_feed) - timedelta(minutes=feed % 60)
        items.append(
            article_item(
                article,
                url=f"https://www.outlet{feed}.example/news/{number}",
                source=f"Outlet {feed}",
                published=published,
            )
        )
    return items


async def load(db: Database, *, total: int, seed: int) -> float:
    """Store ``total`` generated items; the wall seconds it took.

    The next batch is generated in a worker thread while the current one is stored (SQLite releases the GIL
    while it works), so generation mostly hides behind storage.
    """
    feeds = FeedRepository(db)
    repo = ItemRepository(db)
    per_feed = total // FEEDS
    sources = [
        FeedSource(url=f"https://www.outlet{i}.example/rss", name=f"Outlet {i}", interval_s=900)
        for i in range(FEEDS)
    ]
    stored = await feeds.sync_configured(sources, NOW)
    feed_ids = [f.id for f in stored]
    feeds_per_transaction = max(1, ITEMS_PER_TRANSACTION // per_feed)

    def generate(first: int) -> list[tuple[int, list[Item]]]:
        last = min(FEEDS, first + feeds_per_transaction)
        return [(feed_ids[i], feed_items(i, per_feed, seed=seed)) for i in range(first, last)]

    started = time.perf_counter()
    starts = list(range(0, FEEDS, feeds_per_transaction))
    pending = asyncio.create_task(asyncio.to_thread(generate, starts[0]))
    for number, first in enumerate(starts):
        batch = await pending
        if number + 1 < len(starts):
            pending = asyncio.create_task(asyncio.to_thread(generate, starts[number + 1]))
        async with db.transaction():
            for feed_id, items in batch:
                await repo.add_items(feed_id, items, fetched_at=NOW)
        if number % 10 == 9:
            progress(f"search: stored {(first + len(batch)) * per_feed:,} of {total:,}")
    return time.perf_counter() - started


async def _measure(*, total: int, seed: int, repeats: int) -> Section:
    with tempfile.TemporaryDirectory(prefix="diplowatch-search-") as tmp:
        db = await open_database(Path(tmp) / "search.db")
        try:
            load_s = await load(db, total=total, seed=seed)
            await db.execute("PRAGMA optimize")
            repo = ItemRepository(db)
            for query in QUERIES:  # warm-up: page cache and statement cache
                await _search(repo, query)
            timings: dict[str, list[float]] = {q.label: [] for q in QUERIES}
            hits: dict[str, int] = {}
            for _ in range(repeats):
                for query in QUERIES:
                    started = time.perf_counter()
                    found = await _search(repo, query)
                    timings[query.label].append(time.perf_counter() - started)
                    hits[query.label] = found
            size_mb = await asyncio.to_thread(lambda: Path(db.path).stat().st_size / 1e6)
        finally:
            await db.close()
    every = [t for values in timings.values() for t in values]
    p50, p95 = percentile(every, 0.5), percentile(every, 0.95)
    params = (("items", total), ("queries", len(QUERIES)), ("repeats", repeats))
    slowest = sorted(timings.items(), key=lambda kv: -max(kv[1]))[:3]
    slow_text = "; ".join(f"{label!r} {max(v) * 1000:.1f} ms ({hits[label]} hits)" for label, v in slowest)
    figures = (
        Figure(
            bench="search", name="p50", value=None if p50 is None else p50 * 1000, unit="ms", params=params
        ),
        Figure(
            bench="search",
            name="p95",
            value=None if p95 is None else p95 * 1000,
            unit="ms",
            params=params,
            target=at_most(50, "<= 50 ms") if total >= 1_000_000 else None,
        ),
        Figure(
            bench="search",
            name="bulk load",
            value=total / load_s,
            unit="items/s",
            params=(("items", total),),
            note=f"add_items in transactions of {ITEMS_PER_TRANSACTION:,} items while the next batch is "
            f"generated in a thread (not part of the search figures); database {size_mb:,.0f} MB",
        ),
    )
    return Section(
        title="search: storage.items.ItemRepository.search (FTS5, bm25 + recency)",
        figures=figures,
        notes=(
            f"Slowest queries: {slow_text}.",
            "Queries: " + ", ".join(repr(q.label) for q in QUERIES) + " (limit 10, after one warm-up pass).",
            "No matches are stored, so no query filters by actor/topic; items published over 90 days.",
        ),
    )


async def _search(repo: ItemRepository, query: SearchQuery) -> int:
    since = NOW - timedelta(days=query.since_days) if query.since_days else None
    return len(await repo.search(query.text, limit=10, since=since, source=query.source))


def run(*, quick: bool, seed: int) -> Section:
    """The search benchmark."""
    total = 100_000 if quick else 1_000_000
    return asyncio.run(_measure(total=total, seed=seed, repeats=3 if quick else 5))
