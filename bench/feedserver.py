"""A generated, deterministic population of RSS 2.0 feeds served on 127.0.0.1 for the benchmarks.

``FeedCatalog`` is the pure part: N feeds of K items built from a seed (HTML descriptions, some
``content:encoded``, tracking parameters in links, about a fifth of the items naming reference watchlist
actors and topics, wire stories syndicated across feeds). ``advance`` publishes new items on a fraction
of the feeds, also deterministically. ``BenchFeedServer`` serves a catalog in-process with ETag /
Last-Modified validators (304 when they match) and a control API; ``FeedServerProcess`` runs one in a
separate process so its CPU is not charged to the client being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import multiprocessing
import random
import re
import resource
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Final, Self

from aiohttp import web

from bench.corpus import Article, ArticleKind, Language, write_article

# The clock the generated feeds are anchored to: initial items are published before it, new ones after.
EPOCH: Final = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
DEFAULT_SEED: Final = 20250602
CONTENT_TYPE: Final = "application/rss+xml; charset=utf-8"
NEW_ITEMS_PER_ADVANCE: Final = 5
DIPLOMATIC_SHARE: Final = 0.12
WIRE_SHARE: Final = 0.08  # wire copies are diplomatic too: ~20 % of items name tracked actors
HOMONYM_SHARE: Final = 0.01
CONTENT_ENCODED_SHARE: Final = 0.35
RUSSIAN_FEED_SHARE: Final = 0.2
COPIES_PER_WIRE_STORY: Final = 4

_SECTIONS: Final = (
    "world",
    "politics",
    "europe",
    "asia",
    "middle-east",
    "business",
    "city",
    "culture",
    "sport",
)
_TRACKING: Final = (
    "utm_source=rss&utm_medium=feed&utm_campaign={c}",
    "utm_source=rss&utm_medium=referral",
    "at_medium=RSS&at_campaign={c}",
    "ref=rss&fbclid=IwAR{c}x",
    "",
)
_SLUG_WORD: Final = re.compile(r"[a-z0-9]+")
_OUTLET_WORDS: Final = (
    "Daily",
    "Courier",
    "Herald",
    "Observer",
    "Gazette",
    "Telegraph",
    "Post",
    "Review",
    "Chronicle",
    "Monitor",
    "Dispatch",
    "Journal",
)
_OUTLET_PLACES: Final = (
    "Northern",
    "Harbour",
    "Valley",
    "Capital",
    "Coastal",
    "Eastern",
    "Western",
    "Central",
    "Riverside",
    "Highland",
    "Metro",
    "Union",
)


def http_date(moment: datetime) -> str:
    """An RFC 7231 date (``Mon, 02 Jun 2025 12:00:00 GMT``)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedProfile:
    """The fixed traits of one generated feed."""

    index: int
    title: str
    host: str
    language: Language
    cdata: bool  # descriptions in CDATA sections rather than entity-escaped
    spacing_min: int  # minutes between two initial items


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedDocument:
    """One feed as currently served: the body and its validators."""

    body: bytes
    etag: str
    last_modified: str
    modified_at: datetime


