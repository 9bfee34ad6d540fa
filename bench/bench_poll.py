"""poll: the real diplowatch poll path over N generated feeds, three rounds (all new, all 304, 10 % changed).

Fetch → parse → normalise → classify → stories → SQLite through ``bot.poller.Poller``, as
``bot.service.open_service`` builds it. The feed server runs in its own process and so does each client,
so the server's CPU is never charged to the client and each client's peak RSS is its own.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from pathlib import Path

from bench.corpus import reference_watchlist
from bench.feedserver import CONTENT_TYPE, EPOCH, FeedCatalog, FeedServerProcess
from bench.report import Figure, ParamValue, Section, percentile, progress
from bench.rounds import (
    CHANGED_FRACTION,
    FEED_INTERVAL_S,
    FETCH_CONCURRENCY,
    ITEMS_PER_FEED,
    PollRun,
    PollSpec,
    RoundName,
    RoundResult,
    cpu_seconds,
    peak_rss_mb,
    round_figures,
    run_isolated,
)
from bot.parse_pool import ParsePool
from bot.poller import STORY_WINDOW, FeedPollResult, Poller, PollRound
from bot.service import freeze_startup_objects, parse_executor, parse_worker_count, tune_main_process
from feeds.classify import compile_watchlist, match_watchlist
from feeds.fetch import Fetcher, FetchPolicy, FetchResult
from feeds.models import FeedSource, FeedState, Item, Match
from feeds.parse import parse_feed
from feeds.parse_worker import prepare_parse_worker
from feeds.stories import StoryIndex, fingerprint_item, new_story_key
from storage.db import Database, open_database

# ---------------------------------------------------------------------------------------------------------
# The diplowatch client (runs in its own process)
# ---------------------------------------------------------------------------------------------------------


class SteppedClock:
    """The poller's clock: fixed within a round, moved forward between rounds so every feed is due."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class TimedFetcher(Fetcher):
    """A Fetcher that notes when each response body has been received (for the commit latency)."""

    received_at: dict[str, float]

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__(policy)
        self.received_at = {}

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        result = await super().fetch(url, etag=etag, last_modified=last_modified)
        self.received_at[url] = time.perf_counter()
        return result


class TimedPoller(Poller):
    """A Poller that records, per feed with new items, the time from response received to commit."""

    latencies_s: list[float]

    def __init__(
        self,
        *,
        db: Database,
        fetcher: TimedFetcher,
        clock: Callable[[], datetime],
        rng: random.Random,
        executor: Executor | None,
    ) -> None:
        super().__init__(
            db=db, fetcher=fetcher, clock=clock, rng=rng, executor=executor, max_in_flight=FETCH_CONCURRENCY
        )
        self._timed_fetcher = fetcher
        self.latencies_s = []

    async def poll_feed(self, feed: FeedState) -> FeedPollResult:
        result = await super().poll_feed(feed)
        # poll_feed returns right after the feed's transaction commits.
        received = self._timed_fetcher.received_at.pop(feed.url, None)
        if received is not None and result.new_items:
            self.latencies_s.append(time.perf_counter() - received)
        return result


def _worker_pids(executor: Executor | None) -> list[int]:
    # The parse workers' CPU and memory belong to the client's figures.
    return executor.pids if isinstance(executor, ParsePool) else []


def _round_clock(name: RoundName) -> datetime:
    return (
        EPOCH
        + {"first": timedelta(minutes=10), "unchanged": timedelta(hours=1), "changed": timedelta(hours=2)}[
            name
        ]
    )


def poll_with_diplowatch(spec: PollSpec) -> PollRun:
    """Three rounds through bot.poller.Poller against ``spec.control``; runs in the calling process."""
    return asyncio.run(_diplowatch_rounds(spec))


