"""The benchmark feed generator is deterministic and its server honours conditional GETs."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from email.utils import format_datetime

import aiohttp
import pytest

from bench.feedserver import EPOCH, BenchFeedServer, FeedCatalog, FeedServerProcess


def bodies(catalog: FeedCatalog, count: int) -> list[bytes]:
    return [catalog.document(i).body for i in range(count)]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = FeedCatalog(feeds=6, items_per_feed=10, seed=7)
    again = FeedCatalog(feeds=6, items_per_feed=10, seed=7)
    other = FeedCatalog(feeds=6, items_per_feed=10, seed=8)
    assert bodies(first, 6) == bodies(again, 6)
    assert all(a != b for a, b in zip(bodies(first, 6), bodies(other, 6), strict=True))


def test_advance_is_deterministic_and_reset_restores_the_start() -> None:
    first = FeedCatalog(feeds=40, items_per_feed=5, seed=3)
    again = FeedCatalog(feeds=40, items_per_feed=5, seed=3)
    start = bodies(first, 40)
    changed = first.advance(0.1)
    assert changed == again.advance(0.1)
    assert len(changed) == 4
    assert bodies(first, 40) == bodies(again, 40)
    for index in range(40):
        assert (first.document(index).body != start[index]) == (index in changed)
    first.reset()
    assert bodies(first, 40) == start


def test_a_fifty_item_feed_is_about_140_kb_with_html_tracking_and_syndication() -> None:
    catalog = FeedCatalog(feeds=40, items_per_feed=50, seed=11)
    documents = [catalog.document(i).body for i in range(40)]
    mean = sum(len(body) for body in documents) / len(documents)
    assert 110_000 < mean < 170_000
    text = b"".join(documents)
    assert text.count(b"<item>") == 40 * 50
    assert b"content:encoded" in text and b"utm_source=rss" in text and b"&lt;p&gt;" in text
    assert "Кремл".encode() in text or "Москв".encode() in text
    # Wire stories: the same headline appears in more than one feed.
    titles = [body.split(b"<title>")[2:] for body in documents]
    per_feed = [{t.split(b"</title>")[0].removeprefix(b"UPDATE 1-") for t in feed} for feed in titles]
    seen: dict[bytes, int] = {}
    for feed_titles in per_feed:
        for title in feed_titles:
            seen[title] = seen.get(title, 0) + 1
    assert max(seen.values()) > 1


@pytest.fixture
async def server() -> AsyncIterator[BenchFeedServer]:
    async with BenchFeedServer(FeedCatalog(feeds=3, items_per_feed=5, seed=5)) as feed_server:
        yield feed_server


async def test_server_answers_304_to_matching_validators_and_200_after_new_items(
    server: BenchFeedServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url(1)) as response:
            assert response.status == 200
            body = await response.read()
            etag = response.headers["ETag"]
            last_modified = response.headers["Last-Modified"]
        assert body == server.catalog.document(1).body
        async with session.get(server.url(1), headers={"If-None-Match": etag}) as response:
            assert response.status == 304
            assert await response.read() == b""
        async with session.get(server.url(1), headers={"If-None-Match": '"other", W/' + etag}) as response:
            assert response.status == 304
        async with session.get(server.url(1), headers={"If-Modified-Since": last_modified}) as response:
            assert response.status == 304
        earlier = format_datetime(EPOCH.replace(year=2020), usegmt=True)
        async with session.get(server.url(1), headers={"If-Modified-Since": earlier}) as response:
            assert response.status == 200
        async with session.get(server.url(1), headers={"If-None-Match": '"stale"'}) as response:
            assert response.status == 200
        async with session.post(server.base_url + "/_control/advance?fraction=1.0") as response:
            assert (await response.json()) == {"changed": 3}
        async with session.get(server.url(1), headers={"If-None-Match": etag}) as response:
            assert response.status == 200
            assert response.headers["ETag"] != etag
            assert response.headers["Last-Modified"] != last_modified
        async with session.get(server.base_url + "/feeds/3.xml") as response:
            assert response.status == 404
    counters = server.counters()
    assert (counters.responses_200, counters.responses_304) == (4, 3)


def test_server_process_serves_and_obeys_control() -> None:
    with FeedServerProcess(feeds=4, items_per_feed=3, seed=9) as control:
        assert control.base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(control.url(2), timeout=30) as response:
            body = response.read()
        assert body == FeedCatalog(feeds=4, items_per_feed=3, seed=9).document(2).body
        assert control.advance(0.5) == 2
        control.reset()
        assert control.counters().responses_200 == 1


async def test_server_handles_many_concurrent_requests(server: BenchFeedServer) -> None:
    async with aiohttp.ClientSession() as session:

        async def fetch(index: int) -> int:
            async with session.get(server.url(index % 3)) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(fetch(i) for i in range(60)))
    assert set(statuses) == {200}
