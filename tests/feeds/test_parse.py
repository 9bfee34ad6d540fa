"""Tests for feeds.parse: RSS/Atom bodies in, normalised items out, on both parser paths."""

from __future__ import annotations

import pickle
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import ParseError
from feeds.models import Item
from feeds.normalize import content_hash
from feeds.parse import ParsedFeed, ParserChoice, _fast_path_blocker, _ItemChildren, parse_feed

FETCHED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FEED_URL = "https://news.example.org/world/feed.xml"


def parse(
    body: bytes | str,
    *,
    parser: ParserChoice = "auto",
    content_type: str | None = None,
    feed_url: str = FEED_URL,
) -> ParsedFeed:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return parse_feed(
        data,
        feed_url=feed_url,
        source="Example News",
        fetched_at=FETCHED,
        content_type=content_type,
        parser=parser,
    )


def parse_both(body: bytes | str, **kwargs: str) -> ParsedFeed:
    """Parse on the reference path and, where it applies, the fast path; both must agree."""
    reference = parse(body, parser="feedparser", **kwargs)
    auto = parse(body, parser="auto", **kwargs)
    assert auto.items == reference.items
    assert auto.title == reference.title
    return reference


RSS20 = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>World &amp; Diplomacy</title>
  <link>https://news.example.org/world/</link>
  <description>Diplomatic news</description>
  <language>en-GB</language>
  <item>
    <title>Foreign ministers meet in &lt;b&gt;Geneva&lt;/b&gt;</title>
    <link>https://news.example.org/world/geneva-talks?utm_source=rss&amp;utm_medium=feed&amp;id=42</link>
    <guid isPermaLink="false">news-example-42</guid>
    <description><![CDATA[<p>Envoys met on <b>Monday</b>.</p><p>Talks&nbsp;continue.</p>]]></description>
    <pubDate>Sat, 01 Mar 2025 09:30:00 GMT</pubDate>
    <dc:creator>Jane Doe</dc:creator>
  </item>
  <item>
    <title>Embassy reopens</title>
    <link>/world/embassy-reopens</link>
    <description>The embassy reopened after three years.</description>
    <pubDate>Fri, 28 Feb 2025 18:00:00 +0100</pubDate>
  </item>
  <item>
    <title>Summit date set</title>
    <link>javascript:openStory(7)</link>
    <description>Leaders agree to meet in June.</description>
  </item>
  <item>
    <title>Sanctions announced</title>
    <link>https://news.example.org/world/sanctions</link>
    <description>New measures take effect next week.</description>
    <pubDate>Sat, 01 Mar 2025 23:00:00 GMT</pubDate>
  </item>
</channel>
</rss>
"""


@pytest.mark.parametrize("parser", ["auto", "fast", "feedparser"])
def test_rss20_items_are_normalised(parser: ParserChoice) -> None:
    feed = parse(RSS20, parser=parser)
    assert feed.title == "World & Diplomacy"
    assert feed.warning is None
    assert feed.parser == ("feedparser" if parser == "feedparser" else "fastfeedparser")
    first, relative, scripted, future = feed.items
    assert first == Item(
        identity="guid:news-example-42",
        guid="news-example-42",
        url="https://news.example.org/world/geneva-talks?id=42",
        title="Foreign ministers meet in Geneva",
        summary="Envoys met on Monday.\nTalks continue.",
        published=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        published_estimated=False,
        content_hash=content_hash(
            "Foreign ministers meet in Geneva", "Envoys met on Monday.\nTalks continue."
        ),
        source="Example News",
        language="en-gb",
        author="Jane Doe",
    )
    # relative link resolved against the feed URL; identity falls back to the canonical URL
    assert relative.url == "https://news.example.org/world/embassy-reopens"
    assert relative.identity == "url:https://news.example.org/world/embassy-reopens"
    assert relative.published == datetime(2025, 2, 28, 17, 0, tzinfo=UTC)
    assert relative.author is None
    # javascript: link dropped; no date -> fetch time, estimated; identity from the content hash
    assert scripted.url is None
    assert (scripted.published, scripted.published_estimated) == (FETCHED, True)
    assert scripted.identity == "hash:" + content_hash("Summit date set", "Leaders agree to meet in June.")
    # dated eleven hours after the fetch -> estimated
    assert (future.published, future.published_estimated) == (FETCHED, True)


RSS10 = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://news.example.org/">
    <title>RDF News</title>
    <link>https://news.example.org/</link>
    <description>RSS 1.0</description>
    <dc:language>de</dc:language>
  </channel>
  <item rdf:about="https://news.example.org/a?wt_mc=rss.ho.beitrag">
    <title>Botschafter einbestellt</title>
    <link>https://news.example.org/a?wt_mc=rss.ho.beitrag</link>
    <description>Das Auswärtige Amt hat den Botschafter einbestellt.</description>
    <dc:date>2025-02-27T10:15:00+01:00</dc:date>
    <dc:creator>Redaktion</dc:creator>
  </item>
</rdf:RDF>
"""


