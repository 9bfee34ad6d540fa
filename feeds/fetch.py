"""Safe, polite HTTP fetching of feeds: conditional GET, size and time limits, checked redirects and peers.

This is the only module in ``feeds`` that does I/O. Every failure surfaces as a ``FetchError`` whose message a
user can act on; aiohttp exceptions never escape.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http
import ipaddress
import random
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Final, Self

import aiohttp
from aiohappyeyeballs import AddrInfoType
from yarl import URL

from feeds.errors import ConfigError, FetchError
from feeds.models import FeedState

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_AGENT: Final = "diplowatch/0.1 (+https://github.com/diplowatch/diplowatch)"
ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
MAX_BACKOFF_S: Final = 24 * 3600
# A Retry-After beyond this is treated as a server mistake rather than a reason to go silent for weeks.
MAX_RETRY_AFTER_S: Final = 7 * 24 * 3600
MAX_URL_LENGTH: Final = 2048

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})
PERMANENT_STATUSES: Final = frozenset({404, 410})

_CGNAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64_WELL_KNOWN: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_DELAY_SECONDS: Final = re.compile(r"[0-9]{1,12}")
_NUMERIC_HOST: Final = re.compile(r"[0-9.]+")
_BODY_CHUNK: Final = 64 * 1024

# Addresses the connector refused during the current hop; a context variable because the socket factory is
# shared by every request of the session while each fetch needs to know about its own refusals.
_refused_addresses: ContextVar[list[str] | None] = ContextVar("diplowatch_refused_addresses", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchPolicy:
    """Limits and manners for fetching; ``allowed_networks`` are exempt from the private-address refusal."""

    timeout_s: float = 20.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    allow_private_networks: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    concurrency: int = 50
    per_host: int = 4
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"fetch.timeout_s must be greater than 0, not {self.timeout_s}")
        if self.max_body_bytes < 1:
            raise ConfigError(f"fetch.max_body_bytes must be at least 1, not {self.max_body_bytes}")
        if self.max_redirects < 0:
            raise ConfigError(f"fetch.max_redirects must be 0 or more, not {self.max_redirects}")
        if self.concurrency < 1:
            raise ConfigError(f"fetch.concurrency must be at least 1, not {self.concurrency}")
        if self.per_host < 1:
            raise ConfigError(f"fetch.per_host must be at least 1, not {self.per_host}")
        if not self.user_agent.strip():
            raise ConfigError("fetch.user_agent must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """A fetched feed, or a 304 with the validators; ``content_type`` is the raw header with its charset."""

    url: str
    final_url: str
    status: int
    not_modified: bool
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    elapsed_s: float


def is_refused_address(ip: IPAddress) -> bool:
    """True for addresses that are not publicly routable: loopback, private, link-local, CGNAT, multicast."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_refused_address(embedded)
        if ip.is_site_local or ip in _NAT64_LOCAL_USE:
            return True
    elif ip in _CGNAT:
        return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # IPv4-mapped, 6to4 and NAT64 addresses reach the embedded IPv4 address, so that one decides.
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def check_feed_url(url: str) -> str:
    """Return the normalised form of an http(s) feed URL; raise a permanent FetchError for anything else."""
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise FetchError(f"feed URL is longer than {MAX_URL_LENGTH} characters", permanent=True)
    shown = _shorten(text)
    try:
        parsed = URL(text)
        scheme = parsed.scheme.lower()
        host = parsed.host
        _ = parsed.port  # an out-of-range port only fails when read
    except (ValueError, TypeError) as e:
        raise FetchError(f"{shown!r} is not a valid URL", permanent=True) from e
    if scheme not in ("http", "https"):
        raise FetchError(f"{shown!r} is not an http(s) URL", permanent=True)
    if not host:
        raise FetchError(f"{shown!r} has no host name", permanent=True)
    if _NUMERIC_HOST.fullmatch(host) and not _is_dotted_ipv4(host):
        # Legacy forms like 2130706433 or 127.1 hide an address; aiohttp refuses them too.
        raise FetchError(f"{shown!r} has a numeric host that is not a dotted IPv4 address", permanent=True)
    return str(parsed)


def _is_dotted_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if unparsable."""
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def failure_backoff_s(consecutive_failures: int, *, interval_s: int, rng: random.Random) -> float:
    """Delay before the next poll after failures: the interval doubled per failure, capped at 24 h, jittered.

    Never shorter than the feed's own interval; jitter (down to 80 %) spreads feeds that failed together.
    """
    if consecutive_failures < 0:
        raise ValueError(f"consecutive_failures must be 0 or more, not {consecutive_failures}")
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, not {interval_s}")
    if consecutive_failures == 0:
        return float(interval_s)
    ceiling = max(MAX_BACKOFF_S, interval_s)
    doubled: int = min(interval_s * 2 ** min(consecutive_failures, 32), ceiling)
    jittered: float = doubled * rng.uniform(0.8, 1.0)
    return max(float(interval_s), jittered)


def next_poll_after(
    state: FeedState, error: FetchError | None, *, now: datetime, rng: random.Random
) -> datetime:
    """When to poll a feed next, given its state before this poll and the poll's outcome (None = success)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if error is None:
        return now + timedelta(seconds=state.interval_s)
    delay = failure_backoff_s(state.consecutive_failures + 1, interval_s=state.interval_s, rng=rng)
    if error.retry_after_s is not None:
        delay = max(delay, min(error.retry_after_s, MAX_RETRY_AFTER_S))
    return now + timedelta(seconds=delay)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _RefusedAddressError(OSError):
    """Raised from the socket factory so that no connection to a refused address is ever attempted."""


