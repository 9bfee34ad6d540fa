"""The poll path against a real local feed server and a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import ParamSpec, TypeVar

import pytest

from bot.config import Config
from bot.parse_pool import ParsePool
from bot.poller import FeedPollResult, NewItem, Poller, _PendingStore
from bot.service import open_service
from feeds.models import Actor
from storage.db import open_database
from tests.bot.conftest import Clock, make_config
from tests.fakes.feed_server import FeedServer
from tests.fakes.rss import RssEntry, rss_document

PUBLISHED = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
P = ParamSpec("P")
T = TypeVar("T")


def entry(n: int, title: str, summary: str = "") -> RssEntry:
    return RssEntry(
        guid=f"item-{n}",
        title=title,
        summary=summary or title,
        link=f"https://news.example/{n}?utm_source=rss",
        published=PUBLISHED,
    )


async def test_first_round_stores_second_round_is_304(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin meets Witkoff"), entry(2, "Weather")]))
    config = make_config(tmp_path, {"Outlet A": feed_server.url("/a.xml")})
    async with await open_service(config, clock=clock) as service:
        first = await service.poller.poll_due()
        assert [(r.status, len(r.new_items)) for r in first] == [("new", 2)]
        stored = {n.stored.item.title: n for n in first[0].new_items}
        assert stored["Putin meets Witkoff"].match.actors == ("putin", "witkoff")
        assert stored["Putin meets Witkoff"].stored.item.url == "https://news.example/1"
        assert await service.poller.poll_due() == []  # nothing is due before the interval passes
        clock.advance(minutes=11)
        second = await service.poller.poll_due()
        assert [(r.status, r.http_status) for r in second] == [("unchanged", 304)]
    last = feed_server.requests_to("/a.xml")[-1]
    assert last.header("If-None-Match") is not None


async def test_server_ignoring_validators_is_not_parsed_again(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin speaks")]), validators=False)
    config = make_config(tmp_path, {"A": feed_server.url("/a.xml")})
    async with await open_service(config, clock=clock) as service:
        await service.poller.poll_due()
        clock.advance(minutes=11)
        [again] = await service.poller.poll_due()
        assert (again.status, again.http_status, again.parsed) == ("unchanged", 200, 0)


async def test_new_items_and_duplicates(tmp_path: Path, feed_server: FeedServer, clock: Clock) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "One")]))
    config = make_config(tmp_path, {"A": feed_server.url("/a.xml")})
    async with await open_service(config, clock=clock) as service:
        await service.poller.poll_due()
        feed_server.serve("/a.xml", rss_document("A", [entry(2, "Two"), entry(1, "One")]))
        clock.advance(minutes=11)
        [result] = await service.poller.poll_due()
        assert [n.stored.item.title for n in result.new_items] == ["Two"]
        assert result.describe() == "A: 1 new, 1 already stored"


@pytest.mark.parametrize("workers", [1, 2])  # parsed in this process, or in worker processes
async def test_one_failing_feed_does_not_stop_the_others(
    tmp_path: Path, feed_server: FeedServer, clock: Clock, workers: int
) -> None:
    feed_server.serve("/ok.xml", rss_document("OK", [entry(1, "Putin")]))
    feed_server.serve("/broken.xml", b"<html><body>not a feed</body></html>", content_type="text/html")
    feed_server.serve("/gone.xml", b"", status=500)
    config = make_config(
        tmp_path,
        {
            "OK": feed_server.url("/ok.xml"),
            "Broken": feed_server.url("/broken.xml"),
            "Gone": feed_server.url("/gone.xml"),
        },
    )
    config = replace(config, fetch=replace(config.fetch, workers=workers))
    async with await open_service(config, clock=clock) as service:
        assert (service.poller.executor is None) == (workers == 1)
        results = {r.feed.name: r for r in await service.poller.poll_due()}
        assert results["OK"].status == "new"
        assert results["Broken"].status == "failed" and "not an RSS/Atom feed" in (
            results["Broken"].error or ""
        )
        assert results["Gone"].status == "failed" and "HTTP 500" in (results["Gone"].error or "")
        states = {f.name: f for f in await service.poller.feeds.all()}
        assert states["Gone"].consecutive_failures == 1
        assert states["Gone"].next_poll_at is not None and states["Gone"].next_poll_at > clock.now
        assert states["OK"].consecutive_failures == 0


async def test_same_event_from_two_feeds_is_one_story(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve(
        "/a.xml", rss_document("A", [entry(1, "Putin and Witkoff hold five-hour Kremlin talks")])
    )
    feed_server.serve(
        "/b.xml",
        rss_document(
            "B",
            [
                RssEntry(
                    guid="b-1",
                    title="Путин и Уиткофф провели пятичасовые переговоры в Кремле",
                    summary="Путин и Уиткофф провели переговоры в Кремле, они длились пять часов.",
                    link="https://b.example/1",
                    published=PUBLISHED,
                )
            ],
        ),
    )
    config = make_config(tmp_path, {"A": feed_server.url("/a.xml"), "B": feed_server.url("/b.xml")})
    async with await open_service(config, clock=clock) as service:
        results = await service.poller.poll_due()
        story_ids = {n.story_id for r in results for n in r.new_items}
        assert len(story_ids) == 1
        [story_id] = story_ids
        assert story_id is not None
        story = await service.poller.stories.get(story_id)
        assert sorted(s.source for s in story.sources) == ["A", "B"]


async def test_watchlist_edit_takes_effect_before_next_poll(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Kallas visits Kyiv")]))
    config = make_config(tmp_path, {"A": feed_server.url("/a.xml")})
    async with await open_service(config, clock=clock) as service:
        [first] = await service.poller.poll_due()
        assert first.new_items[0].match.actors == ()
        async with service.db.transaction():
            await service.poller.watchlists.add_actor(
                Actor(id="kallas", name="Kaja Kallas", kind="person", aliases=("Kallas",))
            )
        feed_server.serve("/a.xml", rss_document("A", [entry(2, "Kallas meets Rubio")]))
        clock.advance(minutes=11)
        [second] = await service.poller.poll_due()
        assert second.new_items[0].match.actors == ("kallas",)


async def test_items_are_in_the_sqlite_file_after_close(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin")]))
    config = make_config(tmp_path, {"A": feed_server.url("/a.xml")})
    async with await open_service(config, clock=clock) as service:
        await service.poller.poll_due()
    reopened = await open_database(tmp_path / "dw.db")
    try:
        rows = await reopened.fetch_all("SELECT count(*) FROM items")
        assert rows[0][0] == 1
    finally:
        await reopened.close()


@pytest.mark.parametrize("bad", ["/missing", "/slow"])
async def test_failures_are_recorded_not_raised(
    tmp_path: Path, feed_server: FeedServer, clock: Clock, bad: str
) -> None:
    feed_server.serve("/missing", b"", status=404)
    feed_server.serve("/slow", b"", delay_s=30)
    data = make_config(tmp_path, {"X": feed_server.url(bad)})
    config = replace(data, fetch=replace(data.fetch, timeout_s=1.0))
    async with await open_service(config, clock=clock) as service:
        [result] = await service.poller.poll_due()
        assert result.status == "failed"
        assert ("HTTP 404" if bad == "/missing" else "timed out") in (result.error or "")


async def test_process_pool_gives_the_same_results(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin meets Witkoff"), entry(2, "Weather")]))
    base = make_config(tmp_path, {"A": feed_server.url("/a.xml")})
    config = replace(base, fetch=replace(base.fetch, workers=2))
    async with await open_service(config, clock=clock) as service:
        [result] = await service.poller.poll_due()
        matched = {n.stored.item.title: n.match.actors for n in result.new_items}
        assert matched == {"Putin meets Witkoff": ("putin", "witkoff"), "Weather": ()}


def queued_signal(poller: Poller, count: int) -> asyncio.Event:
    """An event set once ``count`` parsed feeds wait for the poller's writer (white box)."""
    event = asyncio.Event()
    store = poller._store

    async def queueing(pending: _PendingStore) -> list[NewItem]:
        stored = asyncio.ensure_future(store(pending))
        await asyncio.sleep(0)  # one loop turn, no wall-clock wait: store() has queued the feed
        if len(poller._pending) >= count:
            event.set()
        return await stored

    poller._store = queueing  # type: ignore[method-assign]
    return event