def test_rss10_rdf() -> None:
    feed = parse_both(RSS10)
    assert feed.title == "RDF News"
    (item,) = feed.items
    assert item.url == "https://news.example.org/a"
    assert item.guid is None  # the rdf:about is the link itself
    assert item.identity == "url:https://news.example.org/a"
    assert item.published == datetime(2025, 2, 27, 9, 15, tzinfo=UTC)
    assert (item.language, item.author) == ("de", "Redaktion")


RSS090 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/">
  <channel>
    <title>heise online News</title>
    <link>https://www.heise.de/newsticker/</link>
    <description>Nachrichten</description>
  </channel>
  <item>
    <title>Neue Sanktionen gegen Russland</title>
    <link>https://www.heise.de/news/x.html?wt_mc=rss.red.ho.ho.rdf.beitrag.beitrag</link>
  </item>
</rdf:RDF>
"""


def test_rss090_rdf_falls_back_to_feedparser() -> None:
    feed = parse(RSS090)
    assert feed.parser == "feedparser"
    (item,) = feed.items
    assert (item.title, item.summary, item.url) == (
        "Neue Sanktionen gegen Russland",
        "",
        "https://www.heise.de/news/x.html",
    )
    assert item.published_estimated


RSS091 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91">
  <channel>
    <title>Tribunal de Justi\xe7a</title>
    <link>https://www.tj.example.br/</link>
    <description>Not\xedcias</description>
    <language>pt-br</language>
    <item>
      <title>Decis\xe3o sobre extradi\xe7\xe3o</title>
      <link>https://www.tj.example.br/noticia/1</link>
      <description>O tribunal decidiu hoje.</description>
    </item>
  </channel>
</rss>
""".encode("latin-1")


def test_rss091_latin1() -> None:
    feed = parse_both(RSS091)
    assert feed.title == "Tribunal de Justiça"
    (item,) = feed.items
    assert (item.title, item.language) == ("Decisão sobre extradição", "pt-br")


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">
  <title type="html">Diplomatie &amp;amp; monde</title>
  <id>urn:uuid:feed</id>
  <updated>2025-02-28T12:00:00Z</updated>
  <link rel="self" href="https://news.example.org/atom"/>
  <entry>
    <title>Accord sign\u00e9 \u00e0 Paris</title>
    <id>urn:uuid:entry-1</id>
    <link rel="alternate" type="text/html" href="/monde/accord?fbclid=abc"/>
    <published>2025-02-28T08:00:00+01:00</published>
    <updated>2025-02-28T09:00:00+01:00</updated>
    <summary type="html">&lt;p&gt;Les ministres ont sign\u00e9.&lt;/p&gt;</summary>
    <author><name>Marie Curie</name></author>
  </entry>
  <entry>
    <title>Mise \u00e0 jour</title>
    <id>urn:uuid:entry-2</id>
    <link href="https://news.example.org/monde/maj"/>
    <updated>2025-02-27T09:00:00Z</updated>
    <summary>Texte simple.</summary>
  </entry>
