"""The offline demo: a local HTTP server serving the bundled sample feeds, so the real fetch path runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from importlib import resources
from pathlib import Path
from types import TracebackType

from aiohttp import web

from feeds.errors import ConfigError

# Fixed so that validators are the same from one run to the next: a second `make demo` sees 304s.
_DEMO_LAST_MODIFIED = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoFeed:
    """One bundled sample feed: its file name, display name and bytes."""

    filename: str
    name: str
    body: bytes

    @property
    def etag(self) -> str:
        """A strong validator derived from the content."""
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'

    @property
    def content_type(self) -> str:
        """The media type the server sends for this file."""
        if self.filename.endswith(".atom"):
            return "application/atom+xml; charset=utf-8"
        return "application/rss+xml; charset=utf-8"


_DEMO_NAMES = {
    "mid_ru.xml": "MFA Russia",
    "tass_ru.xml": "TASS",
    "reuters_world.xml": "Reuters World",
    "kyiv_independent.atom": "The Kyiv Desk",
    "ukrinform_uk.xml": "Ukrinform",
    "world_desk.xml": "Global Desk",
}


def demo_feeds() -> list[DemoFeed]:
    """The bundled sample feeds, in a stable order."""
    folder = resources.files("bot") / "demo_feeds"
    feeds = []
    for name in sorted(_DEMO_NAMES):
        feeds.append(DemoFeed(filename=name, name=_DEMO_NAMES[name], body=(folder / name).read_bytes()))
    return feeds


def demo_watchlist_path() -> Path:
    """Path of the watchlist the demo runs with."""
    return Path(str(resources.files("bot") / "demo_watchlist.toml"))


class DemoFeedServer:
    """Serves the sample feeds on 127.0.0.1 with ETag and Last-Modified, answering 304 when unchanged."""

    def __init__(self, feeds: list[DemoFeed], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._feeds = {f.filename: f for f in feeds}
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.requests = 0
        self.not_modified = 0

    def url(self, filename: str) -> str:
        """The URL a feed file is served at."""
        return f"{self.base_url}/{filename}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        feed = self._feeds.get(request.match_info["name"])
        if feed is None:
            raise web.HTTPNotFound()
        last_modified = format_datetime(_DEMO_LAST_MODIFIED, usegmt=True)
        headers = {"ETag": feed.etag, "Last-Modified": last_modified}
        if _not_modified(request, feed.etag):
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        return web.Response(body=feed.body, headers={**headers, "Content-Type": feed.content_type})

    async def __aenter__(self) -> DemoFeedServer:
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            raise ConfigError(
                f"cannot start the demo feed server on {self._host}:{self._port}: {e.strerror}"
            ) from e
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self._port
        self.base_url = f"http://{self._host}:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _not_modified(request: web.Request, etag: str) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return etag in [tag.strip() for tag in if_none_match.split(",")] or if_none_match.strip() == "*"
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return parsedate_to_datetime(since) >= _DEMO_LAST_MODIFIED
        except (TypeError, ValueError):
            return False
    return False