def six_feed_config(tmp_path: Path, feed_server: FeedServer) -> Config:
    """A config polling six feeds of three items each, every item naming Putin."""
    urls = {}
    for n in range(6):
        feed_server.serve(
            f"/{n}.xml", rss_document(f"F{n}", [entry(10 * n + k, f"Putin item {n}.{k}") for k in range(3)])
        )
        urls[f"F{n}"] = feed_server.url(f"/{n}.xml")
    return make_config(tmp_path, urls)


async def test_feeds_parsed_while_one_writes_share_the_next_transaction(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    async with await open_service(six_feed_config(tmp_path, feed_server), clock=clock) as service:
        poller = service.poller
        groups = count_groups(poller)
        all_queued = queued_signal(poller, 6)
        async with poller._write_lock:  # a transaction in progress: every feed queues behind it
            polling = asyncio.create_task(poller.poll_due())
            await all_queued.wait()
        results = await polling
        assert groups == [6]
        assert sorted(len(r.new_items) for r in results) == [3] * 6
        assert len({n.stored.id for r in results for n in r.new_items}) == 18


async def test_the_writer_waits_for_feeds_still_being_parsed_to_share_its_transaction(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    async with await open_service(six_feed_config(tmp_path, feed_server), clock=clock) as service:
        poller = service.poller
        poller._group_wait_s = 60.0  # white box: only parses ending may end the wait, never the clock
        poller._executor = AllAtOnceExecutor(6)
        groups = count_groups(poller)
        results = await asyncio.wait_for(poller.poll_due(), 30)
        assert groups == [6]  # the first feed parsed waited for the five others, not a transaction each
        assert sorted(len(r.new_items) for r in results) == [3] * 6


async def test_a_lone_feed_is_stored_without_waiting(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin meets Witkoff")]))
    config = make_config(tmp_path, {"A": feed_server.url("/a.xml")})
    async with await open_service(config, clock=clock) as service:
        poller = service.poller
        poller._group_wait_s = 60.0
        groups = count_groups(poller)
        # Nothing else is in progress: waiting for the group to fill would take the full 60 s.
        [result] = await asyncio.wait_for(poller.poll_due(), 30)
        assert groups == [1] and len(result.new_items) == 1


async def test_a_feed_failing_to_parse_does_not_keep_the_writer_waiting(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin meets Witkoff")]))
    feed_server.serve("/b.xml", b'{"not": "a feed"}')
    urls = {"A": feed_server.url("/a.xml"), "B": feed_server.url("/b.xml")}
    async with await open_service(make_config(tmp_path, urls), clock=clock) as service:
        poller = service.poller
        poller._group_wait_s = 60.0
        # B's parse starts only once A waits for the writer: the writer then waits on B, and only B's parse
        # failing can end that wait before the 60 s.
        release_b = threading.Event()
        poller._executor = HoldingExecutor(urls["B"], release_b)
        a_queued = queued_signal(poller, 1)
        polling = asyncio.create_task(poller.poll_due())
        await asyncio.wait_for(a_queued.wait(), 30)
        release_b.set()
        results = {r.feed.name: r for r in await asyncio.wait_for(polling, 30)}
        assert results["A"].status == "new" and results["B"].status == "failed"
        assert "JSON" in (results["B"].error or "")


class AllAtOnceExecutor(Executor):
    """Parses on threads, none before ``count`` jobs have arrived: every feed is still being parsed when
    the first one queues for the writer, whatever the machine's speed."""

    def __init__(self, count: int) -> None:
        self._threads = ThreadPoolExecutor(max_workers=count)
        self._all_arrived = threading.Barrier(count, timeout=30)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        def run() -> T:
            self._all_arrived.wait()
            return fn(*args, **kwargs)

        return self._threads.submit(run)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)


class HoldingExecutor(Executor):
    """Parses on threads, but starts the job for ``held_url`` only once ``release`` is set."""

    def __init__(self, held_url: str, release: threading.Event) -> None:
        self._threads = ThreadPoolExecutor(max_workers=2)
        self._held_url, self._release = held_url, release

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        def run() -> T:
            if isinstance(fn, partial) and fn.keywords.get("feed_url") == self._held_url:
                self._release.wait(30)
            return fn(*args, **kwargs)

        return self._threads.submit(run)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)


def count_groups(poller: Poller) -> list[int]:
    """The number of feeds in each transaction the poller's writer commits (white box), as it commits them."""
    groups: list[int] = []
    store_group = poller._store_group

    async def counted(group: Sequence[_PendingStore]) -> list[list[NewItem]]:
        groups.append(len(group))
        return await store_group(group)

    poller._store_group = counted  # type: ignore[method-assign]
    return groups


def two_feed_config(tmp_path: Path, feed_server: FeedServer) -> Config:
    """A config polling feed A (an item naming Putin and Witkoff) and feed B (one naming Lavrov)."""
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin meets Witkoff")]))
    feed_server.serve("/b.xml", rss_document("B", [entry(2, "Lavrov in Doha")]))
    return make_config(tmp_path, {"A": feed_server.url("/a.xml"), "B": feed_server.url("/b.xml")})


async def test_a_feed_that_cannot_be_stored_fails_alone_in_its_group(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    config = two_feed_config(tmp_path, feed_server)
    async with await open_service(config, clock=clock) as service:
        poller = service.poller
        a, b = sorted(await poller.feeds.due(clock(), limit=10), key=lambda f: f.name)
        gone = replace(b, id=10_000)  # removed from the database while it was being fetched
        both_queued = queued_signal(poller, 2)
        async with poller._write_lock:
            polling = asyncio.gather(poller.poll_feed(a), poller.poll_feed(gone), return_exceptions=True)
            await both_queued.wait()
        ok, failed = await polling
        assert isinstance(ok, FeedPollResult) and [n.stored.item.title for n in ok.new_items] == [
            "Putin meets Witkoff"
        ]
        # Reported as a failed feed, not raised: the rest of the round (and its alerts) carries on.
        assert isinstance(failed, FeedPollResult) and failed.status == "failed"
        assert failed.error == "not stored: cannot store items: no feed with id 10000"
        [story_id] = {n.story_id for n in ok.new_items}
        assert story_id is not None and len((await poller.stories.get(story_id)).sources) == 1


async def test_a_dead_parse_worker_fails_one_poll_then_a_new_pool_takes_over(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    feed_server.serve("/a.xml", rss_document("A", [entry(1, "Putin meets Witkoff")]))
    base = make_config(tmp_path, {"A": feed_server.url("/a.xml")})
    config = replace(base, fetch=replace(base.fetch, workers=2))
    async with await open_service(config, clock=clock) as service:
        broken = service.poller.executor
        assert isinstance(broken, ParsePool) and len(broken.pids) == 2
        # As the kernel's OOM killer would: the pool is broken from then on.
        for pid in broken.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        [failed] = await service.poller.poll_due()
        assert failed.status == "failed" and failed.error is not None
        assert "a parse worker stopped" in failed.error
        assert service.poller.executor is not broken
        clock.advance(hours=1)  # past the failure's backoff
        [result] = await service.poller.poll_due()
        assert [n.stored.item.title for n in result.new_items] == ["Putin meets Witkoff"]


async def test_an_unexpected_error_while_classifying_fails_that_feed_only(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    config = two_feed_config(tmp_path, feed_server)
    async with await open_service(config, clock=clock) as service:
        # A snapshot that does not hold a watchlist: the worker raises TypeError, a bug rather than bad input.
        not_a_watchlist = pickle.dumps(1)
        snapshot = replace(service.poller.classifier.snapshot, pickled=not_a_watchlist, digest=b"other")
        service.poller.classifier.snapshot = snapshot
        feeds = await service.poller.feeds.due(clock(), limit=10)
        results = await service.poller.poll_feeds(feeds)
        assert [r.status for r in results] == ["failed", "failed"]
        assert all(r.error and "internal error (TypeError)" in r.error for r in results)
