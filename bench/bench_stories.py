"""stories: near-duplicate look-ups in feeds.stories.StoryIndex with many items already in the window.

The stored items are the initial items of generated feeds (wire stories syndicated across about four feeds
each, published over the two days before the epoch); the look-ups are the next items those feeds
publish, so some are new copies of stored wire stories and the rest are new events.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from bench.corpus import article_item, reference_watchlist
from bench.feedserver import FeedCatalog
from bench.report import Figure, Section, progress
from feeds.classify import CompiledWatchlist, compile_watchlist, match_watchlist
from feeds.models import Item, Match
from feeds.stories import StoryFingerprint, StoryIndex, fingerprint_item, new_story_key

ITEMS_PER_FEED = 50
WINDOW = timedelta(hours=72)
LOOKUP_ROUNDS = 10  # next items per feed to draw look-ups from


def catalog_item(catalog: FeedCatalog, index: int, number: int) -> tuple[Item, str | None]:
    """A feed's item ``number`` as a normalised Item, and its wire story id if it is a syndicated copy."""
    article, wire = catalog.article(index, number)
    profile = catalog.profile(index)
    url = f"https://{profile.host}/news/{number}"
    item = article_item(article, url=url, source=profile.title, published=catalog.published_at(index, number))
    return item, wire


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackedItem:
    """A generated item that matches the watchlist, the feed it came from and its wire story, if any."""

    feed: int
    item: Item
    match: Match
    wire: str | None


def tracked_items(
    catalog: FeedCatalog, compiled: CompiledWatchlist, positions: Iterable[tuple[int, int]], count: int
) -> list[TrackedItem]:
    """The first ``count`` of the catalog's items at ``positions`` (feed, number) that match the watchlist."""
    found: list[TrackedItem] = []
    for index, number in positions:
        article, wire = catalog.article(index, number)
        if article.kind == "everyday":
            continue  # names nothing tracked by construction (the classify benchmark shows the same share)
        item, wire = catalog_item(catalog, index, number)
        match = match_watchlist(item, compiled)
        if not match.is_empty:
            found.append(TrackedItem(feed=index, item=item, match=match, wire=wire))
            if len(found) == count:
                break
    return found


def run(*, quick: bool, seed: int) -> Section:
    """The stories benchmark."""
    stored_target = 10_000 if quick else 100_000
    # About a fifth of the items name something tracked; only those enter the index, as in bot.poller.
    feeds = stored_target * 6 // ITEMS_PER_FEED
    catalog = FeedCatalog(feeds=feeds, items_per_feed=ITEMS_PER_FEED, seed=seed)
    compiled = compile_watchlist(reference_watchlist())
    progress(f"stories: generating and classifying items until {stored_target:,} match the watchlist")
    positions = ((index, number) for index in range(feeds) for number in range(ITEMS_PER_FEED))
    stored = tracked_items(catalog, compiled, positions, stored_target)

    progress("stories: fingerprinting")
    started = time.perf_counter()
    fingerprints: list[StoryFingerprint] = [fingerprint_item(t.item, t.match) for t in stored]
    fingerprint_s = time.perf_counter() - started

    index_ = StoryIndex(window=WINDOW)
    started = time.perf_counter()
    for tracked, fp in zip(stored, fingerprints, strict=True):
        index_.add(new_story_key(tracked.item), fp)
    add_s = time.perf_counter() - started
    stored_wires = {t.wire for t in stored if t.wire is not None}

    lookup_count = 400 if quick else 1_000
    # The next items of evenly spread feeds among those that filled the index.
    filled = stored[-1].feed + 1
    step = max(1, filled // lookup_count)
    later = (
        (index, number)
        for number in range(ITEMS_PER_FEED, ITEMS_PER_FEED + LOOKUP_ROUNDS)
        for index in range(0, filled, step)
    )
    lookups = [
        (fingerprint_item(t.item, t.match), t.wire)
        for t in tracked_items(catalog, compiled, later, lookup_count)
    ]

    progress(f"stories: {len(lookups):,} look-ups against {len(index_):,} stored")
    started = time.perf_counter()
    found = [index_.find(fp) for fp, _wire in lookups]
    find_s = time.perf_counter() - started
    copies = [key for key, (_fp, wire) in zip(found, lookups, strict=True) if wire in stored_wires]
    fresh = [key for key, (_fp, wire) in zip(found, lookups, strict=True) if wire not in stored_wires]
    copies_found = sum(1 for key in copies if key is not None)
    fresh_joined = sum(1 for key in fresh if key is not None)

    params = (("stored", len(index_)),)
    figures = (
        Figure(
            bench="stories",
            name="find",
            value=len(lookups) / find_s,
            unit="look-ups/s",
            params=params,
            note=f"{len(lookups):,} look-ups; copies of stored wire stories found: "
            f"{copies_found}/{len(copies)}; new items joined to some story: {fresh_joined}/{len(fresh)}",
        ),
        Figure(
            bench="stories",
            name="find mean",
            value=find_s / len(lookups) * 1e6,
            unit="µs/look-up",
            params=params,
        ),
        Figure(bench="stories", name="add", value=len(index_) / add_s, unit="items/s", params=params),
        Figure(
            bench="stories",
            name="fingerprint_item",
            value=len(fingerprints) / fingerprint_s,
            unit="items/s",
            params=(("items", len(fingerprints)),),
        ),
    )
    return Section(
        title="stories: feeds.stories (StoryIndex.find with a full window)",
        figures=figures,
        notes=(
            f"{len(index_):,} stored items (only items that match the watchlist, as bot.poller indexes) "
            f"from {filled:,} generated feeds published over ~2 days (72 h window); {len(stored_wires):,} "
            "wire stories syndicated across several feeds; each stored item is its own story (added without "
            "look-ups).",
            f"Look-ups are later matching items of evenly spaced feeds: {len(copies)} of {len(lookups)} are "
            "copies of stored wire stories, the rest new events.",
            "Single-threaded. The found/joined counts are a sanity check, not a quality measure: the "
            "generator's templates repeat actors and phrases, so unrelated generated items often share "
            "evidence.",
        ),
    )