async def _diplowatch_rounds(spec: PollSpec) -> PollRun:
    control = spec.control
    setup_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="diplowatch-bench-") as tmp:
        db = await open_database(Path(tmp) / "poll.db")
        clock = SteppedClock(_round_clock("first"))
        # Every generated feed lives on 127.0.0.1, where production feeds are spread over many hosts:
        # per_host is raised to the global limit so that one host does not stand for all of them.
        policy = FetchPolicy(
            allow_private_networks=True, concurrency=FETCH_CONCURRENCY, per_host=FETCH_CONCURRENCY
        )
        fetcher = TimedFetcher(policy)
        # The production set-up: parse, classify and fingerprint in a process per CPU but one (bot.service).
        executor = parse_executor(0)
        tune_main_process()  # as open_service does
        poller = TimedPoller(
            db=db, fetcher=fetcher, clock=clock, rng=random.Random(spec.seed), executor=executor
        )
        try:
            sources = [
                FeedSource(url=url, name=f"Outlet {i}", interval_s=FEED_INTERVAL_S)
                for i, url in enumerate(spec.urls)
            ]
            async with db.transaction():
                await poller.feeds.sync_configured(sources, clock())
                await poller.watchlists.replace(reference_watchlist())
            await poller.classifier.refresh(poller.watchlists)
            await poller.start_workers(parse_worker_count(0))  # as bot.service.open_service does
            freeze_startup_objects()  # as open_service does once started
            setup_s = time.perf_counter() - setup_started
            rounds = []
            for name in spec.rounds:
                if name == "changed":
                    control.advance(CHANGED_FRACTION)
                clock.now = _round_clock(name)
                poller.latencies_s = []
                server_before = control.counters().cpu_s
                workers = _worker_pids(executor)
                worker_before = cpu_seconds(workers, own=False)
                cpu_before, started = cpu_seconds(workers), time.perf_counter()
                # Streamed as bot.service does: each result is tallied and dropped, not kept for the round.
                tally = PollRound()
                await poller.stream_due(tally.count, limit=len(sources))
                wall = time.perf_counter() - started
                workers = _worker_pids(executor)
                cpu = cpu_seconds(workers) - cpu_before
                worker_cpu = cpu_seconds(workers, own=False) - worker_before
                server_cpu = control.counters().cpu_s - server_before
                p50 = percentile(poller.latencies_s, 0.5)
                p95 = percentile(poller.latencies_s, 0.95)
                errors = [r.error for r in tally.failures if r.error]
                rounds.append(
                    RoundResult(
                        round=name,
                        feeds=tally.feeds,
                        wall_s=wall,
                        cpu_s=cpu,
                        new_items=tally.new_items,
                        fetched=tally.feeds - tally.unchanged - len(tally.failures),
                        not_modified=tally.unchanged,
                        failed=len(tally.failures),
                        peak_rss_mb=peak_rss_mb(workers),
                        worker_peak_rss_mb=peak_rss_mb(workers, own=False),
                        server_cpu_s=server_cpu,
                        worker_cpu_s=worker_cpu,
                        latency_p50_ms=None if p50 is None else p50 * 1000,
                        latency_p95_ms=None if p95 is None else p95 * 1000,
                        first_error=errors[0] if errors else None,
                    )
                )
        finally:
            await fetcher.close()
            await db.close()
            if executor is not None:
                executor.shutdown()
    return PollRun(
        client="diplowatch",
        feeds=len(spec.urls),
        items_per_feed=spec.items_per_feed,
        setup_s=setup_s,
        rounds=tuple(rounds),
    )


# ---------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------


def poll_once(feeds: int, *, seed: int) -> PollRun:
    """Start a server of ``feeds`` feeds in one process, poll it three rounds from another."""
    progress(f"poll: generating {feeds:,} feeds x {ITEMS_PER_FEED} items in the server process")
    with FeedServerProcess(feeds=feeds, items_per_feed=ITEMS_PER_FEED, seed=seed) as control:
        progress(f"poll: diplowatch polling {feeds:,} feeds (3 rounds)")
        return run_isolated(
            poll_with_diplowatch, PollSpec(control=control, items_per_feed=ITEMS_PER_FEED, seed=seed)
        )


def _tracked_items(catalog: FeedCatalog, indexes: range, now: datetime) -> list[tuple[Item, Match]]:
    """The items of these generated feeds that name something tracked, with their matches."""
    compiled = compile_watchlist(reference_watchlist())
    tracked = []
    for index in indexes:
        parsed = parse_feed(
            catalog.document(index).body,
            feed_url=f"http://127.0.0.1/feeds/{index}.xml",
            source=f"Outlet {index}",
            fetched_at=now,
            content_type=CONTENT_TYPE,
        )
        for item in parsed.items:
            match = match_watchlist(item, compiled)
            if not match.is_empty:
                tracked.append((item, match))
    return tracked