class FeedCatalog:
    """N generated feeds of K items; ``advance`` adds items to some of them. Deterministic from ``seed``."""

    def __init__(self, *, feeds: int, items_per_feed: int = 50, seed: int = DEFAULT_SEED) -> None:
        if feeds < 1 or items_per_feed < 1:
            raise ValueError("a catalog needs at least one feed of at least one item")
        self.feeds = feeds
        self.items_per_feed = items_per_feed
        self.seed = seed
        # Enough wire stories that each is syndicated by about COPIES_PER_WIRE_STORY feeds.
        self.wire_stories = max(8, int(feeds * items_per_feed * WIRE_SHARE / COPIES_PER_WIRE_STORY))
        self._profiles = tuple(self._profile(i) for i in range(feeds))
        self._published: list[int] = [items_per_feed] * feeds  # items ever published, per feed
        self._advances = 0
        self._documents: dict[int, FeedDocument] = {}

    def path(self, index: int) -> str:
        """The server path of feed ``index``."""
        return f"/feeds/{index}.xml"

    def profile(self, index: int) -> FeedProfile:
        """The fixed traits of feed ``index``."""
        return self._profiles[index]

    def document(self, index: int) -> FeedDocument:
        """Feed ``index`` as it stands now (built once per change and kept)."""
        document = self._documents.get(index)
        if document is None:
            document = self._documents[index] = self._render(index)
        return document

    def build_all(self) -> None:
        """Render every feed now, so that serving does not generate text."""
        for index in range(self.feeds):
            self.document(index)

    def advance(self, fraction: float, *, new_items: int = NEW_ITEMS_PER_ADVANCE) -> tuple[int, ...]:
        """Publish ``new_items`` items on ``fraction`` of the feeds (chosen from the seed); their indexes."""
        self._advances += 1
        rng = random.Random(f"{self.seed}:advance:{self._advances}")
        count = min(self.feeds, round(self.feeds * fraction))
        changed = tuple(sorted(rng.sample(range(self.feeds), count)))
        for index in changed:
            self._published[index] += new_items
            self._documents.pop(index, None)
        return changed

    def reset(self) -> None:
        """Back to the initial items of every feed (validators as at the start)."""
        changed = [i for i, n in enumerate(self._published) if n != self.items_per_feed]
        self._published = [self.items_per_feed] * self.feeds
        self._advances = 0
        for index in changed:
            self._documents.pop(index, None)

    @property
    def advances(self) -> int:
        return self._advances

    def item_count(self, index: int) -> int:
        """How many items feed ``index`` has published so far (it serves the last ``items_per_feed``)."""
        return self._published[index]

    # -----------------------------------------------------------------------------------------------------

    def _profile(self, index: int) -> FeedProfile:
        rng = random.Random(f"{self.seed}:feed:{index}")
        title = f"The {_OUTLET_PLACES[rng.randrange(len(_OUTLET_PLACES))]} {_OUTLET_WORDS[rng.randrange(12)]}"
        return FeedProfile(
            index=index,
            title=f"{title} #{index}",
            host=f"www.outlet{index}.example",
            language="ru" if rng.random() < RUSSIAN_FEED_SHARE else "en",
            cdata=rng.random() < 0.5,
            spacing_min=rng.randrange(5, 60),
        )

    def published_at(self, index: int, number: int) -> datetime:
        """When item ``number`` of feed ``index`` was published."""
        return self._published_at(self._profiles[index], number)

    def article(self, index: int, number: int) -> tuple[Article, str | None]:
        """Item ``number`` of feed ``index`` as plain text and, for a syndicated copy, its wire story id."""
        return self._article(self._profiles[index], number)

    def _published_at(self, profile: FeedProfile, number: int) -> datetime:
        if number < self.items_per_feed:
            return EPOCH - timedelta(minutes=profile.spacing_min * (self.items_per_feed - number))
        # Items published by advance() come out a minute apart after the epoch.
        return EPOCH + timedelta(minutes=number - self.items_per_feed + 1)

    def _article(self, profile: FeedProfile, number: int) -> tuple[Article, str | None]:
        """The article at position ``number`` of a feed and, for a syndicated copy, its wire story id."""
        rng = random.Random(f"{self.seed}:item:{profile.index}:{number}")
        draw = rng.random()
        paragraphs = 3 + rng.randrange(2)
        if draw < WIRE_SHARE:
            wire = rng.randrange(self.wire_stories)
            wire_rng = random.Random(f"{self.seed}:wire:{profile.language}:{wire}")
            article = write_article(wire_rng, kind="diplomatic", language=profile.language, paragraphs=3)
            return _syndicated_copy(article, rng, profile), f"{profile.language}-{wire}"
        kind: ArticleKind = "everyday"
        if draw < WIRE_SHARE + DIPLOMATIC_SHARE:
            kind = "diplomatic"
        elif draw < WIRE_SHARE + DIPLOMATIC_SHARE + HOMONYM_SHARE:
            kind = "homonym"
        return write_article(rng, kind=kind, language=profile.language, paragraphs=paragraphs), None

    def _item_xml(self, profile: FeedProfile, number: int) -> str:
        article, wire = self._article(profile, number)
        rng = random.Random(f"{self.seed}:render:{profile.index}:{number}")
        published = self._published_at(profile, number)
        section = _SECTIONS[rng.randrange(len(_SECTIONS))]
        slug = "-".join(_SLUG_WORD.findall(article.title.lower())[:7]) or "news"
        path = f"/{section}/{published:%Y/%m/%d}/{slug}-{profile.index}-{number}"
        link = f"https://{profile.host}{path}"
        tracking = _TRACKING[rng.randrange(len(_TRACKING))].format(c=rng.randrange(10**6))
        tracked_link = f"{link}?{tracking}" if tracking else link
        if rng.random() < 0.5:
            guid = f'<guid isPermaLink="false">{profile.host}:{number}</guid>'
        else:
            guid = f'<guid isPermaLink="true">{link}</guid>'
        description = _description_html(article, rng, profile)
        parts = [
            "<item>",
            f"<title>{html.escape(article.title, quote=False)}</title>",
            f"<link>{html.escape(tracked_link, quote=False)}</link>",
            guid,
            f"<pubDate>{http_date(published)}</pubDate>",
            f"<dc:creator>{'Wire staff' if wire else 'Staff reporter'}</dc:creator>",
            f"<category>{section}</category>",
            _text_element("description", description, cdata=profile.cdata),
        ]
        if rng.random() < CONTENT_ENCODED_SHARE:
            parts.append(_text_element("content:encoded", _content_html(article, rng, profile), cdata=True))
        parts.append("</item>")
        return "".join(parts)

    def _render(self, index: int) -> FeedDocument:
        profile = self._profiles[index]
        newest = self._published[index]
        numbers = range(newest - 1, max(newest - self.items_per_feed, 0) - 1, -1)
        modified_at = self._published_at(profile, newest - 1)
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
            f"<channel><title>{html.escape(profile.title)}</title><link>https://{profile.host}/</link>"
            f'<atom:link href="https://{profile.host}/rss.xml" rel="self" type="application/rss+xml"/>'
            f"<description>Latest news from {html.escape(profile.title)}</description>"
            f"<language>{profile.language}</language><lastBuildDate>{http_date(modified_at)}</lastBuildDate>"
            "<ttl>15</ttl>"
        )
        body = (head + "".join(self._item_xml(profile, n) for n in numbers) + "</channel></rss>\n").encode()
        digest = hashlib.blake2b(body, digest_size=8).hexdigest()
        return FeedDocument(
            body=body, etag=f'"{digest}"', last_modified=http_date(modified_at), modified_at=modified_at
        )


