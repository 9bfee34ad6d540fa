"""Pure normalisation of feed fields: canonical URLs, plain text, dates and item identity.

Every public function here accepts any ``str`` without raising and is idempotent
(``f(f(x)) == f(x)`` whenever ``f(x)`` is not None). For ``html_to_text`` and ``normalize_text``
that means decoding until nothing is left to decode: markup escaped twice ("&amp;lt;p&amp;gt;",
common in feeds) is removed like markup escaped once, and a summary that literally shows a tag
("&lt;b&gt;") loses it.

Tracking parameters. ``canonical_url`` removes a query parameter when its name (percent-decoded,
lower-cased) is a known click/campaign identifier: the ``utm_``, ``mtm_``, ``matomo_`` and ``hsa_``
families and the exact names in ``_TRACKING_PARAMS`` (drawn from miniflux's urlcleaner, the
tracking-query-params registry and ClearURLs' global rules). A few outlets add their own markers
to feed links; those are removed only on the outlet's host (``_HOST_TRACKING_PARAMS``). Names that
often carry content are never removed globally: ``id``, ``p``, ``page``, ``article``, ``s``, ``t``,
``partner``, ``campaign_*``. ``ref`` is ambiguous: it is dropped only when its value is the link's
own host or the base (feed) host, as Ghost adds it to outbound links; any other ``ref`` is kept.
"""

from __future__ import annotations

import functools
import hashlib
import html
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from html.parser import HTMLParser
from urllib.parse import unquote_plus, urljoin, urlsplit
from zoneinfo import ZoneInfo

import idna

__all__ = [
    "canonical_url",
    "content_hash",
    "html_to_text",
    "item_identity",
    "normalize_text",
    "parse_date",
    "published_or_fetch_time",
]

# ---------------------------------------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------------------------------------

_TRACKING_PREFIXES = ("utm_", "mtm_", "matomo_", "hsa_")

_TRACKING_PARAMS = frozenset(
    {
        # Google Ads / Analytics
        "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "gad_source", "srsltid", "_ga", "_gl",
        # Meta
        "fbclid", "fb_action_ids", "fb_action_types", "fb_ref", "fb_source", "fb_comment_id", "igshid",
        # Microsoft, Yandex, Twitter, TikTok click ids
        "msclkid", "yclid", "ysclid", "twclid", "ttclid",
        # Twitter share widgets
        "ref_src", "ref_url",
        # Mailchimp, HubSpot, Marketo, Olytics, Vero, Wicked Reports, Adobe
        "mc_cid", "mc_eid", "mc_tc", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp", "hsctatracking",
        "mkt_tok", "oly_enc_id", "oly_anon_id", "rb_clickid", "vero_id", "vero_conv", "wickedid",
        "s_cid", "sc_cid",
        # Piwik (Matomo has prefixes above)
        "pk_campaign", "pk_kwd", "pk_keyword", "pk_source", "pk_medium", "pk_content",
        "piwik_campaign", "piwik_kwd", "piwik_keyword",
        # AT Internet / Piano, Webtrekk, comScore: common on European news sites
        "xtor", "at_medium", "at_campaign", "wt_mc", "wt_zmc", "wt.mc_id",
        "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
        # Assorted newsletter / referral tools
        "_openstat", "hmb_campaign", "hmb_medium", "hmb_source", "itm_campaign", "itm_medium",
        "itm_source", "_bhlid", "_branch_match_id", "_branch_referrer", "__readwiselocation",
        "cmpid", "_kx",
    }
)  # fmt: skip

