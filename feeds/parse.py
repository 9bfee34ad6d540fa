"""Turn a fetched RSS/Atom body into normalised ``Item`` values.

The only module that imports ``feedparser`` and ``fastfeedparser``. ``fastfeedparser`` is tried
first (several times faster); ``feedparser`` is the reference and the fallback. Both paths read
the same raw fields and go through the same normalisation, so they yield identical items. The
fast path is skipped, and feedparser parses instead, wherever the two could read a body apart:

- the charset is in doubt (Content-Type charset differs from the XML declaration, bytes not valid
  in the declared or default UTF-8, UTF-16, multi-byte legacy encodings) - feedparser sniffs;
- the XML is not well-formed - feedparser's loose parser and libxml2's recovery differ, and
  feedparser reports the problem as ``ParsedFeed.warning``;
- the document uses ``xml:base``, which fastfeedparser ignores;
- items carry namespaced look-alikes (``atom:link``, ``media:title``, ``itunes:author``...):
  fastfeedparser takes the first child with a field's local name in any namespace;
- an entry has content but no description (fastfeedparser synthesises a truncated one), or no
  date element but a non-URL guid (fastfeedparser tries to read the guid as a date);
- fastfeedparser raises, finds no entries or no feed title.

The feed language is read from the document head by this module for both paths, since
fastfeedparser ignores RSS ``<language>``. JSON Feed is refused on both paths (feedparser
cannot read it).
"""

from __future__ import annotations

import codecs
import io
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from xml.parsers import expat

from feeds.errors import ParseError
from feeds.models import Item
from feeds.normalize import (
    canonical_url,
    content_hash,
    html_to_text,
    item_identity,
    normalize_text,
    parse_date,
    published_or_fetch_time,
)

__all__ = ["ParsedFeed", "ParserChoice", "ParserName", "parse_feed"]

ParserChoice = Literal["auto", "fast", "feedparser"]
ParserName = Literal["fastfeedparser", "feedparser"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedFeed:
    """A parsed feed: its title, its normalised items, a warning when it was malformed but usable."""

    title: str
    items: tuple[Item, ...]
    warning: str | None
    parser: ParserName
    skipped_entries: int = 0  # entries dropped for having no title, summary or link

    def __reduce__(self) -> tuple[object, ...]:
        # Compiled (setup.py), a frozen dataclass cannot be rebuilt by pickle's default attribute setting.
        return (_parsed_feed, (self.title, self.items, self.warning, self.parser, self.skipped_entries))


def _parsed_feed(
    title: str, items: tuple[Item, ...], warning: str | None, parser: ParserName, skipped_entries: int
) -> ParsedFeed:
    return ParsedFeed(
        title=title, items=items, warning=warning, parser=parser, skipped_entries=skipped_entries
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _RawEntry:
    """One entry's fields as a parser gave them, before normalisation."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str
    content_html: str
    dates: tuple[str | datetime, ...]  # raw date strings, or datetimes a parser already decoded
    author: str | None


_HEAD_BYTES = 65536
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:\-]+)["']""")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:\-]+)""", re.IGNORECASE)
_FIRST_ENTRY = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(?:item|entry)[\s>/]")
_LANGUAGE_ELEMENT = re.compile(
    rb"<(?:[A-Za-z_][\w.\-]*:)?language\s*>\s*([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*)\s*<"
)
# Local names of item children fastfeedparser would take for an RSS field, and of the date elements.
_RSS_FIELD_NAMES = frozenset(
    {
        b"title", b"link", b"description", b"summary", b"guid", b"author", b"creator", b"pubdate",
        b"published", b"issued", b"date", b"updated", b"modified", b"lastbuilddate", b"id",
    }
)  # fmt: skip
_DATE_NAMES = frozenset({b"pubdate", b"date", b"published", b"updated", b"issued", b"modified"})
_CONTENT_NAMES = frozenset({b"content", b"encoded"})  # matched case-sensitively, unlike the others
_PREFIXED_FIELDS_READ_ALIKE = frozenset({(b"dc", b"creator"), (b"dc", b"date")})
# The start tags of item children that _fast_result_blocker looks at, all found in one scan (a scan of
# 100 KB costs as much as normalising a few items): groups (prefix, local name, "", next byte) for a
# namespaced RSS field or content element, ("", "", local name, next byte) for an unprefixed date,
# author or content element. A prefixed element only ever matches with its prefix: its first name is
# followed by ":", which the unprefixed branch does not accept. The lookahead (end tags fail at once)
# and the possessive prefix (which cannot hold the ":" that follows it) change nothing but the speed.
_ITEM_CHILD = re.compile(
    rb"<(?=[A-Za-z_])(?:([A-Za-z_][\w.\-]*+):(" + b"|".join(sorted(_RSS_FIELD_NAMES | _CONTENT_NAMES)) + rb")"
    rb"|(" + b"|".join(sorted(_DATE_NAMES | _CONTENT_NAMES | {b"author"})) + rb"))([\s>/])",
    re.IGNORECASE,
)
_DATE_ELEMENT = re.compile(
    rb"<(?:[A-Za-z_][\w.\-]*:)?(?:pubDate|date|published|updated|issued|modified)[\s>]", re.IGNORECASE
)
_ITEM_CHUNK = re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?(?:item|entry))[\s>].*?</\1\s*>", re.DOTALL)
_XML_LANG = re.compile(rb"""\sxml:lang\s*=\s*["']([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*)["']""")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]", re.I | re.S)


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    source: str,
    fetched_at: datetime,
    content_type: str | None = None,
    parser: ParserChoice = "auto",
) -> ParsedFeed:
    """Parse an RSS/Atom ``body`` fetched from ``feed_url`` into items labelled with ``source``.

    Raises ``ParseError`` when the body is not a feed at all; a valid feed without entries gives
    no items. ``parser`` forces one path ("fast" raises ``ParseError`` where it cannot be used).
    """
    fetched_at = fetched_at.replace(tzinfo=UTC) if fetched_at.tzinfo is None else fetched_at.astimezone(UTC)
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError("not an RSS/Atom feed: the document is empty")
    if stripped[:1] in (b"{", b"["):
        raise ParseError("not an RSS/Atom feed: the document is JSON, not XML")
    language = _declared_language(body)
    context = _Context(feed_url=feed_url, source=source, fetched_at=fetched_at, language=language)
    if parser == "feedparser":
        return _parse_with_feedparser(body, content_type, context)
    fast_blocker = _fast_path_blocker(body, content_type)
    if fast_blocker is None:
        fast = _parse_with_fastfeedparser(body, context)
        if isinstance(fast, ParsedFeed):
            return fast
        fast_blocker = fast
    if parser == "fast":
        raise ParseError(f"fastfeedparser cannot be used for {feed_url}: {fast_blocker}")
    return _parse_with_feedparser(body, content_type, context)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    feed_url: str
    source: str
    fetched_at: datetime
    language: str | None


