"""The CPU-bound half of a poll, run in worker processes: feed bytes → items, matches, story fingerprints.

Imports only what parsing and classifying need: a worker process loads this module, not the application,
which keeps each worker's memory small.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import pickle
import signal
import socket
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from feeds.classify import CompiledWatchlist, compile_watchlist, match_watchlist
from feeds.heap import collect_cycles_less_often
from feeds.models import Item, Match, Span, TextField, Watchlist
from feeds.parse import parse_feed
from feeds.stories import encode_fingerprint, fingerprint_item

_ItemFields = tuple[
    str, str | None, str | None, str, str, datetime, bool, str, str, str | None, str | None
]
_SpanFields = tuple[TextField, int, int, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Classified:
    """An item with its match and, when it names anything tracked, its story fingerprint (encoded)."""

    item: Item
    match: Match
    fingerprint: bytes = b""

    def __reduce__(self) -> tuple[object, ...]:
        # Results cross from the worker as plain tuples: the default form of slotted dataclasses looks up
        # the fields of every object on unpickling, which cost the parent more than the parse saved.
        i, m = self.item, self.match
        item: _ItemFields = (
            i.identity, i.guid, i.url, i.title, i.summary, i.published, i.published_estimated,
            i.content_hash, i.source, i.language, i.author,
        )
        if m == _NO_MATCH and not self.fingerprint:  # most items: nothing tracked, nothing more to send
            return (_unmatched, (item,))
        # Plain tuples: a named tuple would cross as its class and a call per span.
        spans = tuple(map(tuple, m.spans))
        return (_classified, (item, m.actors, m.topics, m.score, spans, self.fingerprint))


_NO_MATCH = Match()


def _item(fields: _ItemFields) -> Item:
    identity, guid, url, title, summary, published, estimated, content_hash, source, language, author = fields
    return Item(
        identity=identity, guid=guid, url=url, title=title, summary=summary, published=published,
        published_estimated=estimated, content_hash=content_hash, source=source, language=language,
        author=author,
    )


def _unmatched(item: _ItemFields) -> Classified:
    # One shared empty match: frozen, so nobody can change it.
    return Classified(item=_item(item), match=_NO_MATCH)


def _classified(
    item: _ItemFields,
    actors: tuple[str, ...],
    topics: tuple[str, ...],
    score: float,
    spans: tuple[_SpanFields, ...],
    fingerprint: bytes,
) -> Classified:
    return Classified(
        item=_item(item),
        match=Match(
            actors=actors,
            topics=topics,
            score=score,
            spans=tuple(map(Span._make, spans)),
        ),
        fingerprint=fingerprint,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchlistSnapshot:
    """A watchlist as sent to parse workers: pickled once per version, compiled once per worker."""

    version: int
    pickled: bytes
    digest: bytes  # of the content: versions restart per database, contents do not collide

    @classmethod
    def of(cls, watchlist: Watchlist, version: int) -> WatchlistSnapshot:
        """Snapshot ``watchlist`` at ``version``."""
        pickled = pickle.dumps(watchlist, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(version=version, pickled=pickled, digest=hashlib.blake2b(pickled, digest_size=16).digest())


# Per worker (process or thread pool): the automaton of the latest watchlist seen.
_worker_compiled: tuple[bytes, CompiledWatchlist] | None = None


def _compiled(snapshot: WatchlistSnapshot) -> CompiledWatchlist:
    global _worker_compiled
    cached = _worker_compiled
    if cached is not None and cached[0] == snapshot.digest:
        return cached[1]
    watchlist = pickle.loads(snapshot.pickled)
    if not isinstance(watchlist, Watchlist):
        raise TypeError("watchlist snapshot does not hold a Watchlist")
    compiled = compile_watchlist(watchlist)
    _worker_compiled = (snapshot.digest, compiled)
    return compiled


_WARM_UP_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>Warm-up</title><link>https://example.org/a?utm_source=x</link>"
    b"<description>&lt;p&gt;text&lt;/p&gt;</description><pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate>"
    b"</item></channel></rss>"
)


def prepare_parse_worker() -> None:
    """Run once in each new parse worker: load the parsers, normaliser and matcher before the first feed
    arrives, so a poll never waits for a worker to start up."""
    for parser in ("fast", "feedparser"):  # both paths: a fallback must not wait for an import either
        parse_feed(
            _WARM_UP_FEED,
            feed_url="https://example.org/feed",
            source="warm-up",
            fetched_at=datetime(2006, 1, 2, tzinfo=UTC),
            content_type="application/rss+xml",
            parser=parser,
        )
    if multiprocessing.parent_process() is not None:
        # A worker process: each feed allocates thousands of short-lived objects, and every full collection
        # would walk all the objects the imports made as well. Those stay out of the collector's reach.
        gc.collect()
        gc.freeze()
        collect_cycles_less_often()


def compile_in_worker(snapshot: WatchlistSnapshot) -> int:
    """Compile ``snapshot`` in the worker that runs this (cached there); the number of phrases compiled."""
    return _compiled(snapshot).phrases


def parse_and_classify(
    body: bytes,
    *,
    feed_url: str,
    source: str,
    fetched_at: datetime,
    content_type: str | None,
    watchlist: WatchlistSnapshot,
) -> list[Classified]:
    """The CPU-bound half of a poll, run in a worker: bytes → items, matches and story fingerprints.

    Items naming nothing tracked get no fingerprint: no channel hears of them, so grouping them is waste.
    """
    compiled = _compiled(watchlist)
    parsed = parse_feed(
        body, feed_url=feed_url, source=source, fetched_at=fetched_at, content_type=content_type
    )
    classified = []
    for item in parsed.items:
        match = match_watchlist(item, compiled)
        fingerprint = b"" if match.is_empty else encode_fingerprint(fingerprint_item(item, match))
        classified.append(Classified(item=item, match=match, fingerprint=fingerprint))
    return classified


# A job or its outcome on a worker's socket: an 8-byte big-endian length, then that many bytes of pickle.
FRAME_HEADER = struct.Struct("!Q")


def serve_parse_jobs(channel: socket.socket) -> None:
    """A parse worker process's main loop: run each job that arrives on ``channel`` (a pickled callable and
    its arguments) and send back its outcome, in order, until the other end closes."""
    # Ctrl-C in a terminal reaches the whole process group: the polling process shuts down and closes the
    # socket, and that is what stops a worker, quietly, not a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepare_parse_worker()
    channel.setblocking(True)
    while (payload := _receive_frame(channel)) is not None:
        outcome: tuple[bool, object]
        try:
            function, args, kwargs = pickle.loads(payload)
            del payload  # a feed body: not kept while its items are made
            outcome = (True, function(*args, **kwargs))
        except Exception as e:
            outcome = (False, e)
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # an exception (or result) that does not pickle still gets its feed an answer
            failed = RuntimeError(f"{type(outcome[1]).__name__} could not be sent back: {e}")
            data = pickle.dumps((False, failed), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            _send_frame(channel, data)
        except OSError:  # the pool has gone
            return


def _send_frame(channel: socket.socket, data: bytes) -> None:
    channel.sendall(FRAME_HEADER.pack(len(data)))
    channel.sendall(data)


def _receive_frame(channel: socket.socket) -> bytearray | None:
    header = _receive_exactly(channel, FRAME_HEADER.size)
    return None if header is None else _receive_exactly(channel, FRAME_HEADER.unpack(header)[0])


def _receive_exactly(channel: socket.socket, size: int) -> bytearray | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        try:
            n = channel.recv_into(view[got:])
        except OSError:
            return None
        if n == 0:
            return None
        got += n
    return buffer