# (host suffix, exact names, name prefixes): markers an outlet adds to its own links only.
_HOST_TRACKING_PARAMS: tuple[tuple[str, frozenset[str], tuple[str, ...]], ...] = (
    ("bbc.co.uk", frozenset(), ("at_",)),
    ("bbc.com", frozenset(), ("at_",)),
    ("nytimes.com", frozenset({"smid", "partner", "emc"}), ()),
    ("reuters.com", frozenset({"taid", "feedtype", "feedname"}), ()),
    ("theguardian.com", frozenset({"cmp"}), ()),
    ("twitter.com", frozenset({"s", "t", "src", "cn"}), ()),
    ("x.com", frozenset({"s", "t", "src", "cn"}), ()),
    ("msn.com", frozenset({"ocid", "cvid"}), ()),
    ("aljazeera.com", frozenset({"traffic_source"}), ()),
)

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_UNRESERVED_CLASS = r"A-Za-z0-9\-._~"
_SUB_DELIMS_CLASS = r"!$&'()*+,;="
# An escape to normalise, or a character (a lone "%" included) that must be escaped in that part.
_PATH_FIX = re.compile(rf"%([0-9A-Fa-f]{{2}})|[^{_UNRESERVED_CLASS}{_SUB_DELIMS_CLASS}:@/]")
_QUERY_FIX = re.compile(rf"%([0-9A-Fa-f]{{2}})|[^{_UNRESERVED_CLASS}{_SUB_DELIMS_CLASS}:@/?]")
_USERINFO_FIX = re.compile(rf"%([0-9A-Fa-f]{{2}})|[^{_UNRESERVED_CLASS}{_SUB_DELIMS_CLASS}:]")
_HOST_CHARS = re.compile(r"[a-z0-9_\-.]+")
_PORT = re.compile(r"\d*")
# WHATWG URL parsing: leading/trailing C0 controls and spaces are stripped, tabs and newlines removed.
_URL_EDGE_JUNK = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# An absolute http(s) URL with an authority (the scheme already lower-case).
_ABSOLUTE_HTTP = re.compile(r"https?://[^/?#]")
# Feeds that escape their links twice leave "&amp;" between parameters; it is never meant literally.
_ESCAPED_AMPERSAND = re.compile(r"&(?:amp;)+", re.IGNORECASE)
# Most feed links: an absolute http(s) URL with a lower-case host and no port, userinfo, ";", "?" or
# "#" in its query or fragment, character that needs escaping, or empty query or fragment. Of
# _canonical_url's steps only the query cleaning, escapes and dot segments can change such a URL
# (trimming, urljoin - see _joins_to_itself -, urlsplit and the host and port checks leave it as it is),
# so _canonical_plain_url does just those.
_URL_CHAR_CLASS = r"A-Za-z0-9\-._~!$&'()*+,=:@/%"
_PLAIN_URL = re.compile(
    rf"(https?)://([a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*)(/[{_URL_CHAR_CLASS}]*)?"
    rf"(?:\?([{_URL_CHAR_CLASS}]+))?(?:#[{_URL_CHAR_CLASS}]+)?"
)


def _percent_fix(m: re.Match[str]) -> str:
    hexpair = m.group(1)
    if hexpair is not None:
        char = chr(int(hexpair, 16))
        return char if char in _UNRESERVED else "%" + hexpair.upper()
    return "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8", "surrogatepass"))


def _percent_normalize(component: str, needs_fixing: re.Pattern[str]) -> str:
    """Upper-case escapes, decode escaped unreserved characters, escape characters not allowed here."""
    return needs_fixing.sub(_percent_fix, component)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, for an absolute path."""
    if path.startswith("/") and "/." not in path:
        return path  # no segment is "." or ".."
    output: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments[1:], start=1):
        last = i == len(segments) - 1
        if seg == "..":
            if len(output) > 0:
                output.pop()
            if last:
                output.append("")
        elif seg == ".":
            if last:
                output.append("")
        else:
            output.append(seg)
    return "/" + "/".join(output)


@functools.lru_cache(maxsize=1024)  # a feed's links share a few hosts; IDNA encoding is slow
def _canonical_host(host: str) -> str | None:
    host = host.rstrip(".")
    if not host:
        return None
    if host.startswith("["):
        if not host.endswith("]"):
            return None
        try:
            return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
        except ValueError:
            return None
    if host.isascii():
        host = host.lower()
    else:
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            try:
                host = host.lower().encode("idna").decode("ascii").lower()
            except (UnicodeError, ValueError):
                return None
        host = host.rstrip(".")
    if not _HOST_CHARS.fullmatch(host) or "" in host.split("."):
        return None
    return host


def _host_matches(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


@functools.lru_cache(maxsize=1024)
def _host_tracking_params(host: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The outlet-specific tracking names and name prefixes that apply on ``host``."""
    names: set[str] = set()
    prefixes: list[str] = []
    for suffix, suffix_names, suffix_prefixes in _HOST_TRACKING_PARAMS:
        if _host_matches(host, suffix):
            names |= suffix_names
            prefixes.extend(suffix_prefixes)
    return frozenset(names), tuple(prefixes)