</feed>
"""


def test_atom() -> None:
    feed = parse_both(ATOM, feed_url="https://news.example.org/atom")
    assert feed.title == "Diplomatie & monde"
    first, second = feed.items
    assert first.identity == "guid:urn:uuid:entry-1"
    assert first.url == "https://news.example.org/monde/accord"
    assert first.summary == "Les ministres ont signé."
    assert first.published == datetime(2025, 2, 28, 7, 0, tzinfo=UTC)
    assert (first.author, first.language) == ("Marie Curie", "fr")
    assert second.published == datetime(2025, 2, 27, 9, 0, tzinfo=UTC)  # from <updated>


ATOM_CONTENT_ONLY = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://news.example.org/blog/">
  <title>Blog</title>
  <id>urn:x</id>
  <updated>2025-02-28T12:00:00Z</updated>
  <entry>
    <title>Long read</title>
    <id>urn:long</id>
    <link href="posts/long-read"/>
    <updated>2025-02-28T10:00:00Z</updated>
    <content type="html">&lt;p&gt;{body}&lt;/p&gt;</content>
  </entry>
</feed>
""".replace("{body}", "word " * 300)


def test_atom_content_without_summary_and_xml_base() -> None:
    feed = parse_both(ATOM_CONTENT_ONLY, feed_url="https://news.example.org/atom")
    assert feed.parser == "feedparser"
    (item,) = feed.items
    assert item.summary == ("word " * 300).strip()  # full content, not a truncated synthesis
    assert item.url == "https://news.example.org/blog/posts/long-read"  # resolved against xml:base


BOZO = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Broken</title>
<item><title>Talks &nbsp; resume</title><link>https://news.example.org/a</link>
<description>Delegations returned.</description></item>
<item><title>Second</title><link>https://news.example.org/b</link></item>
"""


def test_bozo_feed_with_entries_is_accepted_with_a_warning() -> None:
    feed = parse(BOZO)
    assert feed.parser == "feedparser"
    assert [i.title for i in feed.items] == ["Talks resume", "Second"]
    assert feed.warning is not None and "malformed" in feed.warning


def test_leading_junk_before_xml_declaration_is_tolerated() -> None:
    feed = parse_both("\n" + RSS20)
    assert len(feed.items) == 4


CYRILLIC_TITLE = "Переговоры в Москве"
CYRILLIC_BODY = "Министры иностранных дел встретились."


def cp1251_feed(declaration: str) -> bytes:
    return (
        f"""{declaration}<rss version="2.0"><channel><title>Новости</title><language>ru</language>
