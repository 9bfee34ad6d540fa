"""The worker half of a poll: results cross the process boundary intact, and the worker stays light."""

from __future__ import annotations

import dataclasses
import html
import pickle
import subprocess
import sys
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import ParseError
from feeds.models import Actor, Item, Match, Span, Watchlist
from feeds.parse_worker import Classified, WatchlistSnapshot, compile_in_worker, parse_and_classify
from feeds.stories import decode_fingerprint

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
        Actor(id="putin", name="Vladimir Putin", kind="person", aliases=("Putin",)),
        Actor(id="witkoff", name="Steve Witkoff", kind="person", aliases=("Witkoff",)),
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
    # An empty match with spans, or a fingerprint without a match, is not the short form's to drop.
    odd_ones = [
        dataclasses.replace(hand_made, match=Match(spans=hand_made.match.spans)),
        dataclasses.replace(hand_made, match=Match()),
        dataclasses.replace(hand_made, match=Match(score=0.5), fingerprint=b""),
    ]
    for classified in [*results, hand_made, *odd_ones]:
        assert pickle.loads(pickle.dumps(classified, protocol=pickle.HIGHEST_PROTOCOL)) == classified
    assert compile_in_worker(snapshot) > 0


def test_an_item_that_names_nothing_crosses_as_its_fields_alone() -> None:
    [_, unmatched] = parse_and_classify(
        FEED, feed_url="https://x.example/feed", source="Wire", fetched_at=NOW, content_type=None,
        watchlist=WatchlistSnapshot.of(WATCHLIST, 1),
    )
    data = pickle.dumps(unmatched, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"_unmatched" in data and b"_classified" not in data
    assert pickle.loads(data).match is pickle.loads(data).match  # one shared empty match


def test_a_worker_process_collects_young_objects_less_often() -> None:
    code = (
        "import gc, multiprocessing\n"
        "from feeds.parse_worker import prepare_parse_worker\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.get_context('spawn').Pool(1, initializer=prepare_parse_worker) as pool:\n"
        "        print(pool.apply(gc.get_threshold)[0], gc.get_threshold()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["20000", "700"]  # the worker only, not the process that started it


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


# Pieces of hostile or broken feed text, mixed with watchlist names: each once made, or could make, the CPU
# half of a poll raise, which fails the whole feed at every poll and keeps all its items out.
HOSTILE_PIECES = (
    "9" * 400,  # a float of it is infinity
    "1e308",
    "3 000 000 000 000 000 000 000 000 000",
    "&#x110000;",
    "&#99999999999;",
    "&amp;#0;",
    "\u202e",
    "\u200b",
    "«",
    "“",
    "„",
    "'",
    '"',
    "<b>",
    "</p>",
    "<script>",
    "<!--",
    "½",
    "٣٤٥",
    "①",
    "Ⅻ",
    "ﬁ",
    "ǅ",
    "İ",
    "U.S.",
    "A.B.C.D.E.F.",
    "понедельник",
    "часов",
    "%",
    "—",
    "…",
    "\t",
    " " * 40,
    "Putin",
    "Witkoff",
    "Путин",
)
hostile_text = st.lists(st.sampled_from(HOSTILE_PIECES) | st.text(max_size=8), max_size=40).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(titles=st.lists(hostile_text, min_size=1, max_size=3), summaries=st.lists(hostile_text, max_size=3))
def test_hostile_item_text_is_parsed_and_classified_without_raising(
    titles: list[str], summaries: list[str]
) -> None:
    items = "".join(
        f"<item><guid>g{i}</guid><title>{html.escape(title)}</title><link>https://x.example/{i}</link>"
        f"<description>{html.escape(summaries[i] if i < len(summaries) else '')}</description>"
        "<pubDate>Mon, 02 Jun 2025 10:00:00 GMT</pubDate></item>"
        for i, title in enumerate(titles)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{items}</channel></rss>'
    try:
        results = parse_and_classify(
            body.encode("utf-8", "surrogatepass"),
            feed_url="https://x.example/feed",
            source="Wire",
            fetched_at=NOW,
            content_type="application/rss+xml",
            watchlist=WatchlistSnapshot.of(WATCHLIST, 1),
        )
    except ParseError:
        return  # a clear, per-feed error (e.g. control characters XML does not allow)
    for classified in results:
        if classified.fingerprint:
            decode_fingerprint(classified.fingerprint)  # what the poller reads back
