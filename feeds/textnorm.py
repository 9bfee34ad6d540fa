"""Text folding and word tokens shared by classification and story grouping.

``fold`` is the one form words are compared in: NFKC, case-folded, accents removed (but not the marks that
make a different Cyrillic letter: й, ї, ў stay), typographic apostrophes, quotes and dashes unified, invisible
format characters dropped. ``words`` splits text into word tokens with offsets into the text it was given.
``match_text`` is the same folding in the form the classifier's automaton scans, with a map back to the
original offsets.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["MatchText", "Token", "fold", "is_word_char", "match_text", "words"]

# Typographic variants of the apostrophe, the double quote and the hyphen, each unified to its ASCII form.
_TYPOGRAPHIC: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\u02b9\u2039\u203a\uff07", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u02ba\u301d\u301e\uff02", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2e3a\u2e3b", "-"),
}

# Scripts whose accents are optional; elsewhere (Devanagari vowel signs, …) a mark is part of the letter.
_ACCENT_FOLDED_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC", "ARABIC", "HEBREW"})
_BREVE, _DIAERESIS, _ACUTE = "\u0306", "\u0308", "\u0301"
# Cyrillic letters a mark turns into another letter of the alphabet: й ў (breve), ї (diaeresis), ѓ ќ (acute).
_CYRILLIC_LETTER_MARKS = frozenset(
    {("и", _BREVE), ("у", _BREVE), ("і", _DIAERESIS), ("г", _ACUTE), ("к", _ACUTE)}
)

_SENTINEL = "\x00"  # a table entry meaning "this character does not fold to exactly one character"


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def _fold_cluster(cluster: str) -> str:
    """Fold one base character together with the combining marks that follow it."""
    if cluster in _TYPOGRAPHIC:
        return _TYPOGRAPHIC[cluster]
    if len(cluster) == 1 and unicodedata.category(cluster) == "Cf":
        return ""  # soft hyphen, zero-width and bidi controls
    text = unicodedata.normalize("NFKC", cluster).casefold()
    decomposed = unicodedata.normalize("NFD", "".join(_TYPOGRAPHIC.get(c, c) for c in text))
    out: list[str] = []
    base = ""
    for ch in decomposed:
        if not _is_mark(ch):
            out.append(ch)
            base = ch
        elif base and (
            (base, ch) in _CYRILLIC_LETTER_MARKS
            or (
                base.isalpha()
                and _script(base) not in _ACCENT_FOLDED_SCRIPTS
                and not 0xFE00 <= ord(ch) <= 0xFE0F
            )
        ):
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


_word_cache: dict[str, bool] = {}
_CACHED_BELOW = 0x20000  # per-character caches stop at the planes text really uses, so they stay small


def is_word_char(ch: str) -> bool:
    """True for a character that belongs to a word once folded: a letter, a digit or a mark, in any script."""
    known = _word_cache.get(ch)
    if known is None:
        known = ch.isalnum() or _is_mark(ch)
        if ord(ch) < _CACHED_BELOW:
            _word_cache[ch] = known
    return known


class _FoldTable(dict[int, str]):
    """A ``str.translate`` table filled on first sight of each character."""

    def __init__(self, *, words_only: bool) -> None:
        super().__init__()
        self._words_only = words_only

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        # a mark's folding depends on the letter before it, so marks always take the exact path
        folded = _SENTINEL if _is_mark(ch) else _fold_cluster(ch)
        if len(folded) != 1:
            folded = _SENTINEL
        elif self._words_only and folded != _SENTINEL and not is_word_char(folded):
            folded = " "
        if code < _CACHED_BELOW:
            self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable(words_only=False)
_MATCH_TABLE = _FoldTable(words_only=True)
_FOLD_TABLE[0] = _MATCH_TABLE[0] = _SENTINEL
for _code in range(1, 128):
    _FOLD_TABLE[_code] = chr(_code).lower()
    _MATCH_TABLE[_code] = chr(_code).lower() if chr(_code).isalnum() else " "
# The match folding of ASCII text as a bytes.translate table, several times cheaper than str.translate. NUL
# stays NUL: it is the sentinel, which sends the text down the exact path.
_ASCII_MATCH_BYTES = bytes(ord(_MATCH_TABLE[code]) if code else 0 for code in range(128)) + bytes(128)


def _clusters(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded) for each base character with its marks, slowly but exactly."""
    out: list[tuple[int, int, str]] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and _is_mark(text[j]):
            j += 1
        out.append((i, j, _fold_cluster(text[i:j])))
        i = j
    return out


# Fast path: most feed text is ASCII, Cyrillic or Western European, which a single-byte code page holds. There
# folding is bytes.translate with a 256-entry table, far cheaper than str.translate on non-ASCII text. A
# character whose folding is not one character of the same code page maps to NUL and sends the text down the
# exact path.
_CODE_PAGES = ("cp1251", "cp1252")