<item><title>{CYRILLIC_TITLE}</title><link>https://ria.example.ru/1</link>
<description>{CYRILLIC_BODY}</description><pubDate>Sat, 01 Mar 2025 08:00:00 +0300</pubDate></item>
</channel></rss>"""
    ).encode("windows-1251")


def test_windows1251_declared_in_xml() -> None:
    feed = parse_both(cp1251_feed('<?xml version="1.0" encoding="windows-1251"?>'))
    (item,) = feed.items
    assert (feed.title, item.title, item.summary) == ("Новости", CYRILLIC_TITLE, CYRILLIC_BODY)
    assert item.published == datetime(2025, 3, 1, 5, 0, tzinfo=UTC)
    assert item.language == "ru"


def test_windows1251_declared_only_in_content_type() -> None:
    body = cp1251_feed('<?xml version="1.0"?>')
    feed = parse(body, content_type="application/rss+xml; charset=windows-1251")
    assert feed.parser == "feedparser"
    (item,) = feed.items
    assert (feed.title, item.title, item.summary) == ("Новости", CYRILLIC_TITLE, CYRILLIC_BODY)
    with pytest.raises(ParseError):
        parse(body, parser="fast", content_type="application/rss+xml; charset=windows-1251")


def test_undeclared_latin1_bytes_are_sniffed() -> None:
    body = (
        '<rss version="2.0"><channel><title>Caf\xe9</title>'
        "<item><title>R\xe9sum\xe9</title></item></channel></rss>"
    )
    feed = parse(body.encode("latin-1"))
    assert (feed.title, feed.items[0].title, feed.parser) == ("Café", "Résumé", "feedparser")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>", "HTML page"),
        (b"<html><body>News</body></html>", "HTML page"),
        (b"\x00\x01garbage that is not xml", "not well-formed"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": []}', "JSON"),
        (b"<?xml version='1.0'?><catalog><book/></catalog>", "no RSS or Atom"),
    ],
)
@pytest.mark.parametrize("parser", ["auto", "feedparser"])
def test_not_a_feed_raises_parse_error(body: bytes, reason: str, parser: ParserChoice) -> None:
    with pytest.raises(ParseError, match="not an RSS/Atom feed") as info:
        parse(body, parser=parser)
    assert reason in str(info.value)


def test_valid_feed_without_entries_gives_no_items() -> None:
    feed = parse('<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>')
    assert (feed.title, feed.items, feed.warning) == ("Quiet", (), None)


def test_empty_entries_are_skipped_and_counted() -> None:
    body = """<rss version="2.0"><channel><title>T</title>
    <item><title></title><link></link><description></description></item>
    <item><title>Kept</title></item></channel></rss>"""
    feed = parse_both(body)
    assert [i.title for i in feed.items] == ["Kept"]
    assert feed.skipped_entries == 1


def test_identity_prefers_guid_then_url_then_hash() -> None:
    body = """<rss version="2.0"><channel><title>T</title>
    <item><title>A</title><guid isPermaLink="false">id-1</guid><link>https://x.example/a</link></item>
    <item><title>B</title><guid>https://x.example/b?utm_campaign=z#top</guid><link>https://x.example/b</link></item>
    <item><title>C</title><link>https://x.example/c?utm_source=rss</link></item>
    <item><title>D</title><guid isPermaLink="false">https://x.example/d</guid></item>
    <item><title>E</title><description>no link, no guid</description></item>
    </channel></rss>"""
    a, b, c, d, e = parse_both(body).items
    assert (a.identity, a.guid) == ("guid:id-1", "id-1")
    assert (b.identity, b.guid) == ("url:https://x.example/b", None)  # a guid that is the link adds nothing
    assert c.identity == "url:https://x.example/c"
    assert (d.identity, d.url) == ("url:https://x.example/d", "https://x.example/d")  # URL-like guid as link
    assert e.identity == "hash:" + content_hash("E", "no link, no guid")


def test_a_guid_that_is_the_link_is_dropped_however_it_is_spelled() -> None:
    body = """<rss version="2.0"><channel><title>T</title>
    <item><title>A</title><guid>https://x.example/a?b=1&amp;para=2</guid><link>https://x.example/a?b=1&amp;para=2</link></item>
    <item><title>B</title><guid>urn:x:b  c</guid><link>urn:x:b c</link></item>
    <item><title>C</title><guid>https://x.example/c</guid><link>https://x.example/c?utm_source=rss</link></item>
    <item><title>D</title><guid>x.example/d</guid><link>https://x.example/d</link></item>
    </channel></rss>"""
    a, b, c, d = parse_both(body).items
    assert (a.guid, a.identity) == (None, "url:https://x.example/a?b=1&para=2")  # "&para" read as "¶" in both
    assert (b.guid, b.url, b.identity) == (None, None, "hash:" + b.content_hash)  # equal once normalised
    assert (c.guid, c.identity) == (None, "url:https://x.example/c")  # equal once canonical
    assert (d.guid, d.identity) == ("x.example/d", "guid:x.example/d")  # against the feed URL, another link


def test_tracking_parameters_removed_and_content_parameters_kept() -> None:
    body = """<rss version="2.0"><channel><title>T</title>
    <item><title>A</title>
    <link>https://www.bbc.co.uk/news/world-1?at_medium=RSS&amp;at_campaign=KARANGA&amp;page=2&amp;gclid=x</link>
    </item></channel></rss>"""
    (item,) = parse_both(body).items
    assert item.url == "https://www.bbc.co.uk/news/world-1?page=2"


def test_namespaced_look_alike_elements_use_feedparser() -> None:
    body = """<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:jto="urn:jto">
    <channel><title>T</title>
    <item><atom:link href="https://x.example/standout" rel="standout"/><title>A</title>
    <link>https://x.example/a</link><jto:author>Someone</jto:author></item></channel></rss>"""
    feed = parse_both(body)
    assert feed.parser == "feedparser"
    assert (feed.items[0].url, feed.items[0].author) == ("https://x.example/a", None)