class _HostSlot:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


class _HostLimiter:
    """One semaphore per host, dropped when nobody holds or waits for it so the table does not grow."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, _HostSlot] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = _HostSlot(self._per_host)
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[host]


class Fetcher:
    """Fetches feeds under one ``FetchPolicy``; owns one aiohttp session. Use ``async with Fetcher(...)``."""

    def __init__(self, policy: FetchPolicy, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._policy = policy
        self._clock = clock
        self._global_slots = asyncio.Semaphore(policy.concurrency)
        self._host_limiter = _HostLimiter(policy.per_host)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def policy(self) -> FetchPolicy:
        return self._policy

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session and its pooled connections; later fetches fail."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _address_allowed(self, ip: IPAddress) -> bool:
        if self._policy.allow_private_networks:
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self._policy.allowed_networks):
            return True
        return not is_refused_address(ip)

    def _open_checked_socket(self, addr_info: AddrInfoType) -> socket.socket:
        # Called for the address actually about to be connected, after DNS and for IP literals alike,
        # so DNS rebinding and numeric host forms cannot slip past the check.
        family, sock_type, proto, _, sockaddr = addr_info
        host = str(sockaddr[0]).split("%", 1)[0]
        ip = ipaddress.ip_address(host)
        if not self._address_allowed(ip):
            refused = _refused_addresses.get()
            if refused is not None:
                mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
                refused.append(str(mapped or ip))
            raise _RefusedAddressError(errno.EACCES, f"refused to connect to {ip}")
        return socket.socket(family=family, type=sock_type, proto=proto)

    def _session_for_fetch(self) -> aiohttp.ClientSession:
        if self._closed:
            raise FetchError("the fetcher is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._policy.concurrency,
                limit_per_host=self._policy.per_host,
                socket_factory=self._open_checked_socket,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._policy.timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),
                # Proxies from the environment would make the peer check see the proxy, not the feed host.
                trust_env=False,
                auto_decompress=True,
            )
        return self._session

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET a feed, conditionally when validators are given; raise FetchError on any failure.

        ``timeout_s`` covers every hop and the body, counted once the fetch has its concurrency slots.
        """
        start = URL(check_feed_url(url))
        session = self._session_for_fetch()
        host = (start.host or "").lower()
        loop = asyncio.get_running_loop()
        # Per-host first: a burst for one host must not hold global slots while it queues for its host.
        async with self._host_limiter.hold(host), self._global_slots:
            started = loop.time()
            try:
                async with asyncio.timeout(self._policy.timeout_s):
                    final_url, hop = await self._follow_redirects(session, start, etag, last_modified)
            except TimeoutError as e:
                raise FetchError(f"timed out after {self._policy.timeout_s:g} s") from e
            return FetchResult(
                url=url,
                final_url=str(final_url),
                status=hop.status,
                not_modified=hop.status == 304,
                body=hop.body,
                etag=hop.etag,
                last_modified=hop.last_modified,
                content_type=hop.content_type,
                elapsed_s=loop.time() - started,
            )

    async def _follow_redirects(
        self, session: aiohttp.ClientSession, start: URL, etag: str | None, last_modified: str | None
    ) -> tuple[URL, _Hop]:
        current = start
        seen = {str(current.with_fragment(None))}
        for _ in range(self._policy.max_redirects + 1):
            hop = await self._request(session, current, etag, last_modified)
            if hop.location is None:
                return current, hop
            target = self._redirect_target(current, hop.location)
            key = str(target.with_fragment(None))
            if key in seen:
                raise FetchError(
                    f"redirect loop: {_shorten(str(current))} leads back to {_shorten(key)}", permanent=True
                )
            seen.add(key)
            current = target
        raise FetchError(f"too many redirects (more than {self._policy.max_redirects})", permanent=True)

    def _redirect_target(self, current: URL, location: str) -> URL:
        try:
            target = current.join(URL(location.strip()))
        except (ValueError, TypeError) as e:
            raise FetchError(f"redirect to an invalid URL {_shorten(location)!r}", permanent=True) from e
        try:
            return URL(check_feed_url(str(target)))
        except FetchError as e:
            raise FetchError(f"redirect refused: {e}", permanent=True) from e

    async def _request(
        self, session: aiohttp.ClientSession, url: URL, etag: str | None, last_modified: str | None
    ) -> _Hop:
        headers = {
            "User-Agent": self._policy.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        refused: list[str] = []
        token = _refused_addresses.set(refused)
        try:
            async with session.get(url, headers=headers, allow_redirects=False) as response:
                return await self._read_hop(response, etag, last_modified)
        except TimeoutError:
            raise
        except FetchError:
            raise
        except (aiohttp.ClientError, OSError) as e:
            raise _translate_error(e, url, refused) from e
        finally:
            _refused_addresses.reset(token)

    async def _read_hop(
        self, response: aiohttp.ClientResponse, etag: str | None, last_modified: str | None
    ) -> _Hop:
        status = response.status
        headers = response.headers
        if status in REDIRECT_STATUSES:
            location = headers.get("Location")
            if not location:
                raise FetchError(f"{_status_text(response)} without a Location header")
            return _Hop(status=status, location=location)
        if status == 304:
            return _Hop(
                status=status,
                etag=headers.get("ETag") or etag,
                last_modified=headers.get("Last-Modified") or last_modified,
                content_type=headers.get("Content-Type"),
            )
        if not 200 <= status < 300:
            raise self._status_error(response)
        body = await self._read_body(response)
        return _Hop(
            status=status,
            body=body,
            etag=headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
            content_type=headers.get("Content-Type"),
        )

    def _status_error(self, response: aiohttp.ClientResponse) -> FetchError:
        status = response.status
        retry_after_s: float | None = None
        if status in RETRY_AFTER_STATUSES:
            value = response.headers.get("Retry-After")
            if value is not None:
                retry_after_s = parse_retry_after(value, self._clock())
        message = _status_text(response)
        if retry_after_s is not None:
            message += f" (retry after {retry_after_s:g} s)"
        return FetchError(
            message, status=status, retry_after_s=retry_after_s, permanent=status in PERMANENT_STATUSES
        )

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        cap = self._policy.max_body_bytes
        too_big = f"response body exceeds {cap} bytes"
        # Content-Length counts encoded bytes, so it can only reject early, never vouch for a compressed body.
        declared = response.content_length
        if declared is not None and declared > cap and "Content-Encoding" not in response.headers:
            raise FetchError(too_big)
        body = bytearray()
        # The stream yields decompressed bytes, so counting here catches a compression bomb.
        async for chunk in response.content.iter_chunked(_BODY_CHUNK):
            body += chunk
            if len(body) > cap:
                raise FetchError(too_big)
        return bytes(body)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hop:
    status: int
    location: str | None = None
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None


def _status_text(response: aiohttp.ClientResponse) -> str:
    try:
        phrase = http.HTTPStatus(response.status).phrase
    except ValueError:
        phrase = response.reason or ""
    return f"HTTP {response.status} {phrase}".rstrip()


def _translate_error(e: aiohttp.ClientError | OSError, url: URL, refused: list[str]) -> FetchError:
    """Turn an aiohttp or socket exception into a short FetchError a user can act on."""
    where = f"{url.host}:{url.port}" if url.port is not None else str(url.host)
    if refused:
        addresses = ", ".join(dict.fromkeys(refused))
        return FetchError(
            f"refused to connect to {addresses} for {url.host}: private and local network addresses are "
            "refused (set fetch.allow_private_networks = true to allow them)",
            permanent=True,
        )
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        cert_error = e.certificate_error
        detail = cert_error.verify_message if isinstance(cert_error, ssl.SSLCertVerificationError) else None
        return FetchError(f"TLS error: certificate verify failed for {url.host}: {detail or cert_error}")
    if isinstance(e, aiohttp.ClientSSLError):
        return FetchError(f"TLS error with {where}: {_os_error_text(e.os_error)}")
    if isinstance(e, aiohttp.ClientConnectorDNSError):
        return FetchError(f"could not resolve host {url.host}")
    if isinstance(e, aiohttp.ClientConnectorError):
        os_error = e.os_error
        if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
            return FetchError(f"connection refused by {where}")
        return FetchError(f"could not connect to {where}: {_os_error_text(os_error)}")
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return FetchError(f"{where} closed the connection without a complete response")
    if isinstance(e, aiohttp.ClientPayloadError):
        return FetchError(f"the response body from {where} could not be read: {e}")
    if isinstance(e, aiohttp.InvalidURL):
        reason = f": {e.description}" if e.description else ""
        return FetchError(f"{_shorten(str(url))!r} is not a valid URL{reason}", permanent=True)
    if isinstance(e, aiohttp.ClientResponseError):
        return FetchError(f"invalid HTTP response from {where}: {e.message}")
    if isinstance(e, OSError):
        return FetchError(f"connection error with {where}: {_os_error_text(e)}")
    return FetchError(f"request to {where} failed: {e}")


def _os_error_text(error: OSError) -> str:
    return (error.strerror or str(error) or type(error).__name__).lower()
