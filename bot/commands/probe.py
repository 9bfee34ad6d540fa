"""Fetching a feed once before it is added, to tell the admin at once whether it works and what it holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from feeds.fetch import Fetcher
from feeds.parse import parse_feed


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """What one fetch and parse of a feed found: its final URL, title, item count and first item titles."""

    url: str
    final_url: str
    title: str
    item_count: int
    first_titles: tuple[str, ...]
    warning: str | None = None


# Raises FetchError or ParseError with a message fit for the admin when the URL is not a usable feed.
FeedProbe = Callable[[str], Awaitable[ProbeResult]]


def fetcher_probe(fetcher: Fetcher, *, clock: Callable[[], datetime], titles: int = 3) -> FeedProbe:
    """A probe fetching through ``fetcher`` (its limits and address checks), parsing in a worker thread."""

    async def probe(url: str) -> ProbeResult:
        result = await fetcher.fetch(url)
        source = urlsplit(result.final_url).hostname or result.final_url
        parsed = await asyncio.to_thread(
            parse_feed, result.body, feed_url=result.final_url, source=source, fetched_at=clock(),
            content_type=result.content_type,
        )
        return ProbeResult(
            url=url,
            final_url=result.final_url,
            title=parsed.title.strip(),
            item_count=len(parsed.items),
            first_titles=tuple(item.title for item in parsed.items[:titles]),
            warning=parsed.warning,
        )

    return probe
