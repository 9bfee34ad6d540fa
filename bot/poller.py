"""The poll path: fetch due feeds, parse and classify off the event loop, dedup, group into stories, store."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from bot.parse_pool import ParsePool
from feeds.classify import compile_watchlist
from feeds.errors import FetchError, ParseError, StorageError
from feeds.fetch import Fetcher, next_poll_after
from feeds.models import FeedState, Match, StoredItem, Watchlist
from feeds.parse_worker import Classified, WatchlistSnapshot, compile_in_worker, parse_and_classify
from feeds.stories import StoryIndex, decode_fingerprint, new_story_key
from storage.db import Database
from storage.feeds import FeedRepository, FetchSuccess
from storage.items import ItemBatch, ItemRepository
from storage.matches import MatchRepository
from storage.stories import Membership, StoryRepository
from storage.watchlists import WatchlistRepository

log = logging.getLogger(__name__)

PollStatus = Literal["new", "unchanged", "failed"]
STORY_WINDOW = timedelta(hours=72)
# A group commit takes queued feeds until it holds this many items: big enough to spread the cost of a
# transaction, small enough that the first feed of a group is not kept waiting long.
_ITEMS_PER_GROUP = 2_000
# While other feeds are still being parsed, the writer waits up to this long (seconds) for them to fill
# its group. The writer outpaces parsing: without waiting, a 1,000-feed first poll committed ~145 groups
# of ~7 feeds. Each transaction rewrites the index pages it touches and adds a full-text segment: storing
# cost ~75 µs of CPU per item in groups of 7 feeds, ~68 in groups of 25, ~64 in groups of 40. Feeds still
# being fetched are not waited for: in a round of mostly unchanged feeds, that kept each changed one
# waiting the whole time. A lone changed feed (nothing else being parsed) is never kept waiting.
_GROUP_WAIT_S = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class NewItem:
    """An item stored by this poll, with what it matched and the story it joined."""

    stored: StoredItem
    match: Match
    story_id: int | None  # None for items naming nothing tracked
    new_story: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedPollResult:
    """The outcome of polling one feed."""

    feed: FeedState
    status: PollStatus
    parsed: int = 0
    new_items: tuple[NewItem, ...] = ()
    error: str | None = None
    http_status: int | None = None

    def describe(self) -> str:
        """One progress line, e.g. ``TASS: 4 new / 0 unchanged`` or ``TASS: failed (HTTP 500)``."""
        if self.status == "failed":
            return f"{self.feed.name}: failed ({self.error})"
        if self.status == "unchanged":
            why = "304 not modified" if self.http_status == 304 else "no change"
            return f"{self.feed.name}: 0 new ({why})"
        dup = self.parsed - len(self.new_items)
        return f"{self.feed.name}: {len(self.new_items)} new, {dup} already stored"


ResultHandler = Callable[[FeedPollResult], None]


@dataclass(slots=True)
class PollRound:
    """A poll round's tally. The results themselves go to a handler as each feed commits and are not kept,
    so a round over thousands of feeds holds only the feeds in flight."""

    feeds: int = 0
    new_items: int = 0
    unchanged: int = 0
    failures: list[FeedPollResult] = field(default_factory=list)

    def count(self, result: FeedPollResult) -> None:
        """Add one feed's result (a failed one is kept: it is small and worth reporting)."""
        self.feeds += 1
        self.new_items += len(result.new_items)
        if result.status == "unchanged":
            self.unchanged += 1
        elif result.status == "failed":
            self.failures.append(result)


@dataclass(frozen=True, slots=True, kw_only=True)
class _PendingStore:
    """A fetched and parsed feed waiting to be stored."""

    feed: FeedState
    classified: Sequence[Classified]
    # What storing needs of the response; not the body, which is dropped once parsed.
    etag: str | None
    last_modified: str | None
    http_status: int
    body_hash: str
    now: datetime


