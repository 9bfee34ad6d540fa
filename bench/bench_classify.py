"""classify: items/s of feeds.classify.match_watchlist and the automaton build time, by watchlist size.

The corpus is generated feeds parsed by feeds.parse (so the text is what the poller classifies); a fifth of
the items also name invented officials of the synthetic watchlists, whose first actors are the same at
every size, so every size finds the same hits in the same text.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bench.corpus import alias_count, reference_watchlist, synthetic_watchlist
from bench.feedserver import EPOCH, FeedCatalog
from bench.report import Figure, Section, at_least, at_most, progress
from feeds.classify import CompiledWatchlist, compile_watchlist, match_watchlist
from feeds.models import Item, Watchlist
from feeds.parse import parse_feed

SIZES = (100, 1_000, 10_000, 50_000)
SHARED_WATCHLIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "eval" / "watchlist.toml"


def corpus(*, feeds: int, seed: int, mentionable: Sequence[str]) -> list[Item]:
    """Items parsed from ``feeds`` generated feeds; every fifth also names one of ``mentionable``."""
    catalog = FeedCatalog(feeds=feeds, items_per_feed=50, seed=seed)
    items: list[Item] = []
    for index in range(feeds):
        parsed = parse_feed(
            catalog.document(index).body,
            feed_url=f"http://127.0.0.1/feeds/{index}.xml",
            source=catalog.profile(index).title,
            fetched_at=EPOCH + timedelta(minutes=10),
            content_type="application/rss+xml; charset=utf-8",
        )
        items.extend(parsed.items)
    for number in range(0, len(items), 5):
        name = mentionable[(number // 5) % len(mentionable)]
        other = mentionable[(number // 5 + 3) % len(mentionable)]
        item = items[number]
        items[number] = dataclasses.replace(
            item, summary=f"{item.summary}\n{name} met {other} on Tuesday, officials said."
        )
    return items


def pass_seconds(items: Sequence[Item], compiled: CompiledWatchlist) -> float:
    """Seconds to classify every item once."""
    started = time.perf_counter()
    for item in items:
        match_watchlist(item, compiled)
    return time.perf_counter() - started


def build_seconds(watchlist: Watchlist) -> tuple[float, CompiledWatchlist]:
    """Time one compile_watchlist; the time and the compiled watchlist."""
    started = time.perf_counter()
    compiled = compile_watchlist(watchlist)
    return time.perf_counter() - started, compiled


def run(*, quick: bool, seed: int) -> Section:
    """The classify benchmark."""
    passes = 5 if quick else 11
    synthetic = {size: synthetic_watchlist(size, seed=seed) for size in SIZES}
    progress("classify: parsing the corpus")
    items = corpus(feeds=20 if quick else 80, seed=seed, mentionable=synthetic[SIZES[0]].mentionable)
    chars = sum(len(i.title) + len(i.summary) for i in items) / len(items)
    figures: list[Figure] = []
    watchlists: list[tuple[str, Watchlist]] = [("reference-like (bench)", reference_watchlist())]
    if SHARED_WATCHLIST.exists():
        from feeds.watchlist_file import load_watchlist

        watchlists.append(("shared/eval/watchlist.toml", load_watchlist(SHARED_WATCHLIST)))
    watchlists += [(f"synthetic {size:,}", synthetic[size].watchlist) for size in SIZES]
    compiled: dict[str, CompiledWatchlist] = {}
    build_ms: dict[str, float] = {}
    matched: dict[str, int] = {}
    for label, watchlist in watchlists:
        progress(f"classify: compiling {label}")
        build_s, compiled[label] = build_seconds(watchlist)
        build_ms[label] = build_s * 1000
        matched[label] = sum(1 for item in items if not match_watchlist(item, compiled[label]).is_empty)
    # Passes interleaved across watchlists, median taken: other load on the machine hits every size alike.
    progress(f"classify: {passes} passes over {len(items):,} items per watchlist")
    seconds: dict[str, list[float]] = {label: [] for label, _ in watchlists}
    for _ in range(passes):
        for label, _watchlist in watchlists:
            seconds[label].append(pass_seconds(items, compiled[label]))
    rates = {label: len(items) / statistics.median(values) for label, values in seconds.items()}
    for label, watchlist in watchlists:
        rate = rates[label]
        aliases = alias_count(watchlist)
        params = (("watchlist", label), ("aliases", aliases))
        target = at_least(30_000, ">= 30,000 items/s") if aliases == 10_000 else None
        figures.append(
            Figure(
                bench="classify",
                name="match_watchlist",
                value=rate,
                unit="items/s",
                params=params,
                target=target,
                note=f"{matched[label]} of {len(items)} items matched something",
            )
        )
        figures.append(
            Figure(
                bench="classify", name="compile_watchlist", value=build_ms[label], unit="ms", params=params
            )
        )
    smallest, largest = f"synthetic {SIZES[0]:,}", f"synthetic {SIZES[-1]:,}"
    figures.append(
        Figure(
            bench="classify",
            name="slowdown",
            value=rates[smallest] / rates[largest],
            unit="x",
            params=(("compare", f"{SIZES[0]:,} vs {SIZES[-1]:,} aliases"),),
            target=at_most(1.5, "<= 1.5x"),
        )
    )
    return Section(
        title="classify: feeds.classify (compile_watchlist, match_watchlist)",
        figures=tuple(figures),
        notes=(
            f"{len(items):,} items parsed from generated feeds (mean {chars:,.0f} chars of title + summary; "
            "80% English, 20% Russian), one in five also naming synthetic officials.",
            "Synthetic watchlists: invented officials with 4 aliases each (Latin full name, surname, "
            "Cyrillic full name, Cyrillic surname*), some exact-case acronyms and not_near guards, plus "
            "topics (10% of phrases).",
            "items/s: median of interleaved passes over the corpus (single-threaded, after a warm-up pass "
            "that also counts the matches).",
        ),
    )