def stage_costs(
    *, feeds: int, seed: int, first_round: RoundResult | None, window_feeds: int = 0
) -> list[Figure]:
    """Single-threaded µs per item of each CPU stage of the poll path, on ``feeds`` generated feeds; with a
    first round given, what its CPU per new item leaves for storage, fetching and the event loop.

    Story look-ups are timed with the index already holding the tracked items of the round's other feeds
    (up to ``window_feeds``), as they are late in a first round: their cost grows with the window.
    """
    catalog = FeedCatalog(feeds=max(feeds, window_feeds), items_per_feed=ITEMS_PER_FEED, seed=seed)
    bodies = [catalog.document(i).body for i in range(feeds)]
    now = _round_clock("first")
    prepare_parse_worker()  # the parsers are imported on first use: not part of any item's cost
    started = time.perf_counter()
    items: list[Item] = []
    for index, body in enumerate(bodies):
        parsed = parse_feed(
            body,
            feed_url=f"http://127.0.0.1/feeds/{index}.xml",
            source=f"Outlet {index}",
            fetched_at=now,
            content_type=CONTENT_TYPE,
        )
        items.extend(parsed.items)
    parse_s = time.perf_counter() - started
    compiled = compile_watchlist(reference_watchlist())
    started = time.perf_counter()
    matches = [match_watchlist(item, compiled) for item in items]
    classify_s = time.perf_counter() - started
    # Like bot.poller, only items that name something tracked are fingerprinted and grouped into stories.
    tracked = [(item, match) for item, match in zip(items, matches, strict=True) if not match.is_empty]
    started = time.perf_counter()
    fingerprints = [fingerprint_item(item, match) for item, match in tracked]
    fingerprint_s = time.perf_counter() - started
    index_ = StoryIndex(window=STORY_WINDOW)
    for item, match in _tracked_items(catalog, range(feeds, window_feeds), now):
        fp = fingerprint_item(item, match)
        index_.add(index_.find(fp) or new_story_key(item), fp)
    window_entries = len(index_)
    started = time.perf_counter()
    for (item, _match), fp in zip(tracked, fingerprints, strict=True):
        index_.add(index_.find(fp) or new_story_key(item), fp)
    stories_s = time.perf_counter() - started
    per_item = {
        "parse_feed (incl. normalise)": parse_s,
        "match_watchlist": classify_s,
        "fingerprint_item": fingerprint_s,
        "StoryIndex.find + add": stories_s,
    }
    params: tuple[tuple[str, ParamValue], ...] = (("items", len(items)),)
    figures = [
        Figure(
            bench="poll",
            name=f"stage: {name}",
            value=seconds / len(items) * 1e6,
            unit="µs/item",
            params=params,
            note=f"{len(tracked)} look-ups with {window_entries:,} entries in the index first"
            if name.startswith("StoryIndex")
            else "",
        )
        for name, seconds in per_item.items()
    ]
    if first_round is not None and first_round.new_items:
        rest = first_round.cpu_s / first_round.new_items - sum(per_item.values()) / len(items)
        figures.append(
            Figure(
                bench="poll",
                name="stage: everything else",
                value=rest * 1e6,
                unit="µs/item",
                params=(("feeds", first_round.feeds),),
                note="1st-round client CPU per new item minus the stages above: storage statements, "
                "aiosqlite thread hops, fetching, the event loop",
            )
        )
    budget = 60 / (10_000 * ITEMS_PER_FEED) * 1e6
    figures.append(
        Figure(
            bench="poll",
            name="stage budget at target",
            value=budget,
            unit="µs/item",
            note="10,000 feeds/min x 50 items on the one core the GIL allows",
        )
    )
    return figures


def run(*, quick: bool, seed: int, runs: dict[int, PollRun]) -> Section:
    """The poll benchmark; each size's run is also left in ``runs`` for the peer comparison."""
    sizes = (200,) if quick else (1000, 10_000)
    figures: list[Figure] = []
    for feeds in sizes:
        result = poll_once(feeds, seed=seed)
        runs[feeds] = result
        summary = ", ".join(f"{r.round} {r.feeds_per_min:,.0f} feeds/min" for r in result.rounds)
        progress(f"poll: {feeds:,} feeds: {summary}; peak RSS {result.rounds[-1].peak_rss_mb:,.0f} MB")
        figures += round_figures("poll", result, targets=True)
    progress("poll: timing each stage on its own")
    figures += stage_costs(
        feeds=20, seed=seed, first_round=runs[sizes[0]].round("first"), window_feeds=sizes[0]
    )
    return Section(
        title="poll: bot.poller.Poller (fetch → parse → normalise → classify → stories → SQLite)",
        figures=tuple(figures),
        notes=(
            f"{ITEMS_PER_FEED} items per feed (~140 KB RSS 2.0 each), reference-like watchlist "
            "(26 actors, 6 topics); round 3 adds 5 items to 10% of the feeds.",
            "The feed server runs in a separate process (multiprocessing, spawn) and each client in another, "
            "so the server's CPU is not counted and peak RSS is the client's own.",
            f"fetch.concurrency={FETCH_CONCURRENCY} (config default); per_host raised to the same value "
            "because all generated feeds share 127.0.0.1; allow_private_networks=true. Keep-alive "
            "connections to the one host are reused, which real feeds on many hosts would not allow.",
            "received→committed: from the moment a feed's response body is read to the commit of its items "
            "(measured by subclassing Fetcher and Poller in bench/, production code unchanged); includes "
            "queueing for the parse worker and the write lock.",
            "stage: each CPU stage timed alone, single-threaded, on 20 feeds (1,000 items; fingerprints and "
            "story look-ups only for the items that match something, as bot.poller does; the story index "
            "first holds the tracked items of the round's other feeds), in µs per parsed item — where a "
            "first round's time goes.",
            "2 CPU cores shared with other work: figures are noisy, compare within one run.",
        ),
    )