def _is_tracking_param(name: str, host: str) -> bool:
    if name in _TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES):
        return True
    names, prefixes = _host_tracking_params(host)
    return name in names or (bool(prefixes) and name.startswith(prefixes))


def _is_self_ref(value: str, hosts: tuple[str, ...]) -> bool:
    ref_host = unquote_plus(value).strip().lower().rstrip("/")
    ref_host = ref_host.removeprefix("https://").removeprefix("http://").removeprefix("www.")
    return bool(ref_host) and any(ref_host == h.removeprefix("www.") for h in hosts)


def _clean_query(query: str, host: str, base_host: str | None, *, fix_escapes: bool = True) -> str:
    """``query`` without tracking parameters; ``fix_escapes=False`` when _QUERY_FIX would match nothing."""
    hosts = (host,) if base_host is None else (host, base_host)
    kept: list[str] = []
    for segment in query.split("&"):
        if not segment:
            continue
        raw_name, _, raw_value = segment.partition("=")
        # unquote_plus changes only names with "%" or "+"; most have neither.
        name = (unquote_plus(raw_name) if "%" in raw_name or "+" in raw_name else raw_name).lower()
        if _is_tracking_param(name, host):
            continue
        if name == "ref" and _is_self_ref(raw_value, hosts):
            continue
        kept.append(_percent_normalize(segment, _QUERY_FIX) if fix_escapes else segment)
    return "&".join(kept)


def canonical_url(url: str, *, base: str | None = None) -> str | None:
    """The canonical http(s) form of ``url`` (resolved against ``base``), or None when unusable.

    Lower-cased scheme and host (IDNA), no default port, no fragment, no tracking parameters,
    dot segments removed, percent-escapes normalised; other parameters keep their order and values.
    """
    try:
        plain = _PLAIN_URL.fullmatch(url)
        return _canonical_url(url, base) if plain is None else _canonical_plain_url(plain, base)
    except (ValueError, UnicodeError):
        return None


