"""Build small RSS 2.0 documents for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True, slots=True, kw_only=True)
class RssEntry:
    """One <item> of a test feed."""

    guid: str
    title: str
    summary: str
    link: str
    published: datetime


def rss_document(title: str, entries: list[RssEntry]) -> bytes:
    """An RSS 2.0 document with these entries, UTF-8 encoded."""
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>{escape(e.link)}</link>"
        f'<guid isPermaLink="false">{escape(e.guid)}</guid>'
        f"<pubDate>{format_datetime(e.published)}</pubDate>"
        f"<description>{escape(e.summary)}</description></item>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link><description>test</description>"
        f"{items}</channel></rss>"
    ).encode()