def _code_page_table(encoding: str, table: _FoldTable) -> bytes:
    out = bytearray(256)
    for byte in range(1, 256):
        try:
            ch = bytes([byte]).decode(encoding)
        except UnicodeDecodeError:
            continue
        try:
            folded = table[ord(ch)].encode(encoding)
        except UnicodeEncodeError:
            continue
        if len(folded) == 1:
            out[byte] = folded[0]
    return bytes(out)


_PAGE_TABLES = {
    page: (_code_page_table(page, _FOLD_TABLE), _code_page_table(page, _MATCH_TABLE)) for page in _CODE_PAGES
}


def _fold_by_code_page(text: str, *, for_match: bool) -> str | None:
    for page in _CODE_PAGES:
        try:
            data = text.encode(page)
        except UnicodeEncodeError:
            continue
        mapped = data.translate(_PAGE_TABLES[page][1 if for_match else 0])
        return None if 0 in mapped else mapped.decode(page)
    return None


def fold(text: str) -> str:
    """The comparison form of ``text``: NFKC, case-folded, accent-folded, typographic punctuation unified."""
    if text.isascii() and "\x00" not in text:
        return text.lower()
    folded = _fold_by_code_page(text, for_match=False)
    if folded is not None:
        return folded
    folded = text.translate(_FOLD_TABLE)
    if _SENTINEL not in folded:
        return folded
    return "".join(f for _, _, f in _clusters(text))


@dataclass(frozen=True, slots=True)
class MatchText:
    """Folded text padded and reduced to words separated by spaces (every other character becomes one space).

    ``text`` starts and ends with a space, so a phrase key ``" word "`` only matches whole words. The folding
    is one character per character unless some character expands or vanishes; then ``starts``/``ends`` map
    each folded character back to the original characters it came from.
    """

    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``[start, end)`` for the padded ``text[start:end]`` (which must not be empty)."""
        if self.starts is None or self.ends is None:
            return start - 1, end - 1
        return self.starts[start - 1], self.ends[end - 2]


def match_text(text: str) -> MatchText:
    """``text`` folded for phrase matching, with the map back to its original offsets."""
    if text.isascii():
        mapped = text.encode("ascii").translate(_ASCII_MATCH_BYTES).decode("ascii")
    else:
        mapped = _fold_by_code_page(text, for_match=True) or text.translate(_MATCH_TABLE)
    if _SENTINEL not in mapped:
        return MatchText(" " + mapped + " ")
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end, folded in _clusters(text):
        for ch in folded:
            chars.append(ch if is_word_char(ch) else " ")
            starts.append(start)
            ends.append(end)
    return MatchText(" " + "".join(chars) + " ", tuple(starts), tuple(ends))


def _mark_class() -> str:
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    # plus the invisible joiners and the soft hyphen, which sit inside words
    return (
        "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges) + "\u00ad\u200b-\u200d\u2060"
    )


# One character class (fast in ``re``): word characters and marks. It also takes "_", split off afterwards.
_W = rf"[\w{_mark_class()}]"
_APOSTROPHES = "'\u2019\u02bc"
_TOKEN = re.compile(
    rf"(?:[^\W\d_]\.){{2,}}"  # dotted abbreviations: U.S., U.N., С.В.
    rf"|\d+(?:[.,:]\d+)*{_W}*"  # 1,200  2.5  10:30  5th
    rf"|{_W}+(?:[{_APOSTROPHES}]{_W}+)*"  # words, with inner apostrophes: O'Brien, об’єкт, Putin's
)
_UNDERSCORES = re.compile(r"[^_]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """One word of a text: ``text`` is ``original[start:end]``."""

    text: str
    start: int
    end: int


def words(text: str) -> list[Token]:
    """The words of ``text`` with their offsets in it (any script).

    A word is a run of letters, digits and marks; inner apostrophes join (``O'Brien``) but a possessive
    ``'s``/``’s`` is left off (``Putin's`` → ``Putin``); dotted abbreviations keep their dots (``U.S.``);
    numbers keep inner separators (``1,200``, ``2.5``). Hyphens always split. ``words(fold(t))`` gives
    folded words.
    """
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        if end - start > 2 and text[end - 1] in "sS" and text[end - 2] in _APOSTROPHES:
            end -= 2
        if "_" in m.group():
            out.extend(
                Token(text=part.group(), start=part.start(), end=part.end())
                for part in _UNDERSCORES.finditer(text, start, end)
                if any(c.isalnum() for c in part.group())
            )
        else:
            out.append(Token(text=text[start:end], start=start, end=end))
    return out
