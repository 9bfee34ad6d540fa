"""A real local HTTP feed server on 127.0.0.1 for tests and benchmarks.

Serves registered byte bodies with ETag / Last-Modified and honours If-None-Match / If-Modified-Since; can
delay, hold (until an ``asyncio.Event`` is set), redirect, fail with any status, gzip/deflate-encode and
stream chunked bodies; records every request and counts concurrent ones.

    async with FeedServer() as server:
        server.serve("/feed.xml", b"<rss/>")
        url = server.url("/feed.xml")
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import ssl
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from types import TracebackType
from typing import Final, Literal, Self

from aiohttp import web

DEFAULT_CONTENT_TYPE: Final = "application/rss+xml; charset=utf-8"
DEFAULT_LAST_MODIFIED: Final = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
STREAM_CHUNK: Final = 64 * 1024

Encoding = Literal["gzip", "deflate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedRoute:
    """What the server answers at one path; ``body`` is the bytes on the wire (already encoded)."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = DEFAULT_CONTENT_TYPE
    etag: str | None = None
    last_modified: str | None = None
    content_encoding: Encoding | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    gate: asyncio.Event | None = None
    chunked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively, or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def _encode(body: bytes, encoding: Encoding | None) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=6)
    if encoding == "deflate":
        return zlib.compress(body, 6)
    return body


def _etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class FeedServer:
    """An aiohttp app on a free port of 127.0.0.1 (or ``host``); use it as an async context manager."""

    def __init__(self, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._ssl_context = ssl_context
        self._routes: dict[str, FeedRoute] = {}
        self._requests: list[RecordedRequest] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.in_flight = 0
        self.max_in_flight = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind a free port and start serving."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation lets a client that gave up (timeout, size cap) end its handler at once.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, 0, ssl_context=self._ssl_context)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def close(self) -> None:
        """Release held and delayed requests, then stop."""
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the feed server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def serve(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        content_type: str | None = DEFAULT_CONTENT_TYPE,
        etag: str | None = None,
        last_modified: datetime | str | None = DEFAULT_LAST_MODIFIED,
        validators: bool = True,
        encoding: Encoding | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        delay_s: float = 0.0,
        gate: asyncio.Event | None = None,
        chunked: bool = False,
    ) -> FeedRoute:
        """Register (or replace) what ``path`` answers.

        With ``validators`` the response carries ``etag`` (default: a hash of ``body``) and ``last_modified``;
        ``encoding`` compresses ``body`` on the wire; ``delay_s`` / ``gate`` hold the response back.
        """
        if validators:
            route_etag = etag if etag is not None else _etag_of(body)
            route_last_modified = (
                _http_date(last_modified) if isinstance(last_modified, datetime) else last_modified
            )
        else:
            route_etag, route_last_modified = None, None
        route = FeedRoute(
            body=_encode(body, encoding),
            status=status,
            content_type=content_type,
            etag=route_etag,
            last_modified=route_last_modified,
            content_encoding=encoding,
            headers=headers,
            delay_s=delay_s,
            gate=gate,
            chunked=chunked,
        )
        self._routes[path] = route
        return route

    def redirect(self, path: str, location: str, *, status: int = 302) -> FeedRoute:
        """Make ``path`` redirect to ``location`` (absolute or relative)."""
        route = FeedRoute(status=status, content_type=None, headers=(("Location", location),))
        self._routes[path] = route
        return route

    def hold(self, path: str, gate: asyncio.Event) -> FeedRoute:
        """Keep answering ``path`` as registered, but only once ``gate`` is set."""
        route = replace(self._routes.get(path, FeedRoute()), gate=gate)
        self._routes[path] = route
        return route

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        return tuple(self._requests)

    def requests_to(self, path: str) -> tuple[RecordedRequest, ...]:
        """Every recorded request for ``path``, oldest first."""
        return tuple(request for request in self._requests if request.path == path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path
        self._requests.append(
            RecordedRequest(
                method=request.method,
                path=path,
                query_string=request.rel_url.query_string,
                headers=tuple(request.headers.items()),
            )
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            route = self._routes.get(path)
            if route is None:
                return web.Response(status=404, text="not found")
            await self._hold_back(route)
            return await self._respond(request, route)
        finally:
            self.in_flight -= 1

    async def _hold_back(self, route: FeedRoute) -> None:
        if route.delay_s > 0:
            await self._wait_for_event(self._closing, route.delay_s)
        if route.gate is not None:
            await self._wait_for_event(route.gate, None)

    async def _wait_for_event(self, event: asyncio.Event, timeout_s: float | None) -> None:
        # Closing always releases a held request so shutdown never waits on a test's forgotten gate.
        waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._closing.wait())}
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _is_not_modified(self, request: web.Request, route: FeedRoute) -> bool:
        if route.status != 200:
            return False
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            if route.etag is None:
                return False
            candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in candidates or route.etag.removeprefix("W/") in candidates
        if_modified_since = request.headers.get("If-Modified-Since")
        if if_modified_since is None or route.last_modified is None:
            return False
        since = _parse_http_date(if_modified_since)
        modified = _parse_http_date(route.last_modified)
        return since is not None and modified is not None and modified <= since

    async def _respond(self, request: web.Request, route: FeedRoute) -> web.StreamResponse:
        headers: list[tuple[str, str]] = []
        if route.etag is not None:
            headers.append(("ETag", route.etag))
        if route.last_modified is not None:
            headers.append(("Last-Modified", route.last_modified))
        if self._is_not_modified(request, route):
            return web.Response(status=304, headers=headers)
        if route.content_type is not None:
            headers.append(("Content-Type", route.content_type))
        if route.content_encoding is not None:
            headers.append(("Content-Encoding", route.content_encoding))
        headers.extend(route.headers)
        if not route.chunked:
            return web.Response(status=route.status, body=route.body, headers=headers)
        response = web.StreamResponse(status=route.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(route.body), STREAM_CHUNK):
            await response.write(route.body[start : start + STREAM_CHUNK])
        await response.write_eof()
        return response