def _text_element(name: str, markup: str, *, cdata: bool) -> str:
    if cdata:
        return f"<{name}><![CDATA[{markup.replace(']]>', ']]]]><![CDATA[>')}]]></{name}>"
    return f"<{name}>{html.escape(markup, quote=False)}</{name}>"


def _syndicated_copy(article: Article, rng: random.Random, profile: FeedProfile) -> Article:
    """An outlet's copy of a wire story: same lead, sometimes a retouched headline, its own last line."""
    title = article.title
    variant = rng.randrange(4)
    if variant == 1:
        title = f"{title} - {profile.title}"
    elif variant == 2:
        title = ("UPDATE 1-" if profile.language == "en" else "ОБНОВЛЕНО: ") + title
    footer = (
        "Reporting by our correspondents; editing by the news desk."
        if profile.language == "en"
        else "Подготовлено по материалам информационных агентств."
    )
    return Article(
        kind=article.kind, language=article.language, title=title, paragraphs=(*article.paragraphs, footer)
    )


def _description_html(article: Article, rng: random.Random, profile: FeedProfile) -> str:
    pieces = []
    if rng.random() < 0.4:
        pieces.append(
            f'<img src="https://cdn.{profile.host}/images/{rng.randrange(10**7)}.jpg" alt="" width="640" '
            'height="360" />'
        )
    for number, paragraph in enumerate(article.paragraphs):
        text = html.escape(paragraph, quote=False)
        if number == 0 and rng.random() < 0.3:
            words = text.split(" ", 3)
            if len(words) == 4:
                text = f"<strong>{' '.join(words[:3])}</strong> {words[3]}"
        if rng.random() < 0.25:
            text += (
                f' <a href="https://{profile.host}/tag/{rng.randrange(999)}?utm_source=rss">'
                "Read&nbsp;more</a>"
            )
        pieces.append(f"<p>{text}</p>")
    return "".join(pieces)