def _split_authority(netloc: str) -> tuple[str, str, str] | None:
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        userinfo = ""
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        host, rest = hostport[: close + 1], hostport[close + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
    return userinfo, host, port


def _joins_to_itself(url: str) -> bool:
    """Whether ``urljoin`` gives ``url`` back unchanged whatever the base (it costs as much as the rest)."""
    # urljoin re-assembles an absolute URL from its parts, which drops an empty query ("?"), an empty
    # fragment ("#") or an empty path parameter (";"); its scheme must be lower-case already.
    return (
        _ABSOLUTE_HTTP.match(url) is not None
        and ";" not in url
        and not url.endswith(("?", "#"))
        and "?#" not in url
    )


@functools.lru_cache(maxsize=256)
def _prepared_base(base: str) -> tuple[str, str | None]:
    """``base`` cleaned as a URL is, and its canonical host: the same for every link of a feed."""
    base = _TAB_NEWLINE.sub("", base.strip(_URL_EDGE_JUNK))
    if not base:
        return base, None
    authority = _split_authority(urlsplit(base).netloc)
    return base, (_canonical_host(authority[1]) if authority is not None else None)


def _canonical_plain_url(plain: re.Match[str], base: str | None) -> str | None:
    """``_canonical_url`` for a URL that _PLAIN_URL matched, with the same outcome."""
    # _prepared_base first, as there: a base it cannot read makes any link unusable.
    base_host = _prepared_base(base)[1] if base else None
    scheme, host, path, query = plain.groups()
    if path is None:
        path = "/"
    elif "%" in path:  # the only character of _URL_CHAR_CLASS that _PATH_FIX matches
        path = _percent_normalize(path, _PATH_FIX)
    path = _remove_dot_segments(path)
    # Likewise "%" is the only character of the query's class that _QUERY_FIX matches.
    query = _clean_query(query, host, base_host, fix_escapes="%" in query) if query else ""
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def _canonical_url(url: str, base: str | None) -> str | None:
    url = _TAB_NEWLINE.sub("", url.strip(_URL_EDGE_JUNK))
    if not url:
        return None
    base_host: str | None = None
    if base:
        base, base_host = _prepared_base(base)
        if base and not _joins_to_itself(url):
            url = urljoin(base, url)
    url = _ESCAPED_AMPERSAND.sub("&", url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    if not parts.netloc and parts.path and not parts.path.startswith("/"):
        # "http:example.com" is read as browsers do: the authority follows the colon
        parts = urlsplit(f"{scheme}://{url[len(parts.scheme) + 1 :]}")
    authority = _split_authority(parts.netloc)
    if authority is None:
        return None
    userinfo, raw_host, port = authority
    host = _canonical_host(raw_host)
    if host is None:
        return None
    if not _PORT.fullmatch(port):
        return None
    port = port.lstrip("0") or ("0" if port else "")
    if port and int(port) > 65535:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = ""
    netloc = host + (":" + port if port else "")
    if userinfo not in ("", ":"):
        netloc = _percent_normalize(userinfo, _USERINFO_FIX) + "@" + netloc
    path = _remove_dot_segments(_percent_normalize(parts.path or "/", _PATH_FIX))
    query = _clean_query(parts.query, host, base_host)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


# ---------------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------------

# Zero-width characters, BOM, word joiner and the bidi embedding/isolate/mark controls.
_INVISIBLE = "\u200b-\u200f\ufeff\u2060\u202a-\u202e\u2066-\u2069\u061c"
_SURROGATES = f"{chr(0xD800)}-{chr(0xDFFF)}"  # built with chr(): compiled string literals cannot hold them
# C0/C1 controls other than whitespace, invisible formatting marks and lone surrogates are dropped.
_DROP_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f" + _INVISIBLE + _SURROGATES + "]")
# Whitespace that in HTML text is just a space but that the later steps would treat otherwise: "\n"
# (a paragraph break there) and the whitespace controls _DROP_CHARS removes.
_DATA_BREAKS = re.compile("[\n\x0b\x1c-\x1f]")

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_MARKUP = re.compile(r"<[A-Za-z/!?]")
_DROPPED_CONTENT_TAGS = frozenset({"script", "style", "template", "noscript"})
# Tags that only format text: HTMLParser treats them all alike, in every Python version, so markup
# made of them alone is taken apart without it (see _scan_plain_markup). Elements whose content
# HTMLParser reads raw (script, style, textarea, title...) are not among them.
_PLAIN_TAGS = _BLOCK_TAGS | frozenset(
    {
        "a", "abbr", "b", "big", "center", "cite", "code", "del", "dfn", "em", "font", "i", "img",
        "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
        "time", "tt", "u", "var", "wbr",
    }
)  # fmt: skip
_TAG_SPACE = "[ \t\n\r\f]"
# What follows the "<" of such a tag, up to its ">": a start tag with well-formed attributes whose
# values hold no "<" or ">", or an end tag without attributes.
_PLAIN_TAG = re.compile(
    rf"([A-Za-z][A-Za-z0-9]*)"
    rf"(?:{_TAG_SPACE}+[A-Za-z_:][-A-Za-z0-9_:.]*"
    rf"(?:{_TAG_SPACE}*={_TAG_SPACE}*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'=<>`][^\s\"'<>`]*))?)*"
    rf"{_TAG_SPACE}*/?>"
    rf"|/([A-Za-z][A-Za-z0-9]*){_TAG_SPACE}*>"
)
# The same, "<" included, to find every such tag of a text in one scan.
_PLAIN_TAG_IN_TEXT = re.compile("<(?:" + _PLAIN_TAG.pattern + ")")
# Nested escaping ("&amp;amp;") is undone pass by pass; this bounds the work on hostile input.
_MAX_PASSES = 8


def _html_data(data: str) -> str:
    """Text found between tags, ready to be joined with the "\n" of block tags."""
    # In HTML a line break in the source is just a space; only block elements break lines. Other
    # whitespace is collapsed once, on the whole text, by _collapse_paragraphs. Every character
    # _DATA_BREAKS matches is unprintable.
    return data if data.isprintable() else _DATA_BREAKS.sub(" ", data)


class _TextExtractor(HTMLParser):
    """Collects text, turning block boundaries into newlines and skipping script/style content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_CONTENT_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_CONTENT_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.pieces.append(_html_data(data))

    def unknown_decl(self, data: str) -> None:
        # A CDATA section left inside escaped HTML still holds text meant to be shown.
        if data.startswith("CDATA[") and not self._skip_depth:
            self.pieces.append(data[6:])


def _clean_chars(text: str) -> str:
    return unicodedata.normalize("NFC", _DROP_CHARS.sub("", text))


def _single_spaced(text: str) -> str:
    """``text`` with each whitespace run made one space, no space at either end."""
    # Every whitespace character but " " is unprintable, so most texts pass this check unchanged.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    # str.split() and the regex \s agree on what whitespace is (both use str.isspace); the split is
    # several times faster than substituting every run.
    return " ".join(text.split())


def _printable_single_spaced(line: str) -> str:
    """``_single_spaced`` for a line known to be printable (so " " is its only whitespace)."""
    if "  " in line or line[:1] == " " or line[-1:] == " ":
        return " ".join(line.split())
    return line


# The fast paths below rest on two facts about str.isprintable(): every character _DROP_CHARS matches
# is unprintable, and so is every whitespace character but " ". A printable text has nothing to drop,
# and its whitespace needs collapsing only where " " is doubled or at an end.


def _clean_line(text: str) -> str:
    """``_single_spaced(_clean_chars(text))``, skipping the scans that would change nothing."""
    if text.isprintable():
        normalized = unicodedata.normalize("NFC", text)
        return _printable_single_spaced(text) if normalized == text else _single_spaced(normalized)
    return _single_spaced(_clean_chars(text))


def _collapse_paragraphs(text: str) -> str:
    """Each line single-spaced, blank lines dropped: paragraphs on their own lines."""
    return "\n".join([line for line in map(_single_spaced, text.split("\n")) if line])


def _clean_paragraphs(text: str, *, printable: bool = False) -> str:
    """``_collapse_paragraphs(_clean_chars(text))``, skipping the scans that would change nothing.

    ``printable``: every character of ``text`` is known to be printable, NBSP or "\n".
    """
    if unicodedata.normalize("NFC", text) != text:
        return _collapse_paragraphs(_clean_chars(text))
    # NBSP, common (from "&nbsp;"), is whitespace like " " to str.split() and so to the collapse (which
    # comes after NFC): turned into " ", it does not send a line down the slow path.
    if printable:
        lines = filter(None, text.replace("\xa0", " ").split("\n"))  # block tags leave many empty
        return "\n".join([line for line in map(_printable_single_spaced, lines) if line])
    kept: list[str] = []
    for line in text.split("\n"):
        if not line:
            continue
        if line.isprintable():
            line = _printable_single_spaced(line)
        elif "\xa0" in line and line.replace("\xa0", " ").isprintable():
            line = _printable_single_spaced(line.replace("\xa0", " "))
        elif _DROP_CHARS.search(line) is None:
            line = " ".join(line.split())  # what _single_spaced does with an unprintable line
        else:
            # Removing characters before NFC can change what NFC does: the general path.
            return _collapse_paragraphs(_clean_chars(text))
        if line:
            kept.append(line)
    return "\n".join(kept)


def _scan_plain_markup(text: str) -> tuple[list[str], bool] | None:
    """The pieces ``_TextExtractor`` collects from ``text``, and whether every character in them is
    printable, NBSP or "\n"; None unless all its tags are plain.

    HTMLParser costs more than the rest of the normalisation together; most feed HTML is plain
    paragraphs and links, whose text is just what lies between the tags, entities decoded.
    """
    # [data, start tag name, end tag name, data, ...]. No tag holds a "<" but its first character, so
    # every "<" opens a plain tag exactly when there are as many tags as "<".
    parts = _PLAIN_TAG_IN_TEXT.split(text)
    if len(parts) != 3 * text.count("<") + 1:
        return None
    pieces: list[str] = []
    printable = True
    for index in range(0, len(parts), 3):
        if index:
            name = parts[index - 2] or parts[index - 1]
            if name not in _PLAIN_TAGS:
                name = name.lower()
                if name not in _PLAIN_TAGS:
                    return None
            if name in _BLOCK_TAGS:
                pieces.append("\n")
        data = parts[index]
        if data:  # adjacent tags leave many empty
            if "&" in data:
                data = html.unescape(data)  # as HTMLParser(convert_charrefs=True) does
            if not data.isprintable():  # _html_data's check, its outcome kept for _clean_paragraphs
                data = _DATA_BREAKS.sub(" ", data)  # as _html_data does
                printable = printable and data.replace("\xa0", "").isprintable()
            pieces.append(data)
    return pieces, printable


def _html_pass(text: str) -> str:
    if _MARKUP.search(text) is None:
        # Plain text (perhaps with entities): its line breaks are its paragraph breaks.
        if "&" in text:
            text = html.unescape(text)
        return _clean_paragraphs(text)
    scanned = _scan_plain_markup(text)
    if scanned is not None:
        pieces, printable = scanned
        return _clean_paragraphs("".join(pieces), printable=printable)
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # HTMLParser can trip on pathological markup
        return _clean_paragraphs(html.unescape(text))
    return _clean_paragraphs("".join(parser.pieces))


def _fixed_point(step: Callable[[str], str], text: str, settled: Callable[[str], bool]) -> str:
    """Apply ``step`` until the text stops changing; ``settled`` spots texts a step would keep."""
    for _ in range(_MAX_PASSES):
        result = step(text)
        if result == text or settled(result):
            return result
        text = result
    return text


def _no_markup_left(text: str) -> bool:
    # "<" in: a scan several times faster than the regex, which is only needed where there is a "<"
    return "&" not in text and ("<" not in text or _MARKUP.search(text) is None)


def _no_entity_left(text: str) -> bool:
    return "&" not in text


def html_to_text(html_text: str) -> str:
    """Plain text from an HTML fragment: paragraphs on their own lines, other whitespace single spaces.

    Tags are removed (block tags break lines), script/style content dropped, entities decoded,
    NBSP turned into a space, zero-width and bidi controls removed.
    """
    return _fixed_point(_html_pass, html_text, _no_markup_left)


def _text_pass(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    return _clean_line(text)


def normalize_text(s: str) -> str:
    """A one-line text (titles, names): entities decoded, controls removed, whitespace collapsed, NFC."""
    return _fixed_point(_text_pass, s, _no_entity_left)


# ---------------------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------------------

_ISO = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>0?\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:[T ](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"\s*(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?Z?)?",
    re.IGNORECASE,
)
# The form fastfeedparser gives and most Atom feeds use, read faster than through _ISO's optional
# parts, with the same outcome.
_ISO_COMMON = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})"
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(am|pm|a\.m\.|p\.m\.)?", re.IGNORECASE)
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\.?", re.IGNORECASE)
_YEAR = re.compile(r"\d{4}")
_YMD = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})")
_NUMERIC_ZONE = re.compile(r"(?:gmt|utc|ut)?([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_IANA_ZONE = re.compile(r"[A-Za-z]+(?:/[A-Za-z0-9_+\-]+)+")
_COMMENT = re.compile(r"\([^()]*\)")
_EPOCH = re.compile(r"\d{10}")

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "jan january januar janvier enero janeiro gennaio gen ene",
        "feb february februar février fevrier febrero fevereiro fev febbraio",
        "mar march märz maerz mars marzo março marco mär",
        "apr april avril abril aprile avr abr",
        "may mai mayo maio maggio mag",
        "jun june juni juin junio junho giugno giu",
        "jul july juli juillet juil julio julho luglio lug",
        "aug august août aout agosto ago",
        "sep sept september septembre septiembre setembro settembre set",
        "oct october oktober octobre octubre outubro ottobre okt out ott",
        "nov november novembre noviembre novembro",
        "dec december dezember décembre decembre diciembre dezembro dicembre dez déc dic",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

_WEEKDAYS = frozenset(
    {
        "mon", "monday", "tue", "tues", "tuesday", "wed", "weds", "wednesday", "thu", "thur", "thurs",
        "thursday", "fri", "friday", "sat", "saturday", "sun", "sunday",
    }
)  # fmt: skip
_FILLER = frozenset({"at", "-", "um", "à", "de", "del", "the", "on"})
_AM_PM = {"am": "am", "a.m.": "am", "pm": "pm", "p.m.": "pm"}

_ZONE_HOURS: dict[str, float] = {
    "z": 0, "ut": 0, "utc": 0, "gmt": 0, "wet": 0, "west": 1, "bst": 1, "cet": 1, "cest": 2,
    "met": 1, "mest": 2, "eet": 2, "eest": 3, "msk": 3, "ist": 5.5, "sgt": 8, "hkt": 8,
    "jst": 9, "kst": 9, "acst": 9.5, "aest": 10, "aedt": 11, "nzst": 12, "nzdt": 13,
    "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
    "akst": -9, "akdt": -8, "hst": -10, "ast": -4, "adt": -3,
    # Bare US zone letters seen in the wild (Disney feeds)
    "at": -4, "et": -5, "ct": -6, "mt": -7, "pt": -8,
}  # fmt: skip
_MAX_OFFSET = timedelta(hours=14)
# The RFC 1123 form nearly every RSS feed uses: read directly, with the same outcome as the tokenizer.
_RFC1123 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([0-9]{4}) ([0-9]{1,2}):([0-9]{2}):([0-9]{2}) (GMT|UTC|UT|Z|[ECMP][SD]T|[+-][0-9]{4})"
)


@functools.lru_cache(maxsize=256)  # a feed's dates share a zone or two; building one costs more than parsing
def _offset_zone(sign: str, hours: str, minutes: str | None) -> tzinfo | None:
    h, m = int(hours), int(minutes or 0)
    if m > 59:
        return None
    offset = timedelta(hours=h, minutes=m)
    if offset > _MAX_OFFSET:
        return UTC  # a bogus offset: the wall-clock time is likelier right than the zone
    if not offset:
        return UTC  # the same instant as timezone(timedelta(0)), converted to UTC faster
    return timezone(-offset if sign == "-" else offset)


def _to_utc(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone: tzinfo
) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _parse_iso_common(m: re.Match[str]) -> datetime | None:
    """``_parse_iso`` for a value that _ISO_COMMON matched, with the same outcome."""
    year, month, day, hour, minute, second, z = m.groups()
    zone = UTC if z == "Z" else _offset_zone(z[0], z[1:3], z[4:])
    if zone is None:
        return None
    return _to_utc(int(year), int(month), int(day), int(hour), int(minute), int(second), zone)


def _parse_iso(value: str) -> datetime | None:
    m = _ISO.fullmatch(value)
    if m is None:
        return None
    year, month, day, hour, minute, second, z = m.group("y", "mo", "d", "h", "mi", "s", "z")
    zone: tzinfo | None = UTC
    if z and z.upper() != "Z":
        digits = z[1:].replace(":", "")
        zone = _offset_zone(z[0], digits[:2], digits[2:] or None)
    if zone is None:
        return None
    return _to_utc(
        int(year),
        int(month) if month else 1,
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        zone,
    )


@functools.lru_cache(maxsize=256)  # as _offset_zone
def _zone_from_token(token: str) -> tzinfo | None:
    lowered = token.lower()
    if lowered in _ZONE_HOURS:
        return timezone(timedelta(hours=_ZONE_HOURS[lowered]))
    m = _NUMERIC_ZONE.fullmatch(token)
    if m:
        return _offset_zone(m.group(1), m.group(2), m.group(3))
    if _IANA_ZONE.fullmatch(token):
        try:
            return ZoneInfo(token)
        except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            return None
    return None


def _parse_textual(value: str) -> datetime | None:
    """RFC 822/1123 and its real-world variants, asctime, and month-name dates in a few languages."""
    tokens = _COMMENT.sub(" ", value).replace(",", " ").split()
    if len(tokens) > 12:
        return None
    month_positions = [i for i, t in enumerate(tokens) if t.lower().rstrip(".") in _MONTHS]
    if len(month_positions) > 1 and month_positions[0] == 0:
        tokens = tokens[1:]  # "mar., 01 déc." - a weekday that is also a month abbreviation
    year = month = day = None
    hour = minute = second = 0
    have_time = False
    zone: tzinfo | None = None
    for token in tokens:
        lowered = token.lower()
        bare = lowered.rstrip(".")
        if lowered in _FILLER and not (lowered == "at" and have_time):  # "AT" after a time is a zone
            continue
        time_match = _TIME.fullmatch(token)
        if time_match and not have_time:
            hour, minute, second = (int(g or 0) for g in time_match.group(1, 2, 3))
            have_time = True
            if time_match.group(4):
                hour = _apply_am_pm(hour, _AM_PM[time_match.group(4).lower()])
                if hour < 0:
                    return None
            continue
        if lowered in _AM_PM and have_time:
            hour = _apply_am_pm(hour, _AM_PM[lowered])
            if hour < 0:
                return None
            continue
        if bare in _MONTHS and month is None:
            month = _MONTHS[bare]
            continue
        if bare in _WEEKDAYS and day is None and year is None:
            continue
        ymd = _YMD.fullmatch(token)
        if ymd and year is None and month is None and day is None:
            year, month, day = (int(g) for g in ymd.groups())
            continue
        if _YEAR.fullmatch(token) and year is None:
            year = int(token)
            continue
        day_match = _DAY.fullmatch(token)
        if day_match:
            if day is None:
                day = int(day_match.group(1))
            elif year is None and len(token) == 2 and token.isdigit():
                year = int(token) + (2000 if int(token) < 50 else 1900)
            else:
                return None
            continue
        if month is not None and day is not None and zone is None:
            zone = _zone_from_token(token)
            if zone is None:
                return None
            continue
        if month is None and day is None and year is None and bare.isalpha():
            continue  # a weekday in a language we do not list
        return None
    if year is None or month is None or day is None:
        return None
    return _to_utc(year, month, day, hour, minute, second, zone or UTC)


def _apply_am_pm(hour: int, half: str) -> int:
    if not 1 <= hour <= 12:
        return -1
    if half == "am":
        return 0 if hour == 12 else hour
    return 12 if hour == 12 else hour + 12


def parse_date(value: str) -> datetime | None:
    """An aware UTC datetime from an RFC 822/1123, ISO 8601/W3DTF or asctime string; None if unusable.

    Dates without a zone are taken as UTC; the weekday, when present, is ignored.
    """
    value = value.strip()
    if not value or len(value) > 100:
        return None
    if len(value) >= 4 and value[:4].isdigit() and (len(value) == 4 or value[4] in "-T "):
        common = _ISO_COMMON.fullmatch(value)
        return _parse_iso(value) if common is None else _parse_iso_common(common)
    if _EPOCH.fullmatch(value):
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    try:
        rfc1123 = _RFC1123.fullmatch(value)
        if rfc1123 is not None:
            return _parse_rfc1123(rfc1123)
        return _parse_textual(value)
    except (ValueError, OverflowError):
        return None


def _parse_rfc1123(m: re.Match[str]) -> datetime | None:
    day, month, year, hour, minute, second, zone_token = m.groups()
    zone = _zone_from_token(zone_token)
    if zone is None:
        return None
    return _to_utc(int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second), zone)


def published_or_fetch_time(
    published: datetime | None,
    *,
    fetched_at: datetime,
    future_tolerance: timedelta = timedelta(minutes=10),
) -> tuple[datetime, bool]:
    """The item's publication time and whether it is estimated (missing or future-dated -> fetch time)."""
    if published is None or published > fetched_at + future_tolerance:
        return fetched_at, True
    return published.astimezone(UTC), False


# ---------------------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------------------


def content_hash(title: str, summary: str, *, normalized: bool = False) -> str:
    """Hex SHA-256 of the case-folded, whitespace-collapsed title and summary.

    ``normalized``: the title comes from ``normalize_text`` and the summary from ``html_to_text``,
    whose whitespace is collapsed already; the hash is the same, its collapsing pass skipped.
    """
    # Summaries keep their paragraph breaks, which the hash ignores like any other whitespace.
    summary = summary.replace("\n", " ")
    if not normalized:
        title, summary = _single_spaced(title), _single_spaced(summary)
    # casefold maps each character on its own, so one call on the joined text does for both.
    folded = (title + "\n" + summary).casefold()
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()


def item_identity(guid: str | None, url: str | None, content_hash: str) -> str:
    """``guid:<guid>`` when there is a guid, else ``url:<canonical url>``, else ``hash:<content hash>``."""
    if guid is not None and guid.strip():
        return "guid:" + guid.strip()
    canonical = canonical_url(url) if url else None
    if canonical is not None:
        return "url:" + canonical
    return "hash:" + content_hash