# What each item check looked for with a regex of its own before they shared one scan.
PREFIXED_FIELD = re.compile(
    rb"<([A-Za-z_][\w.\-]*):(title|link|description|summary|guid|author|creator|pubdate|published|issued"
    rb"|date|updated|modified|lastbuilddate|id)[\s>/]",
    re.IGNORECASE,
)
PLAIN_AUTHOR = re.compile(rb"<author[\s>]")
CONTENT_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(?:content|encoded)[\s>/]")
DATE_ELEMENT = re.compile(
    rb"<(?:[A-Za-z_][\w.\-]*:)?(?:pubDate|date|published|updated|issued|modified)[\s>]", re.IGNORECASE
)
ELEMENT_NAMES = [
    *("title", "link", "description", "guid", "author", "Author", "creator", "pubDate", "PUBDATE"),
    *("published", "issued", "date", "Date", "updated", "modified", "lastBuildDate", "id", "ID"),
    *("content", "Content", "encoded", "item", "subject", "datex", "dates", "idx", "authors", "a"),
]
element_starts = st.builds(
    lambda opening, prefix, name, after: opening + prefix + name + after,
    st.sampled_from(["<", "</", "<!--", "< ", "x"]),
    st.sampled_from(["", "dc:", "atom:", "media:", "content:", "a.b-c:", "_x:", "1x:", "a:b:", ":", "x y:"]),
    st.sampled_from(ELEMENT_NAMES),
    st.sampled_from([">", " ", "/", "/>", "\t", "\n", "x", ":", "", " a='1'>", "\x0b", "-->"]),
)


def assert_scan_finds_what_the_separate_checks_found(body: bytes, start: int) -> None:
    items = body[start:]
    children = _ItemChildren.scan(body, start)
    assert children.prefixed_fields == {(p.lower(), n.lower()) for p, n in PREFIXED_FIELD.findall(items)}
    assert children.has_plain_author == (PLAIN_AUTHOR.search(items) is not None)
    assert children.has_content == (CONTENT_ELEMENT.search(items) is not None)
    assert children.date_elements == len(DATE_ELEMENT.findall(items))


@pytest.mark.parametrize(
    "body",
    [
        b"<author>", b"<Author>", b"<author/>", b"<dc:author>", b"<dc:creator>", b"<DC:Creator >",
        b"<content>", b"<Content>", b"<content:encoded>", b"<x:Encoded/>", b"<pubDate/>", b"<pubdate>",
        b"<dc:date>", b"<a:b:date>", b"<date:x>", b"</pubDate>", b"<dates>", b"<media:title>",
        b"<atom:link/>", b"<id:title>",
    ],
)  # fmt: skip
def test_one_scan_finds_what_the_separate_item_checks_found(body: bytes) -> None:
    assert_scan_finds_what_the_separate_checks_found(b"<item>" + body + b"<title>x</title></item>", 0)


@settings(max_examples=500, deadline=None)
@given(st.lists(element_starts, max_size=20).map("".join), st.integers(0, 5))
def test_one_scan_finds_what_the_separate_item_checks_found_anywhere(text: str, start: int) -> None:
    assert_scan_finds_what_the_separate_checks_found(text.encode("utf-8"), start)


def test_parsed_feed_pickles() -> None:
    feed = parse(RSS20)
    assert pickle.loads(pickle.dumps(feed)) == feed


def test_naive_fetch_time_is_taken_as_utc() -> None:
    body = "<rss version='2.0'><channel><title>T</title><item><title>A</title></item></channel></rss>"
    feed = parse_feed(body.encode(), feed_url=FEED_URL, source="s", fetched_at=datetime(2025, 3, 1, 12, 0))
    assert feed.items[0].published == FETCHED


@pytest.mark.parametrize("parser", ["auto", "feedparser"])
def test_a_body_naming_a_local_file_is_not_read_as_that_file(tmp_path: Path, parser: ParserChoice) -> None:
    local_feed = tmp_path / "secret.xml"
    local_feed.write_text(RSS20, encoding="utf-8")
    with pytest.raises(ParseError, match="not an RSS/Atom feed"):
        parse(str(local_feed).encode(), parser=parser)