def _settle(future: asyncio.Future[list[NewItem]], outcome: list[NewItem] | Exception) -> None:
    """Give a queued feed its stored items or its error, unless whoever waited for it has gone."""
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class ClassifierState:
    """The compiled watchlist, rebuilt whenever the stored watchlist's version changes."""

    def __init__(self) -> None:
        self._version = -1
        self.watchlist = Watchlist()
        self.compiled = compile_watchlist(self.watchlist)
        self.snapshot = WatchlistSnapshot.of(self.watchlist, self._version)

    async def refresh(self, repo: WatchlistRepository) -> bool:
        """Rebuild the automaton if the stored watchlist changed; True when it did."""
        version = await repo.version()
        if version == self._version:
            return False
        self.watchlist = await repo.load()
        self.compiled = compile_watchlist(self.watchlist)
        self.snapshot = WatchlistSnapshot.of(self.watchlist, version)
        self._version = version
        log.info(
            "watchlist version %d: %d actors, %d topics",
            version,
            len(self.watchlist.actors),
            len(self.watchlist.topics),
        )
        return True


class Poller:
    """Polls feeds and writes each feed's results in one transaction."""

    def __init__(
        self,
        *,
        db: Database,
        fetcher: Fetcher,
        executor: Executor | None = None,
        executor_factory: Callable[[], Executor | None] | None = None,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        max_in_flight: int = 50,
    ) -> None:
        self._db = db
        self._fetcher = fetcher
        self._executor = executor
        # Builds a fresh pool when a worker dies (killed, out of memory): without one, parsing stays broken.
        self._executor_factory = executor_factory
        self._clock = clock
        self._rng = rng or random.Random()
        self.feeds = FeedRepository(db)
        self.items = ItemRepository(db)
        self.stories = StoryRepository(db)
        self.matches = MatchRepository(db)
        self.watchlists = WatchlistRepository(db)
        self.classifier = ClassifierState()
        self._index = StoryIndex(window=STORY_WINDOW)
        self._index_loaded = False
        # One aiosqlite connection: transactions must not interleave.
        self._write_lock = asyncio.Lock()
        # Parsed feeds waiting for the writer task, which stores them in groups (see _write_pending).
        self._pending: deque[tuple[_PendingStore, asyncio.Future[list[NewItem]]]] = deque()
        self._writer: asyncio.Task[None] | None = None
        # Feeds being parsed, and a signal for the writer when a parse ends or a feed queues.
        self._parsing = 0
        self._parsed = asyncio.Event()
        self._group_wait_s = _GROUP_WAIT_S
        # Feeds between fetch and commit: bounds the bodies and parsed items held in memory at once.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._max_in_flight = max_in_flight

    async def start_workers(self, count: int) -> None:
        """Wait until the ``count`` parse workers are up, with the watchlist compiled, before the first poll.

        ``bot.service.parse_executor`` has started them; one task per worker waits for them to be ready.
        """
        if not isinstance(self._executor, ParsePool):
            return
        loop = asyncio.get_running_loop()
        compile_ = partial(compile_in_worker, self.classifier.snapshot)
        await asyncio.gather(*(loop.run_in_executor(self._executor, compile_) for _ in range(count)))

    async def load_story_window(self, now: datetime) -> None:
        """Fill the in-memory story index from the items stored in the window."""
        self._index = StoryIndex(window=STORY_WINDOW)
        for candidate in await self.stories.candidates(now - STORY_WINDOW):
            if candidate.fingerprint:
                self._index.add(candidate.story_key, decode_fingerprint(candidate.fingerprint))
        self._index_loaded = True

    async def poll_due(self, *, limit: int = 10_000) -> list[FeedPollResult]:
        """Poll every feed that is due now, concurrently within the fetch limits."""
        return await self.poll_feeds(await self.feeds.due(self._clock(), limit=limit))

    async def poll_feeds(self, feeds: Sequence[FeedState]) -> list[FeedPollResult]:
        """Poll these feeds (paused ones skipped), concurrently within the fetch limits; results in order.

        Keeps every result: for rounds over many feeds, :meth:`stream_feeds` holds only those in flight.
        """
        by_feed: dict[int, FeedPollResult] = {}

        def keep(result: FeedPollResult) -> None:
            by_feed[result.feed.id] = result

        await self.stream_feeds(feeds, keep)
        return [by_feed[feed.id] for feed in feeds if feed.id in by_feed]

    async def stream_due(self, on_result: ResultHandler, *, limit: int = 10_000) -> None:
        """:meth:`stream_feeds` over the feeds due now."""
        await self.stream_feeds(await self.feeds.due(self._clock(), limit=limit), on_result)

    async def stream_feeds(self, feeds: Sequence[FeedState], on_result: ResultHandler) -> None:
        """Poll these feeds (paused ones skipped) and hand each result to ``on_result`` once committed.

        A fixed number of tasks take the feeds in turn, so memory stays flat with the number of feeds.
        """
        now = self._clock()
        # Watchlist edits from chat take effect before the next poll.
        await self.classifier.refresh(self.watchlists)
        if not self._index_loaded:
            await self.load_story_window(now)
        self._index.evict_before(now - STORY_WINDOW)
        active = [f for f in feeds if not f.paused]
        waiting = iter(active)

        async def take_turns() -> None:
            for feed in waiting:  # shared: each feed goes to exactly one task
                on_result(await self._poll_bounded(feed))

        await asyncio.gather(*(take_turns() for _ in range(min(self._max_in_flight, len(active)))))

    async def _poll_bounded(self, feed: FeedState) -> FeedPollResult:
        async with self._in_flight:
            return await self.poll_feed(feed)

    async def poll_feed(self, feed: FeedState) -> FeedPollResult:
        """Fetch, parse, classify and store one feed; a failure is recorded on the feed, never raised."""
        prepared = await self._fetch_and_parse(feed)
        if isinstance(prepared, FeedPollResult):
            return prepared
        try:
            new_items = await self._store(prepared)
        except StorageError as e:
            # Rolled back, feed state included: the next poll fetches the same items again, so nothing is
            # lost, and the other feeds of the round carry on (their alerts with them).
            log.error("feed %s: its items could not be stored: %s", feed.url, e)
            return FeedPollResult(
                feed=feed, status="failed", error=f"not stored: {e}", http_status=prepared.http_status
            )
        return FeedPollResult(
            feed=feed,
            status="new" if new_items else "unchanged",
            parsed=len(prepared.classified),
            new_items=tuple(new_items),
            http_status=prepared.http_status,
        )

    async def _fetch_and_parse(self, feed: FeedState) -> _PendingStore | FeedPollResult:
        """The feed parsed and classified, ready to store; or its result when there is nothing to store."""
        try:
            result = await self._fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        except FetchError as e:
            return await self._record_failure(feed, e)
        now = self._clock()
        if result.not_modified:
            async with self._write_lock, self._db.transaction():
                await self.feeds.record_not_modified(
                    feed.id, now=now, next_poll_at=next_poll_after(feed, None, now=now, rng=self._rng)
                )
            return FeedPollResult(feed=feed, status="unchanged", http_status=304)
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == feed.body_hash:
            # The server ignores validators but sent the same bytes: nothing to parse.
            async with self._write_lock, self._db.transaction():
                await self.feeds.record_success(
                    feed.id,
                    now=now,
                    etag=result.etag,
                    last_modified=result.last_modified,
                    body_hash=body_hash,
                    next_poll_at=next_poll_after(feed, None, now=now, rng=self._rng),
                )
            return FeedPollResult(feed=feed, status="unchanged", http_status=result.status)
        loop = asyncio.get_running_loop()
        executor = self._executor
        # A partial of a module-level function pickles, so a process pool can run it.
        job = partial(
            parse_and_classify,
            result.body,
            feed_url=result.final_url,
            source=feed.name,
            fetched_at=now,
            content_type=result.content_type,
            watchlist=self.classifier.snapshot,
        )
        etag, last_modified, http_status = result.etag, result.last_modified, result.status
        # Only the job holds the body now, and it is dropped once parsed: ~140 KB per feed would otherwise
        # wait with the parsed items for the writer, for every feed in flight.
        del result
        # Counted while parsing: a writer about to commit waits a moment for these feeds to join its group
        # (see _gather). No await comes between the count going down and the feed queueing for the writer.
        self._parsing += 1
        try:
            parsing = loop.run_in_executor(executor, job)
            # A parse pool has pickled the job (body included) to send it: the body is not needed twice.
            del job
            classified = await parsing
        except ParseError as e:
            return await self._record_failure(feed, FetchError(str(e)))
        except BrokenExecutor:
            self._replace_broken_executor(executor)
            stopped = "a parse worker stopped while parsing this feed; it is retried at the next poll"
            return await self._record_failure(feed, FetchError(stopped))
        except Exception as e:
            # A bug, not the feed's fault: this feed fails (and is retried with backoff), the round goes on.
            log.exception("feed %s: parsing and classifying failed unexpectedly", feed.url)
            return await self._record_failure(
                feed, FetchError(f"could not be parsed: internal error ({type(e).__name__}), see the log")
            )
        finally:
            self._parsing -= 1
            self._parsed.set()
        return _PendingStore(
            feed=feed,
            classified=classified,
            etag=etag,
            last_modified=last_modified,
            http_status=http_status,
            body_hash=body_hash,
            now=now,
        )

    @property
    def executor(self) -> Executor | None:
        """The pool parsing runs in now (None: the event loop's default thread pool)."""
        return self._executor

    def _replace_broken_executor(self, broken: Executor | None) -> None:
        # Every feed in flight sees the same broken pool: only the first replaces it.
        if broken is None or self._executor is not broken or self._executor_factory is None:
            return
        log.error("a parse worker process stopped unexpectedly; starting a new pool")
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._executor_factory()

    async def _store(self, pending: _PendingStore) -> list[NewItem]:
        """Store a parsed feed together with the others parsed meanwhile; its new items once committed."""
        future: asyncio.Future[list[NewItem]] = asyncio.get_running_loop().create_future()
        self._pending.append((pending, future))
        self._parsed.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        return await future

    async def _write_pending(self) -> None:
        # Group commit: while one transaction writes, the feeds parsed meanwhile queue for the next, so the
        # per-transaction and per-statement costs are paid per group of feeds, not per feed.
        taken: list[tuple[_PendingStore, asyncio.Future[list[NewItem]]]] = []
        try:
            while self._pending:
                await self._gather()
                async with self._write_lock:
                    # Taken only once the lock is ours: feeds queued while waiting for it join this group.
                    taken, items = [], 0
                    while self._pending and (not taken or items < _ITEMS_PER_GROUP):
                        taken.append(self._pending.popleft())
                        items += len(taken[-1][0].classified)
                    try:
                        stored = await self._store_group([p for p, _ in taken])
                    except Exception as e:
                        if len(taken) == 1:
                            _settle(taken[0][1], e)
                        else:
                            # The group rolled back: each feed on its own, so one bad feed fails alone.
                            for p, future in taken:
                                try:
                                    [alone] = await self._store_group([p])
                                except Exception as e_alone:
                                    _settle(future, e_alone)
                                else:
                                    _settle(future, alone)
                    else:
                        for (_, future), new_items in zip(taken, stored, strict=True):
                            _settle(future, new_items)
                taken = []
        finally:
            # Cancelled (shutdown): whoever awaits an unwritten feed hears so.
            for _, future in [*taken, *self._pending]:
                if not future.done():
                    future.cancel()
            self._pending.clear()

    async def _gather(self) -> None:
        """Wait (at most ``_GROUP_WAIT_S``) while the queued feeds fall short of a full group and others are
        still being parsed; a feed queued or a parse ending wakes the check."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._group_wait_s
        # Queued feeds still count against max_in_flight: holding more than half of them back would leave
        # too few fetched and parsed meanwhile, and the parse workers would run dry.
        while (
            sum(len(p.classified) for p, _ in self._pending) < _ITEMS_PER_GROUP
            and 2 * len(self._pending) < self._max_in_flight
            and self._parsing > 0
        ):
            left = deadline - loop.time()
            if left <= 0:
                return
            self._parsed.clear()
            try:
                await asyncio.wait_for(self._parsed.wait(), left)
            except TimeoutError:
                return

    async def _store_group(self, group: Sequence[_PendingStore]) -> list[list[NewItem]]:
        """Items, matches, stories and the feeds' new states of ``group``: one transaction."""
        seen_at = max(p.now for p in group)
        try:
            async with self._db.transaction():
                stored_per_feed = await self.items.add_batches(
                    [
                        ItemBatch(feed_id=p.feed.id, items=[c.item for c in p.classified], fetched_at=p.now)
                        for p in group
                    ]
                )
                # Story look-ups run in memory first; their writes then go in a few statements per group.
                placed: list[tuple[StoredItem, Classified, Membership]] = []
                classified_per_feed: list[list[tuple[StoredItem, Classified]]] = []
                for p, stored in zip(group, stored_per_feed, strict=True):
                    by_identity = {c.item.identity: c for c in p.classified}
                    pairs = [(s, by_identity[s.item.identity]) for s in stored]
                    classified_per_feed.append(pairs)
                    for s, c in pairs:
                        if c.fingerprint:
                            placed.append((s, c, self._place(s, c)))
                story_ids = await self.stories.add_members([m for _, _, m in placed], seen_at=seen_at)
                await self.matches.save_many([(s.id, c.match) for s, c, _ in placed])
                await self.feeds.record_successes(
                    [
                        FetchSuccess(
                            feed_id=p.feed.id,
                            now=p.now,
                            etag=p.etag,
                            last_modified=p.last_modified,
                            body_hash=p.body_hash,
                            next_poll_at=next_poll_after(p.feed, None, now=p.now, rng=self._rng),
                        )
                        for p in group
                    ]
                )
        except BaseException:
            # The transaction rolled back: the index must not keep what the database does not have.
            await self.load_story_window(seen_at)
            raise
        in_story = {s.id: m for s, _, m in placed}
        return [
            [
                # Names nothing tracked: stored and searchable, but no story to alert or digest.
                NewItem(stored=s, match=c.match, story_id=None, new_story=False)
                if (m := in_story.get(s.id)) is None
                else NewItem(stored=s, match=c.match, story_id=story_ids[m.story_key], new_story=m.new_story)
                for s, c in pairs
            ]
            for pairs in classified_per_feed
        ]

    def _place(self, stored: StoredItem, classified: Classified) -> Membership:
        """The story a stored item joins (a new one when the index finds none); added to the index."""
        fp = decode_fingerprint(classified.fingerprint)
        key = self._index.find(fp)
        if key is None:
            membership = Membership(
                item_id=stored.id,
                story_key=new_story_key(stored.item),
                fingerprint=classified.fingerprint,
                new_story=True,
                title=stored.item.title,
                score=classified.match.score,
            )
        else:
            membership = Membership(
                item_id=stored.id, story_key=key, fingerprint=classified.fingerprint, new_story=False
            )
        self._index.add(membership.story_key, fp, encoded=classified.fingerprint)
        return membership

    async def _record_failure(self, feed: FeedState, error: FetchError) -> FeedPollResult:
        now = self._clock()
        async with self._write_lock, self._db.transaction():
            await self.feeds.record_failure(
                feed.id,
                now=now,
                error=str(error),
                next_poll_at=next_poll_after(feed, error, now=now, rng=self._rng),
            )
        log.warning("feed %s failed: %s", feed.url, error)
        return FeedPollResult(feed=feed, status="failed", error=str(error), http_status=error.status)