def _content_html(article: Article, rng: random.Random, profile: FeedProfile) -> str:
    pieces = [
        f'<figure><img src="https://cdn.{profile.host}/images/{rng.randrange(10**7)}.jpg" width="1200" '
        f'height="675" alt="{html.escape(article.title)}" /><figcaption>File photo.</figcaption></figure>'
    ]
    for paragraph in (*article.paragraphs, *article.paragraphs[:2]):
        pieces.append(f"<p>{html.escape(paragraph, quote=False)}</p>")
    pieces.append(f"<blockquote><p>{html.escape(article.paragraphs[0][:160], quote=False)}</p></blockquote>")
    pieces.append(
        f'<p><em>Follow us for more updates.</em> <a href="https://{profile.host}/newsletter?utm_medium=email">'
        "Subscribe</a></p>"
    )
    return "".join(pieces)


# ---------------------------------------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------------------------------------


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def is_not_modified(
    document: FeedDocument, *, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """RFC 7232 precedence: If-None-Match decides when present, else If-Modified-Since (1 s resolution)."""
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or document.etag in tags
    if if_modified_since is None:
        return False
    since = _parse_http_date(if_modified_since)
    return since is not None and document.modified_at.replace(microsecond=0) <= since


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerCounters:
    """What the server has answered since it started, and the CPU its process used."""

    responses_200: int
    responses_304: int
    bytes_sent: int
    cpu_s: float


class BenchFeedServer:
    """Serves a FeedCatalog on 127.0.0.1; ``advance``/``reset`` in-process or via ``POST /_control/...``."""

    def __init__(self, catalog: FeedCatalog, *, port: int = 0) -> None:
        self.catalog = catalog
        self._port = port
        self._runner: web.AppRunner | None = None
        self._ok = 0
        self._not_modified = 0
        self._bytes = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind 127.0.0.1 (a free port unless one was given) and serve."""
        app = web.Application()
        app.router.add_get("/feeds/{index:[0-9]+}.xml", self._feed)
        app.router.add_post("/_control/advance", self._advance)
        app.router.add_post("/_control/reset", self._reset)
        app.router.add_get("/_control/counters", self._counters)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        # A large backlog: thousands of feeds are requested at once.
        site = web.TCPSite(runner, "127.0.0.1", self._port, backlog=4096)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def url(self, index: int) -> str:
        """The URL of feed ``index``."""
        return self.base_url + self.catalog.path(index)

    def advance(self, fraction: float) -> tuple[int, ...]:
        """New items on ``fraction`` of the feeds; their indexes."""
        return self.catalog.advance(fraction)

    def reset(self) -> None:
        """Back to the initial state of every feed."""
        self.catalog.reset()

    def counters(self) -> ServerCounters:
        """Responses so far and this process's CPU seconds."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return ServerCounters(
            responses_200=self._ok,
            responses_304=self._not_modified,
            bytes_sent=self._bytes,
            cpu_s=usage.ru_utime + usage.ru_stime,
        )

    async def _feed(self, request: web.Request) -> web.Response:
        index = int(request.match_info["index"])
        if index >= self.catalog.feeds:
            return web.Response(status=404, text="no such feed")
        document = self.catalog.document(index)
        headers = {"ETag": document.etag, "Last-Modified": document.last_modified}
        if is_not_modified(
            document,
            if_none_match=request.headers.get("If-None-Match"),
            if_modified_since=request.headers.get("If-Modified-Since"),
        ):
            self._not_modified += 1
            return web.Response(status=304, headers=headers)
        self._ok += 1
        self._bytes += len(document.body)
        headers["Content-Type"] = CONTENT_TYPE
        return web.Response(body=document.body, headers=headers)

    async def _advance(self, request: web.Request) -> web.Response:
        fraction = float(request.query.get("fraction", "0.1"))
        changed = self.advance(fraction)
        # Render now so that the next round measures serving, not generating.
        for index in changed:
            self.catalog.document(index)
        return web.json_response({"changed": len(changed)})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        self.catalog.build_all()
        return web.json_response({"ok": True})

    async def _counters(self, request: web.Request) -> web.Response:
        c = self.counters()
        return web.json_response(
            {
                "responses_200": c.responses_200,
                "responses_304": c.responses_304,
                "bytes_sent": c.bytes_sent,
                "cpu_s": c.cpu_s,
            }
        )