# Items shaped like the benchmark's generated feeds (bench/feedserver.py): HTML descriptions in CDATA or
# escaped, content:encoded beside them, tracked links and permalink guids.
OUTLET = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>The Geneva Courier #3</title>
<link>https://www.outlet3.example/</link><language>en</language>
<item><title>Envoys meet in Geneva &amp; agree on talks</title>
<link>https://www.outlet3.example/world/2025/03/01/envoys-meet-3-49?utm_source=rss&amp;utm_medium=feed</link>
<guid isPermaLink="true">https://www.outlet3.example/world/2025/03/01/envoys-meet-3-49</guid>
<pubDate>Sat, 01 Mar 2025 09:30:00 GMT</pubDate><dc:creator>Staff reporter</dc:creator>
<description><![CDATA[<img src="https://cdn.www.outlet3.example/images/1.jpg" alt="" width="640" \
height="360" />\
<p><strong>Foreign ministers met</strong> on Monday.</p><p>Talks resume in May. \
<a href="https://www.outlet3.example/tag/7?utm_source=rss">Read&nbsp;more</a></p>]]></description>
<content:encoded><![CDATA[<figure><img src="x.jpg" alt="Envoys" /><figcaption>File photo.</figcaption>\
</figure><p>Foreign ministers met on Monday.</p>]]></content:encoded></item>
<item><title>Sanctions widened</title><link>https://www.outlet3.example/world/sanctions-3-48</link>
<guid isPermaLink="false">www.outlet3.example:48</guid><pubDate>Sat, 01 Mar 2025 09:00:00 +0100</pubDate>
<description>&lt;p&gt;The council &lt;em&gt;widened&lt;/em&gt; sanctions.&lt;/p&gt;&lt;p&gt;More \
follows &amp;amp; soon.&lt;/p&gt;</description></item>
</channel></rss>
""".replace("\\\n", "")


def test_benchmark_shaped_items() -> None:
    feed = parse_both(OUTLET, feed_url="https://www.outlet3.example/rss.xml")
    assert parse(OUTLET, feed_url="https://www.outlet3.example/rss.xml").parser == "fastfeedparser"
    tracked, escaped = feed.items
    assert tracked.title == "Envoys meet in Geneva & agree on talks"
    assert tracked.summary == "Foreign ministers met on Monday.\nTalks resume in May. Read more"
    assert tracked.url == "https://www.outlet3.example/world/2025/03/01/envoys-meet-3-49"
    assert (tracked.guid, tracked.identity) == (None, "url:" + tracked.url)  # the permalink guid is the link
    assert tracked.content_hash == content_hash(tracked.title, tracked.summary)
    assert (tracked.published, tracked.author) == (datetime(2025, 3, 1, 9, 30, tzinfo=UTC), "Staff reporter")
    assert escaped.summary == "The council widened sanctions.\nMore follows & soon."
    assert (escaped.guid, escaped.identity) == ("www.outlet3.example:48", "guid:www.outlet3.example:48")
    assert escaped.published == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


# Where stray bytes may sit in a document: text, an attribute, CDATA, a comment, a processing instruction.
UTF8_HOLES = (
    b"<title>a%sb</title>",
    b'<link href="x%s"/>',
    b"<description><![CDATA[a%sb]]></description>",
    b"<!-- a%sb -->",
    b"<?pi a%sb?>",
)


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=6), st.sampled_from(UTF8_HOLES), st.booleans())
def test_bytes_that_are_not_the_declared_utf8_keep_the_fast_parser_away(
    stray: bytes, hole: bytes, declared: bool
) -> None:
    # The well-formedness check (expat) is what finds them: there is no separate decode of every body.
    head = b'<?xml version="1.0" encoding="utf-8"?>' if declared else b""
    body = head + b"<rss><channel><item>" + hole.replace(b"%s", stray) + b"</item></channel></rss>"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        assert _fast_path_blocker(body, None) == "the bytes are not the UTF-8 the document declares"