# ---------------------------------------------------------------------------------------------------------
# Choosing a path
# ---------------------------------------------------------------------------------------------------------


def _codec_name(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _fast_path_blocker(body: bytes, content_type: str | None) -> str | None:
    """Why fastfeedparser could read this body differently from feedparser, or None."""
    head = body[:_HEAD_BYTES]
    if b"xml:base" in body:
        return "the document uses xml:base"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:4]:
        return "the document is UTF-16/32"
    declared_match = _XML_DECL_ENCODING.match(head.removeprefix(b"\xef\xbb\xbf"))
    declared = _codec_name(declared_match.group(1).decode("ascii")) if declared_match else "utf-8"
    if declared is None:
        return "the declared encoding is unknown"
    header_match = _HEADER_CHARSET.search(content_type or "")
    if header_match is not None and _codec_name(header_match.group(1)) != declared:
        return "the Content-Type charset differs from the document's"
    # feedparser reads malformed XML with its own loose parser, fastfeedparser with libxml2's
    # recovery; they can disagree, so malformed documents go to the reference (which also warns).
    # Expat also rejects bytes that are not the UTF-8 a document declares, so no separate decode is needed
    # to find those: only to say so.
    checker = expat.ParserCreate()
    try:
        checker.Parse(body, True)
    except expat.ExpatError as e:
        if declared == "utf-8" and not _is_utf8(body):
            return "the bytes are not the UTF-8 the document declares"
        return f"the document is not well-formed XML ({e})"
    except ValueError as e:  # expat reads no multi-byte legacy encodings (gb2312, shift_jis...)
        return f"the document's encoding needs transcoding ({e})"
    return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _declared_language(body: bytes) -> str | None:
    """The feed-level language: RSS <language>/<dc:language> in the head, else xml:lang on the root."""
    head = body[:_HEAD_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", "replace").encode("utf-8")
    first_entry = _FIRST_ENTRY.search(head)
    if first_entry is not None:
        head = head[: first_entry.start()]
    match = _LANGUAGE_ELEMENT.search(head) or _XML_LANG.search(head)
    if match is None:
        return None
    return match.group(1).decode("ascii").lower().replace("_", "-")


# ---------------------------------------------------------------------------------------------------------
# The two parsers
# ---------------------------------------------------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _first_content(entry: Any) -> str:
    contents = entry.get("content")
    if isinstance(contents, Sequence) and contents and hasattr(contents[0], "get"):
        return _text(contents[0].get("value"))
    return ""


def _parse_with_fastfeedparser(body: bytes, context: _Context) -> ParsedFeed | str:
    """The parsed feed, or why the fast path could not be trusted on this body."""
    # Imported on first use, as feedparser below: the main process of a bot with parse workers never
    # parses, and the two parsers with lxml take ~10 MB (a parse worker loads them at its warm-up).
    import fastfeedparser

    try:
        # bytes, never str: fastfeedparser fetches a str that starts with http(s)://
        parsed = fastfeedparser.parse(
            body, include_content=False, include_tags=False, include_media=False, include_enclosures=False
        )
        entries = list(parsed.get("entries") or ())
        feed = parsed.get("feed") or {}
    except Exception as e:  # a third-party parser on hostile input: any failure means "use feedparser"
        return f"fastfeedparser failed: {e}"[:300]
    blocker = _fast_result_blocker(body, entries, feed)
    if blocker is not None:
        return blocker
    raw_entries = [
        _RawEntry(
            guid=_optional_text(entry.get("id")),
            link=_optional_text(entry.get("link")),
            title=_text(entry.get("title")),
            summary_html=_text(entry.get("description")),
            content_html="",
            dates=tuple(d for d in (entry.get("published"), entry.get("updated")) if isinstance(d, str)),
            author=_optional_text(entry.get("author")),
        )
        for entry in entries
    ]
    items, skipped = _build_items(raw_entries, context)
    return ParsedFeed(
        title=_feed_title(feed.get("title")),
        items=items,
        skipped_entries=skipped,
        warning=None,
        parser="fastfeedparser",
    )


def _fast_result_blocker(body: bytes, entries: Sequence[Any], feed: Any) -> str | None:
    """Why fastfeedparser's reading of this body may differ from feedparser's, or None.

    fastfeedparser takes an item field from the first child with that local name in any namespace,
    synthesises a truncated description from content, and dates items from their guid.
    """
    if not entries:
        return "fastfeedparser found no entries"
    if not _text(feed.get("title")).strip():
        return "fastfeedparser found no feed title"
    first_entry = _FIRST_ENTRY.search(body)
    items_start = first_entry.start() if first_entry is not None else 0
    children = _ItemChildren.scan(body, items_start)
    if children.prefixed_fields - _PREFIXED_FIELDS_READ_ALIKE:
        return "entries carry namespaced elements fastfeedparser confuses with RSS ones"
    if (b"dc", b"creator") in children.prefixed_fields and children.has_plain_author:
        return "entries have both <author> and <dc:creator>"
    if children.has_content and any(not _text(e.get("description")).strip() for e in entries):
        return "an entry has content but no description"
    if children.date_elements < len(entries) and _dated_from_guid(body[items_start:], entries):
        return "an entry without a date element has a guid fastfeedparser may read as a date"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _ItemChildren:
    """What _fast_result_blocker needs to know about the elements in a feed's items."""

    prefixed_fields: frozenset[tuple[bytes, bytes]]  # (prefix, local name) of namespaced RSS fields, lowered
    has_plain_author: bool  # an <author> element
    has_content: bool  # an element named content or encoded, namespaced or not
    date_elements: int

    @classmethod
    def scan(cls, body: bytes, start: int) -> _ItemChildren:
        """Read from ``start``, where the first item begins."""
        prefixed: set[tuple[bytes, bytes]] = set()
        has_plain_author = has_content = False
        date_elements = 0
        for prefix, prefixed_name, plain_name, next_byte in _ITEM_CHILD.findall(body, start):
            name = prefixed_name or plain_name
            folded = name.lower()
            if prefix and folded in _RSS_FIELD_NAMES:
                prefixed.add((prefix.lower(), folded))
            if name in _CONTENT_NAMES:
                has_content = True
            elif folded in _DATE_NAMES:
                date_elements += next_byte != b"/"
            elif name == b"author" and not prefix:
                has_plain_author = has_plain_author or next_byte != b"/"
        return cls(
            prefixed_fields=frozenset(prefixed),
            has_plain_author=has_plain_author,
            has_content=has_content,
            date_elements=date_elements,
        )


def _dated_from_guid(items_part: bytes, entries: Sequence[Any]) -> bool:
    """Whether fastfeedparser may have dated an entry that has no date element from its guid."""
    chunks = [m.group(0) for m in _ITEM_CHUNK.finditer(items_part)]
    if len(chunks) != len(entries):
        return True
    for chunk, entry in zip(chunks, entries, strict=True):
        guid = _text(entry.get("id"))
        if (
            _DATE_ELEMENT.search(chunk) is None
            and guid
            and guid != entry.get("link")
            and not guid.startswith(("http://", "https://"))
        ):
            return True
    return False


def _struct_time_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _feedparser_dates(entry: dict[str, Any]) -> tuple[str | datetime, ...]:
    dates: list[str | datetime] = []
    for key in ("published", "updated"):
        # dict.get: FeedParserDict.get("updated") answers with "published" (and warns) when absent
        raw = dict.get(entry, key)
        if isinstance(raw, str):
            dates.append(raw)
        decoded = _struct_time_to_datetime(dict.get(entry, key + "_parsed"))
        if decoded is not None:
            dates.append(decoded)
    return tuple(dates)


def _parse_with_feedparser(body: bytes, content_type: str | None, context: _Context) -> ParsedFeed:
    # No content-location: feedparser would then also "resolve" relative guids into URLs. Links are
    # resolved against the feed URL by canonical_url, as on the fast path.
    headers = {"content-type": content_type} if content_type else {}
    import feedparser  # on first use, as fastfeedparser above

    try:
        # A stream, never bare bytes: feedparser would open() bytes that happen to name a local file.
        parsed = feedparser.parse(
            io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as e:  # feedparser catches its own errors; anything left is a bug we must not leak
        raise ParseError(f"not an RSS/Atom feed: the parser failed ({e})") from e
    entries = list(parsed.get("entries") or ())
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries and not parsed.get("version"):
        raise ParseError(f"not an RSS/Atom feed: {_not_a_feed_reason(body, problem)}")
    raw_entries = [
        _RawEntry(
            guid=_optional_text(entry.get("id")),
            link=_optional_text(entry.get("link")),
            title=_text(entry.get("title")),
            summary_html=_text(entry.get("summary")),
            content_html=_first_content(entry),
            dates=_feedparser_dates(entry),
            author=_optional_text(entry.get("author")),
        )
        for entry in entries
    ]
    warning = f"the feed is malformed but was read anyway: {problem}" if problem is not None else None
    items, skipped = _build_items(raw_entries, context)
    return ParsedFeed(
        title=_feed_title(parsed.get("feed", {}).get("title")),
        items=items,
        skipped_entries=skipped,
        warning=warning,
        parser="feedparser",
    )


def _not_a_feed_reason(body: bytes, problem: object) -> str:
    if _HTML_START.match(body[:4096]):
        return "it is an HTML page"
    if problem is not None:
        return f"it is not well-formed XML ({problem})"
    return "no RSS or Atom elements found"


# ---------------------------------------------------------------------------------------------------------
# Normalisation shared by both paths
# ---------------------------------------------------------------------------------------------------------


def _feed_title(value: object) -> str:
    return normalize_text(html_to_text(_text(value)))


def _first_date(dates: Iterable[str | datetime]) -> datetime | None:
    for value in dates:
        decoded = parse_date(value) if isinstance(value, str) else value
        if decoded is not None:
            return decoded
    return None


def _build_items(raw_entries: Iterable[_RawEntry], context: _Context) -> tuple[tuple[Item, ...], int]:
    """The normalised items, and how many entries were skipped for having no title, summary or link."""
    items: list[Item] = []
    skipped = 0
    for raw in raw_entries:
        title = normalize_text(html_to_text(raw.title))
        summary = html_to_text(raw.summary_html) or html_to_text(raw.content_html)
        guid = normalize_text(raw.guid) if raw.guid else None
        link = raw.link
        if link is None and guid is not None and guid.startswith(("http://", "https://")):
            link = guid  # feedparser does so for permalink guids, fastfeedparser for any URL-like guid
        url = canonical_url(link, base=context.feed_url) if link else None
        if not title and not summary and url is None:
            skipped += 1
            continue
        # A guid that is just the link says nothing more (fastfeedparser even invents one from the
        # link); identity then rests on the canonical URL, the same on both parser paths.
        # Cheapest test first: normalize_text(link) costs most on the "&" of a query.
        if guid is not None and (
            raw.guid == link  # so guid == normalize_text(link)
            or (url is not None and "/" in guid and canonical_url(guid, base=context.feed_url) == url)
            or guid == normalize_text(link or "")
        ):
            guid = None
        published, estimated = published_or_fetch_time(_first_date(raw.dates), fetched_at=context.fetched_at)
        digest = content_hash(title, summary, normalized=True)
        author = normalize_text(raw.author) if raw.author else ""
        items.append(
            Item(
                identity=item_identity(guid, url, digest),
                guid=guid or None,
                url=url,
                title=title,
                summary=summary,
                published=published,
                published_estimated=estimated,
                content_hash=digest,
                source=context.source,
                language=context.language,
                author=author or None,
            )
        )
    return tuple(items), skipped