# ---------------------------------------------------------------------------------------------------------
# In another process
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedServerControl:
    """Drives a running feed server over HTTP (picklable: usable from any process)."""

    base_url: str
    feeds: int

    def url(self, index: int) -> str:
        """The URL of feed ``index``."""
        return f"{self.base_url}/feeds/{index}.xml"

    def urls(self) -> list[str]:
        """Every feed URL, in index order."""
        return [self.url(i) for i in range(self.feeds)]

    def advance(self, fraction: float) -> int:
        """New items on ``fraction`` of the feeds; how many feeds changed."""
        changed = self._post(f"/_control/advance?fraction={fraction}")["changed"]
        if not isinstance(changed, int):
            raise RuntimeError(f"the feed server answered {changed!r} to advance")
        return changed

    def reset(self) -> None:
        """Back to the initial state of every feed."""
        self._post("/_control/reset")

    def counters(self) -> ServerCounters:
        """Responses so far and the server process's CPU seconds."""
        with urllib.request.urlopen(self.base_url + "/_control/counters", timeout=60) as response:
            data = json.loads(response.read())
        return ServerCounters(
            responses_200=int(data["responses_200"]),
            responses_304=int(data["responses_304"]),
            bytes_sent=int(data["bytes_sent"]),
            cpu_s=float(data["cpu_s"]),
        )

    def _post(self, path: str) -> dict[str, object]:
        request = urllib.request.Request(self.base_url + path, method="POST", data=b"")
        # Rendering thousands of feeds after a reset can take a while.
        with urllib.request.urlopen(request, timeout=600) as response:
            result: dict[str, object] = json.loads(response.read())
        return result


def _serve_until_told(feeds: int, items_per_feed: int, seed: int, conn: Connection) -> None:
    catalog = FeedCatalog(feeds=feeds, items_per_feed=items_per_feed, seed=seed)
    catalog.build_all()

    async def serve() -> None:
        async with BenchFeedServer(catalog) as server:
            conn.send(server.base_url)
            loop = asyncio.get_running_loop()
            # Any message, or the parent closing its end, means stop.
            with contextlib.suppress(EOFError):
                await loop.run_in_executor(None, conn.recv)

    asyncio.run(serve())


class FeedServerProcess:
    """A BenchFeedServer in a child process (spawned), so its CPU is not the measured client's."""

    def __init__(self, *, feeds: int, items_per_feed: int = 50, seed: int = DEFAULT_SEED) -> None:
        self._args = (feeds, items_per_feed, seed)
        self.feeds = feeds
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._control: FeedServerControl | None = None

    def __enter__(self) -> FeedServerControl:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve_until_told, args=(*self._args, child), daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        # Generating 10,000 feeds takes a while; a dead child shows up as EOF here.
        if not parent.poll(1800):
            self._stop()
            raise RuntimeError("the feed server process did not start within 30 minutes")
        try:
            base_url = str(parent.recv())
        except EOFError as e:
            self._stop()
            raise RuntimeError("the feed server process died while starting") from e
        self._control = FeedServerControl(base_url=base_url, feeds=self.feeds)
        return self._control

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send("stop")
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)
            self._process = None
