"""The worker half of a poll: results cross the process boundary intact, and the worker stays light."""

from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import UTC, datetime

from feeds.models import Actor, Item, Match, Span, Watchlist
from feeds.parse_worker import Classified, WatchlistSnapshot, compile_in_worker, parse_and_classify

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
    b"<item><guid>a-1</guid><title>Putin meets Witkoff</title><link>https://x.example/1</link>"
    b"<description>Talks in Moscow.</description></item>"
    b"<item><title>Weather</title><link>https://x.example/2</link><description>Rain.</description></item>"
    b"</channel></rss>"
)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WATCHLIST = Watchlist(
    actors=(
        Actor(id="putin", name="Vladimir Putin", kind="official", aliases=("Putin",)),
        Actor(id="witkoff", name="Steve Witkoff", kind="official", aliases=("Witkoff",)),
    )
)


def test_classified_round_trips_through_pickle_exactly() -> None:
    snapshot = WatchlistSnapshot.of(WATCHLIST, 1)
    results = parse_and_classify(
        FEED,
        feed_url="https://x.example/feed",
        source="Wire",
        fetched_at=NOW,
        content_type=None,
        watchlist=snapshot,
    )
    assert [c.match.actors for c in results] == [("putin", "witkoff"), ()]
    assert results[0].fingerprint and not results[1].fingerprint
    hand_made = Classified(
        item=Item(
            identity="url:x",
            guid=None,
            url=None,
            title="t",
            summary="",
            published=NOW,
            published_estimated=True,
            content_hash="h",
            source="",
            language="ru",
            author=None,
        ),
        match=Match(
            actors=("a",),
            topics=("t",),
            score=1.5,
            spans=(Span(field="summary", start=1, end=4, target="a", phrase="abc"),),
        ),
        fingerprint=b"\x00\x01",
    )
    for classified in [*results, hand_made]:
        assert pickle.loads(pickle.dumps(classified, protocol=pickle.HIGHEST_PROTOCOL)) == classified
    assert compile_in_worker(snapshot) > 0


def test_a_worker_process_does_not_load_the_application() -> None:
    # Each parse worker imports this module: chat clients, HTTP and SQLite would only cost memory there.
    code = (
        "import sys, feeds.parse_worker\n"
        "heavy = [m for m in ('aiohttp', 'aiosqlite', 'discord', 'slack_bolt', 'slack_sdk', 'apscheduler',"
        " 'bot', 'storage') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
