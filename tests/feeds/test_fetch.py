"""feeds.fetch against a real local feed server, plus table-driven tests of its pure scheduling helpers."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from feeds.errors import ConfigError, FetchError
from feeds.fetch import (
    MAX_BACKOFF_S,
    MAX_RETRY_AFTER_S,
    USER_AGENT,
    Fetcher,
    FetchPolicy,
    FetchResult,
    check_feed_url,
    failure_backoff_s,
    is_refused_address,
    next_poll_after,
    parse_retry_after,
)
from feeds.models import FeedState
from tests.fakes.feed_server import FeedServer

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
RSS = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LOCAL = FetchPolicy(allow_private_networks=True)
PUBLIC_ONLY = FetchPolicy()


def fixed_clock() -> datetime:
    return NOW


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as feed_server:
        yield feed_server


async def fetch_once(url: str, policy: FetchPolicy = LOCAL, **validators: str) -> FetchResult:
    async with Fetcher(policy, clock=fixed_clock) as fetcher:
        return await fetcher.fetch(
            url, etag=validators.get("etag"), last_modified=validators.get("last_modified")
        )


async def fetch_error(url: str, policy: FetchPolicy = LOCAL) -> FetchError:
    async with Fetcher(policy, clock=fixed_clock) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(url)
    return caught.value


# --- success and conditional GET ---------------------------------------------------------------------------


async def test_ok_returns_body_validators_content_type_and_sends_user_agent(server: FeedServer) -> None:
    route = server.serve("/feed.xml", RSS, content_type="application/rss+xml; charset=iso-8859-1")
    async with Fetcher(LOCAL) as fetcher:
        result = await fetcher.fetch(server.url("/feed.xml"))

    assert result.status == 200
    assert not result.not_modified
    assert result.body == RSS
    assert result.url == result.final_url == server.url("/feed.xml")
    assert result.content_type == "application/rss+xml; charset=iso-8859-1"
    assert result.etag == route.etag is not None
    assert result.last_modified == "Mon, 01 Jan 2024 12:00:00 GMT"
    assert result.elapsed_s >= 0
    (request,) = server.requests_to("/feed.xml")
    assert request.method == "GET"
    assert request.header("User-Agent") == USER_AGENT
    assert USER_AGENT == "diplowatch/0.1 (+https://github.com/diplowatch/diplowatch)"
    assert "gzip" in (request.header("Accept-Encoding") or "")
    assert request.header("If-None-Match") is None
    assert request.header("If-Modified-Since") is None


async def test_not_modified_sends_validators_and_returns_them(server: FeedServer) -> None:
    server.serve("/feed.xml", RSS)
    async with Fetcher(LOCAL) as fetcher:
        first = await fetcher.fetch(server.url("/feed.xml"))
        second = await fetcher.fetch(
            server.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified
        )

    assert second.not_modified
    assert second.status == 304
    assert second.body == b""
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    conditional = server.requests_to("/feed.xml")[1]
    assert conditional.header("If-None-Match") == first.etag
    assert conditional.header("If-Modified-Since") == first.last_modified


async def test_if_modified_since_alone_gives_not_modified(server: FeedServer) -> None:
    server.serve("/feed.xml", RSS, validators=True)
    result = await fetch_once(server.url("/feed.xml"), last_modified="Tue, 02 Jan 2024 00:00:00 GMT")
    assert result.not_modified is True
    (request,) = server.requests_to("/feed.xml")
    assert request.header("If-Modified-Since") == "Tue, 02 Jan 2024 00:00:00 GMT"
    assert request.header("If-None-Match") is None


async def test_changed_body_is_fetched_again_despite_old_etag(server: FeedServer) -> None:
    server.serve("/feed.xml", RSS + b"<!-- v2 -->")
    result = await fetch_once(server.url("/feed.xml"), etag='"stale"')
    assert result.status == 200
    assert result.body == RSS + b"<!-- v2 -->"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_body_is_decoded(server: FeedServer, encoding: str) -> None:
    body = RSS * 200
    route = server.serve("/feed.xml", body, encoding="gzip" if encoding == "gzip" else "deflate")
    assert len(route.body) < len(body)
    result = await fetch_once(server.url("/feed.xml"))
    assert result.body == body


# --- HTTP errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "permanent"),
    [
        (404, "HTTP 404 Not Found", True),
        (410, "HTTP 410 Gone", True),
        (500, "HTTP 500 Internal Server Error", False),
        (403, "HTTP 403 Forbidden", False),
        (502, "HTTP 502 Bad Gateway", False),
    ],
)
async def test_error_status_raises_fetch_error(
    server: FeedServer, status: int, message: str, permanent: bool
) -> None:
    server.serve("/feed.xml", b"nope", status=status)
    error = await fetch_error(server.url("/feed.xml"))
    assert str(error) == message
    assert error.status == status
    assert error.permanent is permanent
    assert error.retry_after_s is None


async def test_unregistered_path_is_404(server: FeedServer) -> None:
    error = await fetch_error(server.url("/missing.xml"))
    assert (error.status, error.permanent) == (404, True)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_s"),
    [
        (429, "120", 120.0),
        (429, format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (503, "3600", 3600.0),
        (503, format_datetime(NOW + timedelta(minutes=5), usegmt=True), 300.0),
        (429, "soon", None),
    ],
)
async def test_retry_after_is_carried_on_429_and_503(
    server: FeedServer, status: int, retry_after: str, expected_s: float | None
) -> None:
    server.serve("/feed.xml", b"slow down", status=status, headers=(("Retry-After", retry_after),))
    error = await fetch_error(server.url("/feed.xml"))
    assert error.status == status
    assert error.retry_after_s == expected_s
    assert not error.permanent
    assert str(error).startswith(f"HTTP {status} ")


async def test_retry_after_on_other_statuses_is_ignored(server: FeedServer) -> None:
    server.serve("/feed.xml", b"", status=500, headers=(("Retry-After", "60"),))
    error = await fetch_error(server.url("/feed.xml"))
    assert error.retry_after_s is None


# --- redirects ----------------------------------------------------------------------------------------------


async def test_redirects_are_followed_and_final_url_reported(server: FeedServer) -> None:
    server.redirect("/old", "/moved", status=301)
    server.redirect("/moved", server.url("/feed.xml"), status=307)
    server.serve("/feed.xml", RSS)
    result = await fetch_once(server.url("/old"))
    assert result.body == RSS
    assert result.url == server.url("/old")
    assert result.final_url == server.url("/feed.xml")
    assert [request.path for request in server.requests] == ["/old", "/moved", "/feed.xml"]
    assert all(request.header("User-Agent") == USER_AGENT for request in server.requests)


async def test_validators_are_sent_on_every_hop(server: FeedServer) -> None:
    route = server.serve("/feed.xml", RSS)
    server.redirect("/old", "/feed.xml")
    assert route.etag is not None
    result = await fetch_once(server.url("/old"), etag=route.etag)
    assert result.not_modified is True
    assert server.requests_to("/feed.xml")[0].header("If-None-Match") == route.etag


async def test_exactly_max_redirects_is_allowed(server: FeedServer) -> None:
    for hop in range(5):
        server.redirect(f"/r{hop}", f"/r{hop + 1}")
    server.redirect("/r5", "/feed.xml")
    server.serve("/feed.xml", RSS)
    error = await fetch_error(server.url("/r0"))
    assert str(error) == "too many redirects (more than 5)"
    assert error.permanent
    result = await fetch_once(server.url("/r1"))
    assert result.final_url == server.url("/feed.xml")


async def test_redirect_loop_is_a_clear_permanent_error(server: FeedServer) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    error = await fetch_error(server.url("/a"))
    assert str(error).startswith("redirect loop: ")
    assert server.url("/a") in str(error)
    assert error.permanent
    assert [request.path for request in server.requests] == ["/a", "/b"]


async def test_redirect_to_itself_is_a_loop(server: FeedServer) -> None:
    server.redirect("/a", "/a")
    error = await fetch_error(server.url("/a"))
    assert "redirect loop" in str(error)


@pytest.mark.parametrize("location", ["ftp://example.org/feed", "file:///etc/passwd", "javascript:alert(1)"])
async def test_redirect_to_non_http_scheme_is_refused(server: FeedServer, location: str) -> None:
    server.redirect("/old", location)
    error = await fetch_error(server.url("/old"))
    assert str(error).startswith("redirect refused: ")
    assert "is not an http(s) URL" in str(error)
    assert error.permanent


async def test_redirect_without_location_is_an_error(server: FeedServer) -> None:
    server.serve("/old", b"", status=302, validators=False)
    error = await fetch_error(server.url("/old"))
    assert str(error) == "HTTP 302 Found without a Location header"


# --- address checks -----------------------------------------------------------------------------------------

ONLY_127_0_0_1 = FetchPolicy(allowed_networks=(ipaddress.IPv4Network("127.0.0.1/32"),))


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/feed",
        "http://[::1]:{port}/feed.xml",
        "http://[::ffff:127.0.0.2]:{port}/feed.xml",
    ],
)
async def test_redirect_from_allowed_host_to_refused_address_is_refused(
    server: FeedServer, target: str
) -> None:
    # Only 127.0.0.1 itself is allowed, so the first hop works and each target must be refused.
    server.redirect("/old", target.format(port=server.port))
    error = await fetch_error(server.url("/old"), ONLY_127_0_0_1)
    assert "private and local network addresses are refused" in str(error)
    assert "fetch.allow_private_networks" in str(error)
    assert error.permanent
    assert [request.path for request in server.requests] == ["/old"]


async def test_refused_redirect_target_never_receives_a_connection(server: FeedServer) -> None:
    async with FeedServer(host="127.0.0.2") as other:
        other.serve("/feed.xml", RSS)
        server.redirect("/old", other.url("/feed.xml"))

        error = await fetch_error(server.url("/old"), ONLY_127_0_0_1)
        assert str(error).startswith("refused to connect to 127.0.0.2 for 127.0.0.2: ")
        assert other.requests == ()

        widened = FetchPolicy(allowed_networks=(ipaddress.IPv4Network("127.0.0.0/29"),))
        result = await fetch_once(server.url("/old"), widened)
        assert result.final_url == other.url("/feed.xml")
        assert len(other.requests) == 1


@pytest.mark.parametrize(
    ("template", "address"),
    [
        ("http://127.0.0.1:{port}/feed.xml", "127.0.0.1"),
        ("http://localhost:{port}/feed.xml", "127.0.0.1"),
        ("http://0x7f000001:{port}/feed.xml", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]:{port}/feed.xml", "127.0.0.1"),
        ("http://[::1]:{port}/feed.xml", "::1"),
        ("http://0.0.0.0:{port}/feed.xml", "0.0.0.0"),
    ],
)
async def test_loopback_in_any_spelling_is_refused_by_default(
    server: FeedServer, template: str, address: str
) -> None:
    server.serve("/feed.xml", RSS)
    error = await fetch_error(template.format(port=server.port), PUBLIC_ONLY)
    assert f"refused to connect to {address}" in str(error)
    assert "private and local network addresses are refused" in str(error)
    assert "set fetch.allow_private_networks = true" in str(error)
    assert error.permanent
    assert server.requests == ()


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0177.0.0.1", "127.000.000.001"])
async def test_legacy_numeric_hosts_are_rejected_even_as_redirect_targets(
    server: FeedServer, host: str
) -> None:
    url = f"http://{host}:{server.port}/feed.xml"
    message = f"{url!r} has a numeric host that is not a dotted IPv4 address"
    with pytest.raises(FetchError, match="numeric host") as caught:
        check_feed_url(url)
    assert str(caught.value) == message
    assert caught.value.permanent
    server.redirect("/old", url)
    error = await fetch_error(server.url("/old"), LOCAL)
    assert str(error) == f"redirect refused: {message}"
    assert [request.path for request in server.requests] == ["/old"]


async def test_allow_private_networks_reaches_loopback(server: FeedServer) -> None:
    server.serve("/feed.xml", RSS)
    result = await fetch_once(f"http://localhost:{server.port}/feed.xml", LOCAL)
    assert result.body == RSS


# --- schemes and URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/feed.xml", "'ftp://example.org/feed.xml' is not an http(s) URL"),
        ("file:///etc/passwd", "'file:///etc/passwd' is not an http(s) URL"),
        ("javascript:alert(1)", "'javascript:alert(1)' is not an http(s) URL"),
        ("example.org/feed.xml", "'example.org/feed.xml' is not an http(s) URL"),
        ("", "'' is not an http(s) URL"),
        ("http:///feed.xml", "'http:///feed.xml' has no host name"),
        ("http://example.org:99999/", "'http://example.org:99999/' is not a valid URL"),
    ],
)
async def test_bad_urls_are_permanent_errors_without_any_request(url: str, message: str) -> None:
    with pytest.raises(FetchError) as caught:
        check_feed_url(url)
    assert str(caught.value) == message
    assert caught.value.permanent
    error = await fetch_error(url)
    assert str(error) == message


def test_check_feed_url_normalises_and_rejects_long_urls() -> None:
    assert check_feed_url("  HTTPS://Example.ORG/feed.xml  ") == "https://example.org/feed.xml"
    assert check_feed_url("http://example.org/a b") == "http://example.org/a%20b"
    with pytest.raises(FetchError, match="longer than 2048"):
        check_feed_url("https://example.org/" + "a" * 3000)


# --- limits -------------------------------------------------------------------------------------------------


async def test_slow_server_hits_the_timeout(server: FeedServer) -> None:
    server.serve("/feed.xml", RSS)
    server.hold("/feed.xml", asyncio.Event())  # never set: the server only answers once it closes
    error = await fetch_error(
        server.url("/feed.xml"), FetchPolicy(allow_private_networks=True, timeout_s=0.3)
    )
    assert str(error) == "timed out after 0.3 s"
    assert not error.permanent


async def test_timeout_covers_redirect_chain(server: FeedServer) -> None:
    server.redirect("/old", "/feed.xml")
    server.serve("/feed.xml", RSS, delay_s=5.0)
    error = await fetch_error(server.url("/old"), FetchPolicy(allow_private_networks=True, timeout_s=0.3))
    assert str(error) == "timed out after 0.3 s"


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_body_hits_the_cap(server: FeedServer, chunked: bool) -> None:
    cap = 1024 * 1024
    server.serve("/feed.xml", b"x" * (2 * cap), chunked=chunked)
    policy = FetchPolicy(allow_private_networks=True, max_body_bytes=cap)
    error = await fetch_error(server.url("/feed.xml"), policy)
    assert str(error) == "response body exceeds 1048576 bytes"
    assert not error.permanent


async def test_body_exactly_at_cap_is_accepted(server: FeedServer) -> None:
    server.serve("/feed.xml", b"x" * 4096, chunked=True)
    result = await fetch_once(
        server.url("/feed.xml"), FetchPolicy(allow_private_networks=True, max_body_bytes=4096)
    )
    assert len(result.body) == 4096


async def test_gzip_bomb_is_stopped_by_the_decompressed_cap(server: FeedServer) -> None:
    route = server.serve("/bomb.xml", bytes(50 * 1024 * 1024), encoding="gzip")
    assert len(route.body) < 1024 * 1024  # well under the cap on the wire
    policy = FetchPolicy(allow_private_networks=True, max_body_bytes=1024 * 1024)
    error = await fetch_error(server.url("/bomb.xml"), policy)
    assert str(error) == "response body exceeds 1048576 bytes"


# --- concurrency --------------------------------------------------------------------------------------------


async def test_per_host_limit_is_respected(server: FeedServer) -> None:
    server.serve("/feed.xml", RSS, delay_s=0.05)
    policy = FetchPolicy(allow_private_networks=True, per_host=2, concurrency=50)
    async with Fetcher(policy) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server.url("/feed.xml")) for _ in range(8)))
    assert all(result.body == RSS for result in results)
    assert server.max_in_flight == 2
    assert len(server.requests) == 8


async def test_global_limit_is_respected(server: FeedServer) -> None:
    server.serve("/feed.xml", RSS, delay_s=0.05)
    policy = FetchPolicy(allow_private_networks=True, per_host=10, concurrency=3)
    async with Fetcher(policy) as fetcher:
        await asyncio.gather(*(fetcher.fetch(server.url("/feed.xml")) for _ in range(9)))
    assert server.max_in_flight == 3


# --- connection failures ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_connection_refused_is_a_plain_transient_error() -> None:
    port = free_port()
    error = await fetch_error(f"http://127.0.0.1:{port}/feed.xml")
    assert str(error) == f"connection refused by 127.0.0.1:{port}"
    assert not error.permanent
    assert error.status is None


@pytest.fixture
def self_signed_tls(tmp_path: Path) -> ssl.SSLContext:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found: cannot make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"]
    subprocess.run(command, check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_tls_failure_is_reported_as_tls_error(self_signed_tls: ssl.SSLContext) -> None:
    async with FeedServer(ssl_context=self_signed_tls) as tls_server:
        tls_server.serve("/feed.xml", RSS)
        error = await fetch_error(tls_server.url("/feed.xml"))
    assert str(error).startswith("TLS error: ")
    assert "certificate" in str(error)
    assert not error.permanent


async def test_closed_fetcher_refuses_to_fetch(server: FeedServer) -> None:
    fetcher = Fetcher(LOCAL)
    await fetcher.close()
    with pytest.raises(FetchError, match="closed"):
        await fetcher.fetch(server.url("/feed.xml"))


@pytest.mark.parametrize(
    "policy_args",
    [{"timeout_s": 0.0}, {"max_body_bytes": 0}, {"max_redirects": -1}, {"concurrency": 0}, {"per_host": 0}],
)
def test_invalid_policy_is_a_config_error(policy_args: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=r"^fetch\."):
        FetchPolicy(**policy_args)  # type: ignore[arg-type]


# --- pure helpers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
        ("::ffff:8.8.8.8", False),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("172.31.255.254", True),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("100.127.255.254", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("255.255.255.255", True),
        ("224.0.0.251", True),
        ("240.0.0.1", True),
        ("192.0.2.1", True),
        ("198.18.0.1", True),
        ("::1", True),
        ("::", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:169.254.169.254", True),
        ("fc00::1", True),
        ("fd12:3456::1", True),
        ("fe80::1", True),
        ("fec0::1", True),
        ("ff02::1", True),
        ("2001:db8::1", True),
        ("64:ff9b::7f00:1", True),
        ("64:ff9b::808:808", False),
        ("2002:7f00:1::", True),
        ("2002:808:808::", False),
    ],
)
def test_is_refused_address(address: str, refused: bool) -> None:
    assert is_refused_address(ipaddress.ip_address(address)) is refused


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 45 ", 45.0),
        ("Sat, 01 Mar 2025 12:02:00 GMT", 120.0),
        ("Saturday, 01-Mar-25 12:01:00 GMT", 60.0),
        ("Sat Mar  1 12:00:30 2025", 30.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),
        ("-5", None),
        ("1.5", None),
        ("", None),
        ("soon", None),
        ("Sat, 99 Foo 2025", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("failures", "interval_s", "low", "high"),
    [
        (0, 900, 900, 900),
        (1, 900, 1440, 1800),
        (2, 900, 2880, 3600),
        (3, 900, 5760, 7200),
        (10, 900, 0.8 * MAX_BACKOFF_S, MAX_BACKOFF_S),
        (10_000, 900, 0.8 * MAX_BACKOFF_S, MAX_BACKOFF_S),
        (1, 60, 96, 120),
        (3, 7 * 86400, 7 * 86400, 7 * 86400),
    ],
)
def test_failure_backoff_doubles_caps_and_jitters(
    failures: int, interval_s: int, low: float, high: float
) -> None:
    rng = random.Random(7)
    delays = [failure_backoff_s(failures, interval_s=interval_s, rng=rng) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    if low < high:
        assert len(set(delays)) > 100  # jitter spreads feeds that failed together


def test_failure_backoff_is_deterministic_for_a_seed_and_rejects_nonsense() -> None:
    first = failure_backoff_s(4, interval_s=300, rng=random.Random(1))
    assert first == failure_backoff_s(4, interval_s=300, rng=random.Random(1))
    with pytest.raises(ValueError):
        failure_backoff_s(-1, interval_s=300, rng=random.Random(1))
    with pytest.raises(ValueError):
        failure_backoff_s(1, interval_s=0, rng=random.Random(1))


STATE = FeedState(
    id=1, url="https://example.org/feed.xml", name="Example", interval_s=600, consecutive_failures=2
)


@pytest.mark.parametrize(
    ("error", "low_s", "high_s"),
    [
        (None, 600, 600),
        (FetchError("HTTP 500 Internal Server Error", status=500), 0.8 * 600 * 8, 600 * 8),
        (FetchError("HTTP 429 Too Many Requests", status=429, retry_after_s=30), 0.8 * 600 * 8, 600 * 8),
        (FetchError("HTTP 503 Service Unavailable", status=503, retry_after_s=36_000), 36_000, 36_000),
        (
            FetchError("HTTP 503 Service Unavailable", retry_after_s=10**9),
            MAX_RETRY_AFTER_S,
            MAX_RETRY_AFTER_S,
        ),
    ],
)
def test_next_poll_after(error: FetchError | None, low_s: float, high_s: float) -> None:
    when = next_poll_after(STATE, error, now=NOW, rng=random.Random(3))
    assert NOW + timedelta(seconds=low_s) <= when <= NOW + timedelta(seconds=high_s)


def test_next_poll_after_wants_an_aware_now() -> None:
    with pytest.raises(ValueError):
        next_poll_after(STATE, None, now=datetime(2025, 1, 1), rng=random.Random(0))
