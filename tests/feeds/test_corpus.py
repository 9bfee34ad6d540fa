"""Every real-world feed in ../shared/corpus/real parses to the items its MANIFEST.tsv counts.

The corpus includes malformed, mis-declared and legacy-encoded feeds on purpose. MANIFEST.tsv
counts entries as feedparser sees them; parse_feed drops entries with no title, summary or link
and reports how many in ``skipped_entries``, so items + skipped must equal the manifest count.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from feeds.errors import ParseError
from feeds.normalize import _scan_plain_markup, _TextExtractor, canonical_url, normalize_text
from feeds.parse import ParsedFeed, ParserChoice, parse_feed

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CORPUS = SHARED / "corpus" / "real"
MANIFEST = CORPUS / "MANIFEST.tsv"
MISSING = f"../shared not found: no corpus manifest at {MANIFEST}"
FETCHED = datetime(2030, 1, 1, tzinfo=UTC)

# Entries that carry nothing at all (empty <title>, <link> and <description>).
EMPTY_ENTRIES = {"cerclepsy_no-xmldecl_iso8859-1_miniflux.xml": 1}
# Files whose manifest feed_title is not a channel title.
NO_CHANNEL_TITLE = {
    "digitalministerium_iso8859_feedrs.xml"
}  # no <channel>; the manifest gives the item title


def manifest_rows() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


ROWS = manifest_rows()
FILES = [pytest.param(row, id=row["filename"]) for row in ROWS] or [
    pytest.param({}, id="corpus", marks=pytest.mark.skip(reason=MISSING))
]


def parse(row: dict[str, str], parser: ParserChoice = "auto") -> ParsedFeed:
    body = (CORPUS / row["filename"]).read_bytes()
    return parse_feed(
        body,
        feed_url=f"https://feeds.example.org/{row['filename']}",
        source=row["filename"],
        fetched_at=FETCHED,
        parser=parser,
    )


@pytest.mark.parametrize("row", FILES)
def test_corpus_file_yields_the_manifest_count(row: dict[str, str]) -> None:
    feed = parse(row)
    assert feed.skipped_entries == EMPTY_ENTRIES.get(row["filename"], 0)
    assert len(feed.items) + feed.skipped_entries == int(row["item_count"])


@pytest.mark.parametrize("row", FILES)
def test_corpus_items_are_normalised(row: dict[str, str]) -> None:
    feed = parse(row)
    if row["filename"] not in NO_CHANNEL_TITLE:
        assert feed.title.startswith(normalize_text(row["feed_title"]))
    for item in feed.items:
        assert item.identity.split(":", 1)[0] in {"guid", "url", "hash"}
        assert item.url is None or canonical_url(item.url) == item.url
        assert item.published.tzinfo is UTC and item.published <= FETCHED
        assert item.title == normalize_text(item.title)
        for text in (item.title, item.summary):
            assert "\ufffd" not in text  # every legacy encoding was decoded
            assert not any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in text)
        assert item.source == row["filename"]


@pytest.mark.parametrize("row", FILES)
def test_fast_and_reference_paths_give_identical_items(row: dict[str, str]) -> None:
    reference = parse(row, parser="feedparser")
    try:
        fast = parse(row, parser="fast")
    except ParseError as e:
        pytest.skip(f"fast path not used here: {e}")
    assert fast.parser == "fastfeedparser"
    assert fast.items == reference.items
    assert fast.title == reference.title


def test_fast_path_serves_most_of_the_corpus() -> None:
    if not ROWS:
        pytest.skip(MISSING)
    used = [row["filename"] for row in ROWS if parse(row).parser == "fastfeedparser"]
    assert len(used) >= len(ROWS) // 2, used


@pytest.mark.parametrize("row", FILES)
def test_plain_markup_shortcut_gives_what_htmlparser_gives_on_real_html(row: dict[str, str]) -> None:
    body = (CORPUS / row["filename"]).read_bytes()
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    for entry in parsed.entries:
        contents = [content.get("value", "") for content in entry.get("content", [])]
        for html in (entry.get("title", ""), entry.get("summary", ""), *contents):
            scanned = _scan_plain_markup(html)
            if scanned is None:
                continue
            parser = _TextExtractor()
            parser.feed(html)
            parser.close()
            assert "".join(scanned[0]) == "".join(parser.pieces), html


def test_plain_markup_shortcut_serves_most_real_html() -> None:
    if not ROWS:
        pytest.skip(MISSING)
    plain = marked_up = 0
    for row in ROWS:
        body = (CORPUS / row["filename"]).read_bytes()
        parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
        for entry in parsed.entries:
            summary = entry.get("summary", "")
            if "<" in summary:
                marked_up += 1
                plain += _scan_plain_markup(summary) is not None
    assert marked_up > 0 and plain >= marked_up * 0.8, (plain, marked_up)
