"""Group reports of one event into stories: fingerprints, pairwise evidence and an in-memory story index.

A fingerprint holds two kinds of evidence. Lexical: the hashed word pairs and the hashed stems of the
title and lead (pairs for copies and close rewrites, single stems for retold stories), compared by their
exact Jaccard similarity; the smallest pair hashes (a bottom-k sketch) retrieve near-duplicates.
Language-independent: the watchlist's actor and topic ids, numbers (digits and number words in English,
Russian and Ukrainian, with durations), weekdays, loose phonetic keys of proper names (Cyrillic
transliterated, so Уиткофф ≈ Witkoff), quoted phrases and the publication time, which catch the same
event told in another language. Conflicting numbers, durations or weekdays and a time gap beyond the
window keep look-alike events apart; an item joins a story only if it contradicts none of its members.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import re
import struct
import sys
import types
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from hashlib import blake2b
from operator import itemgetter, not_

from feeds.errors import StorageError
from feeds.models import Item, Match, StoryCandidate
from feeds.normalize import html_to_text
from feeds.textnorm import fold

# ---------------------------------------------------------------------------------------------------------
# Tunables. They describe the mechanism, not any data set: a change here must make sense for unseen news.
# ---------------------------------------------------------------------------------------------------------

_BINS = 16  # pair hashes fall into this many bins by their top bits; each bin's smallest is one sketch value
_BAND_BINS = 2  # bins per retrieval band: pair Jaccard 0.5 shares one of 8 bands 90% of the time, 0.7 99.9%
_LEAD_WORDS = 80  # title + this many summary words feed the lexical evidence
_STEM_CHARS = 5  # crude stemming by prefix: folds English plurals and most Slavic case endings together
_DEFAULT_WINDOW = timedelta(hours=72)

_LEXICAL_SAME = 0.3  # word-pair Jaccard above which two texts are copies or close rewrites (unrelated: ~0.02)
_WORDING_RELATED = 0.35  # stem Jaccard well beyond what two reports of one beat share by chance
_MIN_ACTOR_OVERLAP = 0.5  # Jaccard of actor ids required before other evidence is weighed
_EVIDENCE_SAME = 3.5  # weighted evidence needed when the texts are not lexical near-duplicates
_COMMON_ACTORS = 2  # the first shared actors are what a whole beat is about; the rest are telling
# Weights of shared evidence, roughly how much each makes a coincidence less likely.
_W_WORDING = 5.0  # per unit of stem Jaccard above the baseline two texts of one beat share
_WORDING_BASELINE = 0.15
_W_EXTRA_ACTOR = 0.5
_W_TOPICS = 0.5
_W_ROUND_NUMBER = 1.0  # small or round numbers (4, 30, 400, 1200) recur in unrelated reports
_W_NUMBER = 1.5  # others (18, 41, 2.5, 185) rarely coincide by chance
_W_QUANTITY = 0.5
_W_MINOR_NUMBER = 0.25
_W_NAME = 0.75
_W_QUOTE = 1.0
_W_WEEKDAY = 0.5
_W_CLOSE_IN_TIME = 0.5  # both dated and published within _CLOSE_IN_TIME: reports of one event cluster in time
_CLOSE_IN_TIME = timedelta(hours=12)

_ACTOR_SCAN_BUDGET = 200  # entries scanned through the rarest actors' postings per look-up
_MAX_COMPARED = 24  # candidates weighed in full per look-up, the most promising first
_MAX_MEMBERS_CHECKED = 64  # members of a story checked for conflicts before an item may join it

# ---------------------------------------------------------------------------------------------------------
# Text preparation and lexical evidence
# ---------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def _expanding_folds() -> tuple[tuple[str, str], ...]:
    """Characters of the Latin and Cyrillic code pages that fold to other than one character (…, ß, №)."""
    found = set()
    for page in ("cp1251", "cp1252"):
        for byte in range(0x80, 0x100):
            try:
                ch = bytes([byte]).decode(page)
            except UnicodeDecodeError:
                continue
            if len(fold(ch)) != 1:
                found.add((ch, fold(ch)))
    return tuple(sorted(found))


# ``fold`` takes a slow path, character by character, through a text holding any of these; spelled out
# first they fold the same and the text keeps the fast path.
_EXPANDING_FOLDS = _expanding_folds()


def _fold(text: str) -> str:
    """The comparison form shared with the classifier: NFKC, casefold, accents off, apostrophes unified."""
    if not text.isascii():
        for ch, folded in _EXPANDING_FOLDS:
            if ch in text:
                text = text.replace(ch, folded)
    return fold(text)


def _folded_words(text: str) -> frozenset[str]:
    return frozenset(_fold(w) for w in text.split())


def _plain_summary(summary: str) -> str:
    return html_to_text(summary) if ("<" in summary or "&" in summary) else summary


_STOPWORDS = _folded_words(
    """
    a an the of to in on at for and or but with by from as is are was were be been being has have had
    that this these those it its their his her he she they we you our i not no also into over after
    before about than then there which who whom what when where while will would could should may can
    said says say told just more most other some such only own same so very s
    и в во на с со по к ко о об обо от до за из изо у же что как а но не ни для при это этот эта эти
    его ее её их он она оно они мы вы я был была было были быть также ли бы то так уже еще ещё где
    когда который которая которое которые которых после перед над под между через со всех все всё
    і й та в у на з із зі зо по до за від для що як а але не ні це цей ця ці його її їх він вона воно
    вони ми ви я був була було були бути також чи б би те так вже ще де коли який яка яке які після
    перед над під між через усі всі все
    """
)


def _words(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


def _word_bytes(page: str) -> bytes:
    """A bytes.translate table of a single-byte code page: what a ``_WORD`` token may hold (letters, digits
    and the apostrophe) to itself, anything else to a space."""
    table = bytearray(b" " * 256)
    for byte in range(256):
        try:
            ch = bytes([byte]).decode(page)
        except UnicodeDecodeError:
            continue
        if ch.isalnum() or ch == "'":  # str.isalnum() is exactly the regex class [^\W_]
            table[byte] = byte
    return bytes(table)


_WORD_BYTES = {page: _word_bytes(page) for page in ("cp1251", "cp1252")}
# An apostrophe is inside a ``_WORD`` token only between two letters or digits; anywhere else it splits.
_LOOSE_APOSTROPHE = re.compile(r"'(?:(?<![^\W_]')|(?![^\W_]))")


def _word_spaced(folded: str) -> str | None:
    """``folded`` with each character no ``_WORD`` token holds replaced by a space (one for one, so offsets
    hold), for ``str.split`` to give the tokens three times faster than the regex; None when no
    single-byte code page holds the text."""
    if folded.isascii():  # ASCII is part of both pages, and encoding it is a plain copy
        spaced = folded.encode("ascii").translate(_WORD_BYTES["cp1252"]).decode("ascii")
    else:
        for page, table in _WORD_BYTES.items():
            try:
                data = folded.encode(page)
            except UnicodeEncodeError:
                continue
            spaced = data.translate(table).decode(page)
            break
        else:
            return None
    return _LOOSE_APOSTROPHE.sub(" ", spaced) if "'" in spaced else spaced


def _split_words(folded: str, cut: int) -> tuple[list[str], list[str]]:
    """``_WORD.findall(folded, 0, cut)`` and ``_WORD.findall(folded, cut)``, where ``cut`` is the end of
    ``folded`` or follows whitespace (so that no token straddles it)."""
    spaced = _word_spaced(folded)
    if spaced is None:
        return _WORD.findall(folded, 0, cut), _WORD.findall(folded, cut)
    if cut == len(spaced):
        return spaced.split(), []
    return spaced[:cut].split(), spaced[cut:].split()


def _stems(text: str) -> list[str]:
    return [w[:_STEM_CHARS] for w in _words(text) if w not in _STOPWORDS]


def _lead_end(folded_summary: str) -> int:
    """Where the first ``_LEAD_WORDS`` whitespace-separated words of the summary end."""
    parts = folded_summary.split(None, _LEAD_WORDS)
    if len(parts) <= _LEAD_WORDS:
        return len(folded_summary)
    return len(folded_summary) - len(parts[-1])


# Shingles are hashed with CRC-32 (stable across processes and versions, unlike hash()), keeping the top 16
# bits: two texts of ~100 shingles share one by chance 15% of the time, which moves a Jaccard similarity by
# ~0.005. The pair "a b" continues the CRC of "a" over " " and then "b", so no pair string is built, and
# nearly every step runs in C (map over zlib.crc32, dict look-ups and itemgetter).
_SWAP_BYTES = sys.byteorder == "big"  # stored hash arrays are little-endian on every machine
_STEM_CACHE_SIZE = 16384  # words kept: the common words of news recur in every poll; ~3 MB at most


class _StemHashes(dict[str, tuple[bytes, int, int] | None]):
    """Per folded word: None for a stopword, else its stem's UTF-8 bytes, the CRC-32 of the stem and a space
    (where each pair's CRC starts) and the stem's 16-bit hash; worked out on first sight, as words recur."""

    def __missing__(self, word: str) -> tuple[bytes, int, int] | None:
        if len(self) >= _STEM_CACHE_SIZE:  # a cache, not a record of every word ever read
            self.clear()
        entry = None
        if word not in _STOPWORDS:
            stem = word[:_STEM_CHARS].encode()
            crc = zlib.crc32(stem)
            entry = (stem, zlib.crc32(b" ", crc), crc >> 16)
        self[word] = entry
        return entry


_STEM_HASHES = _StemHashes()
_STEM_BYTES, _STEM_THEN_SPACE, _STEM_HASH = itemgetter(0), itemgetter(1), itemgetter(2)


def _lexical_hashes(words: Iterable[str]) -> tuple[list[int], list[int]]:
    """Sorted distinct 16-bit hashes of the adjacent stem pairs and of the stems of folded ``words``, their
    stopwords left out."""
    entries = list(filter(None, map(_STEM_HASHES.__getitem__, words)))
    pairs = map(zlib.crc32, map(_STEM_BYTES, entries[1:]), map(_STEM_THEN_SPACE, entries))
    return sorted({h >> 16 for h in pairs}), sorted(set(map(_STEM_HASH, entries)))


def _pack_u16(values: Iterable[int]) -> bytes:
    packed = array("H", values)
    if _SWAP_BYTES:
        packed.byteswap()
    return packed.tobytes()


def _unpack_u16(data: bytes) -> array[int]:
    values = array("H")
    values.frombytes(data[: len(data) - len(data) % 2])
    if _SWAP_BYTES:
        values.byteswap()
    return values


def _set_jaccard(a: set[int], b: Iterable[int]) -> float:
    if not a:
        return 0.0
    other = set(b)
    shared = len(a & other)
    return shared / (len(a) + len(other) - shared)


def _shared_u16_merged(a: bytes, a_at: int, a_end: int, b: bytes, b_at: int, b_end: int) -> int:
    """How many values the sorted, distinct little-endian 16-bit runs ``a[a_at:a_end]`` and
    ``b[b_at:b_end]`` share (an odd trailing byte is no value), by walking both in step."""
    a_last, b_last = a_end - 1, b_end - 1  # a value needs its second byte
    if a_at >= a_last or b_at >= b_last:
        return 0
    x, y = a[a_at] | a[a_at + 1] << 8, b[b_at] | b[b_at + 1] << 8
    shared = 0
    while True:
        if x == y:
            shared += 1
            a_at += 2
            b_at += 2
            if a_at >= a_last or b_at >= b_last:
                return shared
            x, y = a[a_at] | a[a_at + 1] << 8, b[b_at] | b[b_at + 1] << 8
        elif x < y:
            a_at += 2
            if a_at >= a_last:
                return shared
            x = a[a_at] | a[a_at + 1] << 8
        else:
            b_at += 2
            if b_at >= b_last:
                return shared
            y = b[b_at] | b[b_at + 1] << 8


def _run_set(data: bytes, at: int, end: int) -> set[int]:
    global _last_run
    # A look-up compares one query run with many entries: its set is made once.
    last = _last_run
    if last is not None and last[0] is data and last[1] == at and last[2] == end:
        return last[3]
    values = set(_unpack_u16(data[at:end]))
    _last_run = (data, at, end, values)
    return values


_last_run: tuple[bytes, int, int, set[int]] | None = None

# Compiled (setup.py), the walk reads bytes as machine integers, with no int object per value: ~4x faster
# than a set intersection, and the story index compares hash runs for every candidate. As plain Python the
# walk is the slower one, and sets need no sorted runs.
_COMPILED = not isinstance(_shared_u16_merged, types.FunctionType)


def _run_jaccard(a: bytes, a_at: int, a_end: int, b: bytes, b_at: int, b_end: int) -> float:
    """Jaccard similarity of the 16-bit hash runs ``a[a_at:a_end]`` and ``b[b_at:b_end]`` (an odd trailing
    byte is no hash); 0 when ``a`` holds none. Compiled, both runs must be sorted and distinct."""
    if _COMPILED:
        mine, theirs = (a_end - a_at) // 2, (b_end - b_at) // 2
        if not mine:
            return 0.0
        shared = _shared_u16_merged(a, a_at, a_end, b, b_at, b_end)
        return shared / (mine + theirs - shared)
    values = _run_set(a, a_at, a_end)
    if not values:
        return 0.0
    other = set(_unpack_u16(b[b_at:b_end]))
    shared = len(values.intersection(other))
    return shared / (len(values) + len(other) - shared)


def _sorted_distinct_u16(data: bytes, at: int, end: int) -> bool:
    """Whether the 16-bit values of ``data[at:end]`` strictly increase (what the walk above needs)."""
    previous = -1
    while at + 1 < end:
        value = data[at] | data[at + 1] << 8
        if value <= previous:
            return False
        previous = value
        at += 2
    return True


def _sorted_distinct(packed: bytes) -> bytes:
    """``packed`` as sorted, distinct 16-bit values: itself when it already is (as fingerprints make it)."""
    if _sorted_distinct_u16(packed, 0, len(packed)):
        return packed
    return _pack_u16(sorted(set(_unpack_u16(packed))))


def lexical_similarity(a: bytes, b: bytes) -> float:
    """Jaccard similarity of the shingles behind two ``StoryFingerprint.signature`` (or ``.wording``)."""
    return _set_jaccard(set(_unpack_u16(a)), _unpack_u16(b)) if b else 0.0


# ---------------------------------------------------------------------------------------------------------
# Numbers: digits and number words (en, ru, uk), cardinal, collective and ordinal, with scale words
# ---------------------------------------------------------------------------------------------------------

# Digits not glued to a preceding letter or digit ("G7", "MH17" are names); "1,200", "2.5", "1 200" whole.
# The look-behinds follow the first digit so that the scan jumps from digit to digit.
_DIGIT_RUN = re.compile(r"\d(?<![^\W_]\d)(?<![.,]\d)\d*(?:(?:[.,]|[ \u00a0\u202f](?=\d{3}\b))\d+)*")
# The same for ASCII text, where it finds the same runs: ASCII classes are tested faster than Unicode ones.
_ASCII_DIGIT_RUN = re.compile(_DIGIT_RUN.pattern, re.ASCII)

_EN_NUMBERS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "thousand": 1000, "million": 10**6, "billion": 10**9,
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
    "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "hundredth": 100,
}  # fmt: skip
# "one"/"first" are left out: as words they are mostly idiom ("one of the", "first time").

_SLAVIC_CARDINALS: dict[int, tuple[str, ...]] = {
    2: ("два", "две", "двух", "двум", "двумя", "двое", "двоих", "дві", "двох", "двом", "двома", "двоє"),
    3: ("три", "трех", "трем", "тремя", "трое", "троих", "трьох", "трьом", "трьома", "троє"),
    4: (
        "четыре",
        "четырех",
        "четырем",
        "четырьмя",
        "четверо",
        "четверых",
        "чотири",
        "чотирьох",
        "чотирьом",
        "чотирма",
    ),
    5: ("пять", "пяти", "пятью", "пятеро", "пятерых", "п'ять", "п'яти", "п'ятьох", "п'ятьма", "п'ятеро"),
    6: ("шесть", "шести", "шестью", "шестеро", "шість", "шести", "шістьох", "шістьма", "шестеро"),
    7: ("семь", "семи", "семеро", "сім", "сімох", "сьома", "семеро"),
    8: ("восемь", "восьми", "восемью", "вісім", "восьми", "вісьмох", "вісьма"),
    9: ("девять", "девяти", "девятью", "дев'ять", "дев'яти", "дев'ятьох"),
    10: ("десять", "десяти", "десятью", "десятеро", "десятьох"),
    11: ("одиннадцать", "одиннадцати", "одинадцять", "одинадцяти"),
    12: ("двенадцать", "двенадцати", "дванадцять", "дванадцяти"),
    13: ("тринадцать", "тринадцати", "тринадцять", "тринадцяти"),
    14: ("четырнадцать", "четырнадцати", "чотирнадцять", "чотирнадцяти"),
    15: ("пятнадцать", "пятнадцати", "п'ятнадцять", "п'ятнадцяти"),
    16: ("шестнадцать", "шестнадцати", "шістнадцять", "шістнадцяти"),
    17: ("семнадцать", "семнадцати", "сімнадцять", "сімнадцяти"),
    18: ("восемнадцать", "восемнадцати", "вісімнадцять", "вісімнадцяти"),
    19: ("девятнадцать", "девятнадцати", "дев'ятнадцять", "дев'ятнадцяти"),
    20: ("двадцать", "двадцати", "двадцатью", "двадцять", "двадцяти"),
    30: ("тридцать", "тридцати", "тридцять", "тридцяти"),
    40: ("сорок", "сорока"),
    50: ("пятьдесят", "пятидесяти", "п'ятдесят", "п'ятдесяти"),
    60: ("шестьдесят", "шестидесяти", "шістдесят", "шістдесяти"),
    70: ("семьдесят", "семидесяти", "сімдесят", "сімдесяти"),
    80: ("восемьдесят", "восьмидесяти", "вісімдесят", "вісімдесяти"),
    90: ("девяносто", "девяноста", "дев'яносто"),
    100: ("сто", "ста"),
    200: ("двести", "двухсот", "двісті", "двохсот"),
    300: ("триста", "трехсот", "трьохсот"),
    400: ("четыреста", "четырехсот", "чотириста", "чотирьохсот"),
    500: ("пятьсот", "пятисот", "п'ятсот", "п'ятисот"),
    1000: ("тысяча", "тысячи", "тысяч", "тыс", "тисяча", "тисячі", "тисяч", "тис"),
    10**6: ("миллион", "миллиона", "миллионов", "млн", "мільйон", "мільйона", "мільйонів"),
    10**9: ("миллиард", "миллиарда", "миллиардов", "млрд", "мільярд", "мільярда", "мільярдів"),
}
# Ordinal stems take any adjective ending; "друг-" is left out (Russian "другой" means "other").
_SLAVIC_ORDINAL_STEMS_RAW = {
    "втор": 2, "трет": 3, "четверт": 4, "пят": 5, "п'ят": 5, "шест": 6, "шост": 6, "седьм": 7,
    "сьом": 7, "восьм": 8, "девят": 9, "дев'ят": 9, "десят": 10, "одиннадцат": 11, "одинадцят": 11,
    "двенадцат": 12, "дванадцят": 12, "тринадцат": 13, "тринадцят": 13, "четырнадцат": 14,
    "чотирнадцят": 14, "пятнадцат": 15, "п'ятнадцят": 15, "двадцат": 20, "двадцят": 20,
    "тридцат": 30, "тридцят": 30,
}  # fmt: skip
_SLAVIC_ORDINAL_STEMS = {_fold(stem): value for stem, value in _SLAVIC_ORDINAL_STEMS_RAW.items()}
_ADJECTIVE_ENDINGS = _folded_words(
    "ый ий ой ій ая яя ья а я ое ее ье е є ого его ього ьего ому ему ьому ьему ым им ім ьим ом ем ьем "
    "ую юю ью у ю ые ие ьи і ых их іх ьих ыми ими іми ьими ої ою"
)
_HALF_AFTER = tuple(
    tuple(_fold(w) for w in tail) for tail in (("and", "a", "half"), ("с", "половиной"), ("з", "половиною"))
)
_ONE_AND_HALF = frozenset(_fold(w) for w in ("полтора", "полторы", "полутора", "півтора", "півтори"))
_SCALES = frozenset({1000, 10**6, 10**9})


def _slavic_number_words() -> dict[str, int]:
    table: dict[str, int] = {}
    for value, forms in _SLAVIC_CARDINALS.items():
        for form in forms:
            table[_fold(form)] = value
    return table


_NUMBER_WORDS: dict[str, int] = {**_EN_NUMBERS, **_slavic_number_words()}
_SCALE_WORDS = {w: v for w, v in _NUMBER_WORDS.items() if v in _SCALES}


def _ordinal_forms() -> dict[str, int]:
    """Every Slavic ordinal stem with every adjective ending, as ``_word_number`` reads it."""
    forms: dict[str, int] = {}
    for stem in _SLAVIC_ORDINAL_STEMS:
        for ending in _ADJECTIVE_ENDINGS:
            word = stem + ending
            for cut in (3, 4, 2, 1):  # the first split that reads as stem + ending decides, as it always has
                if word[-cut:] in _ADJECTIVE_ENDINGS and word[:-cut] in _SLAVIC_ORDINAL_STEMS:
                    forms[word] = _SLAVIC_ORDINAL_STEMS[word[:-cut]]
                    break
    return forms


# Every word that reads as a number, so that one dictionary look-up (and one set test per text) does.
_WORD_NUMBERS: dict[str, int] = {**_ordinal_forms(), **_NUMBER_WORDS}


def _word_number(word: str) -> int | None:
    return _WORD_NUMBERS.get(word)


def _combine(values: list[int]) -> int:
    total = current = 0
    for v in values:
        if v in _SCALES:
            total += max(current, 1) * v
            current = 0
        elif v == 100 and 0 < current < 100:  # "two hundred"; Slavic "сто" simply adds
            current *= 100
        else:
            current += v
    return total + current


def _canonical_number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _parse_digit_run(run: str) -> list[float]:
    """The numbers a run of digits states; one too large for a float (hundreds of digits, as hostile or
    broken feeds may hold) is no evidence and is left out rather than becoming infinity."""
    return [value for value in _digit_run_values(run) if math.isfinite(value)]


def _digit_run_values(run: str) -> list[float]:
    if run.isdigit():
        return [float(run)]
    groups = re.split(r"[.,\u00a0\u202f ]", run)
    seps = re.findall(r"[.,\u00a0\u202f ]", run)
    if not seps:
        return [float(run)]
    thousands = len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]) and len(set(seps)) == 1
    if thousands and (seps[0] in ",\u00a0\u202f " or len(seps) > 1):
        return [float("".join(groups))]
    if len(seps) == 1 and seps[0] in ".,":
        return [float(f"{groups[0]}.{groups[1]}")]
    return [float(g) for g in groups if g]


_UNIT_FORMS: dict[str, tuple[str, ...]] = {
    "h": ("hour", "hours", "час", "часа", "часов", "часу", "годину", "години", "годин", "година"),
    "min": ("minute", "minutes", "минута", "минуты", "минут", "минуту", "хвилина", "хвилини", "хвилин",
            "хвилину"),
    "d": ("day", "days", "день", "дня", "дней", "дні", "днів", "сутки", "суток", "доба", "доби", "діб"),
    "wk": ("week", "weeks", "неделя", "недели", "недель", "неделю", "тиждень", "тижні", "тижнів"),
    "mo": ("month", "months", "месяц", "месяца", "месяцев", "місяць", "місяці", "місяців"),
    "yr": ("year", "years", "год", "года", "лет", "рік", "роки", "років"),
    "%": ("percent", "процент", "процента", "процентов", "відсоток", "відсотки", "відсотків"),
}  # fmt: skip
_UNITS = {_fold(form): unit for unit, forms in _UNIT_FORMS.items() for form in forms}
# Durations of talks and calls tell look-alike meetings apart; other units are too often background.
_CONFLICTING_UNITS = frozenset({"h", "min"})


def _unit_after(folded: str, pos: int) -> str | None:
    if folded[pos : pos + 1] == "%" or folded[pos : pos + 2] == " %":
        return "%"
    following = _WORD.match(folded, pos + (1 if folded[pos : pos + 1] in (" ", "-") else 0))
    return _UNITS.get(following.group(0)) if following else None


# "%" right after a word (or after a word and a space): only then can a number word have a percent unit.
_PERCENT_AFTER_WORD = re.compile(r"[^\W\d_] ?%")
# Words that can start or make up a spelled-out number: a text with none of them has no number words.
_NUMBER_WORD_FORMS = frozenset(_WORD_NUMBERS) | _ONE_AND_HALF


def _numbers(folded: str, words: list[str], distinct: set[str]) -> list[tuple[float, str | None]]:
    """Every number the folded text states, with the unit that follows it when it is one of a few known ones.

    Digits and number words (cardinal, collective, ordinal) in English, Russian and Ukrainian count alike,
    scale words apply ("4.9 million", "20 тысяч"), and "and a half" / "с половиной" adds one half.
    ``words`` are the text's ``_WORD`` tokens in order and ``distinct`` the same as a set.
    """
    found: list[tuple[float, str | None]] = []
    for m in (_ASCII_DIGIT_RUN if folded.isascii() else _DIGIT_RUN).finditer(folded):
        values = _parse_digit_run(m.group(0))
        if not values:
            continue
        end = m.end()
        after = folded[end : end + 1]
        following = _WORD.match(folded, end + 1 if after == " " else end)
        word = following.group(0) if following else ""
        scale = _SCALE_WORDS.get(word, 1)
        if scale != 1 and following:
            values[-1] *= scale
            unit = _unit_after(folded, following.end())
        elif after == "%" or folded[end : end + 2] == " %":
            unit = "%"
        elif after == "-":
            unit = _unit_after(folded, end)
        else:  # the word ``_unit_after`` would read is the one just matched
            unit = _UNITS.get(word)
        found.extend((v, None) for v in values[:-1])
        found.append((values[-1], unit))
    present = distinct & _NUMBER_WORD_FORMS
    if not present:
        return found
    percent = "%" in folded and _PERCENT_AFTER_WORD.search(folded) is not None
    gaps: list[str] = []  # the text between tokens (gaps[k] before token k), split only when needed

    def unit_after(last: int) -> str | None:
        """The unit after the number words ending with token ``last``, as ``_unit_after`` reads it: a
        percent sign, or the next token when one space or hyphen separates them."""
        nonlocal gaps
        if not percent and (last + 1 >= len(words) or words[last + 1] not in _UNITS):
            return None
        gaps = gaps or _WORD.split(folded)
        gap = gaps[last + 1]
        if gap[:1] == "%" or gap[:2] == " %":
            return "%"
        return _UNITS.get(words[last + 1]) if gap in (" ", "-") and last + 1 < len(words) else None

    # Only where a number word stands can a number start: visit those places in order.
    read_to = 0  # where the last number read ended
    for i in sorted(i for word in present for i in _positions(words, word)):
        if i < read_to:
            continue
        if words[i] in _ONE_AND_HALF:
            found.append((1.5, unit_after(i)))
            read_to = i + 1
            continue
        run: list[int] = []
        j = i
        while j < len(words):
            v = _WORD_NUMBERS.get(words[j])
            if v is None:
                if run and words[j] == "and" and j + 1 < len(words) and _WORD_NUMBERS.get(words[j + 1]):
                    j += 1
                    continue
                break
            run.append(v)
            j += 1
        if not run or all(v in _SCALES for v in run):
            read_to = max(j, i + 1)
            continue
        value = float(_combine(run))
        for tail in _HALF_AFTER:
            if tuple(words[j : j + len(tail)]) == tail:
                value += 0.5
                j += len(tail)
                break
        found.append((value, unit_after(j - 1)))
        read_to = j
    return found


def _positions(words: list[str], word: str) -> Iterator[int]:
    """Where ``word`` stands in ``words``."""
    i = -1
    while True:
        try:
            i = words.index(word, i + 1)
        except ValueError:
            return
        yield i


def _is_minor_number(value: float) -> bool:
    """Small whole counts and years say little about which event a text reports."""
    return value == int(value) and (value <= 3 or 1900 <= value <= 2100)


# ---------------------------------------------------------------------------------------------------------
# Weekdays
# ---------------------------------------------------------------------------------------------------------

_WEEKDAY_FORMS: dict[int, tuple[str, ...]] = {
    0: ("monday", "понедельник", "понедельника", "понедельнику", "понеділок", "понеділка", "понеділку"),
    1: ("tuesday", "вторник", "вторника", "вторнику", "вівторок", "вівторка", "вівторку"),
    2: ("wednesday",),
    3: ("thursday", "четверг", "четверга", "четвергу", "четвер"),
    4: ("friday", "пятница", "пятницу", "пятницы", "пятнице", "п'ятниця", "п'ятницю", "п'ятниці"),
    5: ("saturday", "суббота", "субботу", "субботы", "субботе", "субота", "суботу", "суботи"),
    6: ("sunday", "воскресенье", "воскресенья", "неділя", "неділю", "неділі"),
}
# Forms that are also ordinary words ("среда" is also "environment") count only after a preposition.
_WEEKDAY_AFTER_PREPOSITION = {_fold(w): 2 for w in ("среду", "среда", "середу", "середа", "среды", "середи")}
_DAY_PREPOSITIONS = frozenset(
    _fold(w) for w in ("в", "во", "на", "у", "до", "с", "со", "з", "із", "к", "по", "от", "від")
)
_WEEKDAYS = {_fold(form): day for day, forms in _WEEKDAY_FORMS.items() for form in forms}


_WEEKDAY_WORDS = frozenset(
    form + suffix for form in (*_WEEKDAYS, *_WEEKDAY_AFTER_PREPOSITION) for suffix in ("", "'s")
)


def _weekdays(words: list[str], distinct: set[str]) -> set[int]:
    days: set[int] = set()
    # Only the forms that need a preposition before them are looked up where they stand.
    for w in distinct & _WEEKDAY_WORDS:
        base = w[:-2] if w.endswith("'s") else w
        if base in _WEEKDAYS:
            days.add(_WEEKDAYS[base])
        elif any(i > 0 and words[i - 1] in _DAY_PREPOSITIONS for i in _positions(words, w)):
            days.add(_WEEKDAY_AFTER_PREPOSITION[base])
    return days


# ---------------------------------------------------------------------------------------------------------
# Proper names: loose phonetic keys that agree across Latin and Cyrillic spellings
# ---------------------------------------------------------------------------------------------------------

_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e", "є": "e",
        "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m",
        "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh",
        "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "u",
        "я": "a", "ў": "u", "'": "",
    }
)  # fmt: skip
# Case endings that add a consonant to a name (Путиным, Кушнером, Трампові); vowel endings vanish anyway.
_SLAVIC_NAME_ENDINGS_RAW = (
    "ьому", "ами", "ями", "ого", "его", "ому", "ему", "ові", "еві", "єві",
    "ым", "им", "ім", "ом", "ем", "ам", "ям", "ах", "ях", "ых", "их", "іх", "ой", "ей", "ою", "ею",
)  # fmt: skip
_LATIN_DIGRAPHS = (
    ("shch", "s"), ("tsch", "C"), ("sch", "s"), ("tch", "C"), ("dzh", "J"), ("sh", "s"), ("ch", "C"),
    ("zh", "z"), ("kh", "G"), ("gh", "G"), ("ph", "f"), ("th", "t"), ("ck", "k"), ("ts", "C"), ("tz", "C"),
    ("dj", "J"), ("j", "J"), ("x", "ks"), ("q", "k"), ("w", "v"), ("h", "G"), ("g", "G"), ("c", "k"),
)  # fmt: skip
_SLAVIC_NAME_ENDINGS = tuple(_fold(e) for e in _SLAVIC_NAME_ENDINGS_RAW)
_VOWELS = frozenset("aeiouy")
_NAME_STOP = _folded_words(
    """
    the a an and of in on at for to by with from as but or not no this that these those it its he she
    they we our his her their there here when after before while since new old says said say
    president minister foreign secretary general state ministry department council prime deputy
    mayor governor office union united national security federal republic chairman senate house
    representative spokesman spokeswoman spokesperson envoy ambassador adviser advisor aide director
    chancellor commissioner senator congressman sen rep gov mr mrs ms dr
    government parliament army defence defense agency committee commission court chief head leader
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    reuters tass ria interfax ukrinform unian afp ap bloomberg xinhua dpa efe ansa kyodo yonhap
    north south east west central eastern western northern southern
    и в на с по о от до за из у как что это но а не
    і у та з із на по від до за що як це але не
    """
)


def _latin_skeleton(word: str) -> str:
    for src, dst in _LATIN_DIGRAPHS:
        word = word.replace(src, dst)
    if not word:
        return ""
    head = "A" if word[0] in _VOWELS else ""
    out: list[str] = []
    for ch in word:
        if ch in _VOWELS:
            continue
        if not ("a" <= ch <= "z" or ch in "CGJ"):
            return ""
        if not out or out[-1] != ch:
            out.append(ch)
    return head + "".join(out)


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


@lru_cache(maxsize=16384)
def name_key(word: str) -> str:
    """A loose phonetic key of a name in any script: ``name_key("Уиткоффом") == name_key("Witkoff")``."""
    word = _fold(word)
    if word.endswith("'s"):
        word = word[:-2]
    word = word.strip("'")
    if _is_cyrillic(word):
        if len(word) >= 5:
            for ending in _SLAVIC_NAME_ENDINGS:
                if word.endswith(ending) and len(word) - len(ending) >= 3:
                    word = word[: -len(ending)]
                    break
        if word[:2] in ("уи", "уо", "уэ", "уа", "уе"):
            word = "w" + word[1:]
        word = word.replace("дж", "dzh").translate(_CYRILLIC_TO_LATIN)
    return _latin_skeleton(word)


_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_LETTER = re.compile(r"[^\W\d_]")


def _char_class(wanted: Callable[[str], bool]) -> str:
    """A regex character class body, as ranges, for the characters of the Basic Multilingual Plane that
    ``wanted`` accepts."""
    # Built code by code, never as a list of characters: each process importing this (every parse worker
    # too) would otherwise keep that list's peak as resident memory.
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if wanted(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges
    )


_UPPER = _char_class(lambda c: c.isupper() and _LETTER.match(c) is not None)
_ALPHA_CHAR = re.compile(f"[{_char_class(str.isalpha)}]")
_UPPER_ALPHA_CHAR = re.compile(f"[{_char_class(lambda c: c.isalpha() and c.isupper())}]")
# The ``_NAME_TOKEN`` tokens whose first letter is upper case, and those whose first letter is not. The
# first letter comes before the look-behinds (no letter, nor letter + apostrophe, before it) so that the
# scan jumps from candidate letter to candidate letter.
_TOKEN_START = r"(?<![^\W\d_].)(?<![^\W\d_]['’].)"
_CAPITALISED = rf"[{_UPPER}]{_TOKEN_START}[^\W\d_]*(?:['’][^\W\d_]+)*"
# Runs of capitalised tokens joined by one space, hyphen or NBSP, each with what makes its first word a
# sentence opener when one precedes it: a newline or . ! ? … : and opening quotes or brackets, or . ! ? …
# with closing ones and whitespace; and a colon after it (group 3), which makes even an opener a name
# ("Peskov: ..."). Fields are read with "\n" in front: the start opens too. Group 1 is the whole match;
# group 2 is the run after an opener, empty when there is none (then group 1 is the run). Read as
#   (?=[.!?…:\n{_UPPER}])((?:[.!?…:\n][ \"'«“„‘(]*|[.!?…]+[\"'»”“)\]]*\s+))?(RUN)(?=(:?))
# but spelled so that the pattern opens with the set of its possible first characters, which the regex
# engine then scans for in its fast loop: the first character is taken, and look-behinds tell which
# branch it may start.
_RUN = rf"{_CAPITALISED}(?:[ \-\u00a0]{_CAPITALISED})*"
_NAME_RUN = re.compile(
    rf"([.!?…:\n{_UPPER}](?:"
    rf"(?:(?<=[.!?…:\n])[ \"'«“„‘(]*|(?<=[.!?…])[.!?…]*[\"'»”“)\]]*\s+)({_RUN})"
    rf"|(?<=[{_UPPER}]){_TOKEN_START}[^\W\d_]*(?:['’][^\W\d_]+)*(?:[ \-\u00a0]{_CAPITALISED})*"
    rf"))(?=(:?))"
)
_OTHER_TOKEN = re.compile(rf"[^\W\d_]{_TOKEN_START}(?<![{_UPPER}])[^\W\d_]*(?:['’][^\W\d_]+)*")


_LOWER, _CAPITAL = 1, 2


def _letter_classes(encoding: str) -> bytes:
    """A bytes.translate table of a single-byte code page: capital letters to 2, other letters to 1, the
    rest to 0."""
    table = bytearray(256)
    for byte in range(256):
        try:
            ch = bytes([byte]).decode(encoding)
        except UnicodeDecodeError:
            continue
        if ch.isalpha():
            table[byte] = _CAPITAL if ch.isupper() else _LOWER
    return bytes(table)


_LETTER_CLASSES = {page: _letter_classes(page) for page in ("cp1251", "cp1252")}


def _capitals_dominate(capitals: int, letters: int) -> bool:
    return bool(letters) and capitals / letters > 0.6


def _mostly_upper_case(field: str) -> bool:
    """More than 60% of the letters are capitals (counted in C with bytes.translate where a code page
    holds the text)."""
    if field.isascii():  # ASCII is part of both pages, and encoding it is a plain copy
        mapped = field.encode("ascii").translate(_LETTER_CLASSES["cp1252"])
        capitals = mapped.count(_CAPITAL)
        return _capitals_dominate(capitals, capitals + mapped.count(_LOWER))
    # The characters a page lacks (é in Cyrillic text, ğ in Latin text) are dropped; as few as they mostly
    # are, they cannot move the share of capitals across the line, and with none dropped the count is exact.
    # Only when they could is every letter counted, by regex.
    for page, classes in _LETTER_CLASSES.items():
        kept = field.encode(page, "ignore")
        dropped = len(field) - len(kept)
        mapped = kept.translate(classes)
        capitals, lower = mapped.count(_CAPITAL), mapped.count(_LOWER)
        if not _capitals_dominate(capitals + dropped, capitals + dropped + lower):
            return False
        if _capitals_dominate(capitals, capitals + lower + dropped):
            return True
    letters = len(_ALPHA_CHAR.findall(field))
    return _capitals_dominate(len(_UPPER_ALPHA_CHAR.findall(field)), letters)


def _title_case(field: str, capitalised_long: int) -> bool:
    """At least 4 words of 4+ letters, 70% of them capitalised (``capitalised_long`` already counted)."""
    if capitalised_long < 3:
        return False
    other_long = 0
    for m in _OTHER_TOKEN.finditer(field):
        if m.end() - m.start() >= 4:
            other_long += 1
            if capitalised_long / (capitalised_long + other_long) < 0.7:
                return False
    total = capitalised_long + other_long
    return total >= 4 and capitalised_long / total >= 0.7


def _names(fields: Iterable[str], excluded: frozenset[str]) -> set[str]:
    """Keys of proper names: the last word of each run of capitalised words (the surname, not the given
    name), skipping lone sentence openers, generic titles and names the watchlist already matched."""
    keys: set[str] = set()
    for field in fields:
        found: set[str] = set()
        capitalised_long = 0  # for the Title Case test
        for matched, after_opener, colon in _NAME_RUN.findall("\n" + field):
            run = after_opener or matched  # with no opener before it, the match is the run
            # One token (no space, hyphen or apostrophe) is the usual case; the general one below agrees.
            if run.isalpha():
                if len(run) >= 4:
                    capitalised_long += 1
                if not after_opener or colon:  # a lone sentence opener is no name
                    key = _NAME_WORD_KEYS[run]
                    if key is not None:
                        found.add(key)
                continue
            tokens = run.split()
            if "-" in run:
                tokens = [part for token in tokens for part in token.split("-")]
            first = length = 0
            for i, token in enumerate(tokens):
                if len(token) >= 4:
                    capitalised_long += 1
                if _NAME_WORD_KEYS[token] is not None:
                    if not length:
                        first = i
                    length += 1
                    if i < len(tokens) - 1:
                        continue
                    i += 1
                if length and (length > 1 or first or not after_opener or (colon and i == len(tokens))):
                    found.add(name_key(tokens[i - 1]))
                length = 0
        # Two-letter skeletons (Peace, Kyiv) say too little.
        found = {key for key in found if len(key) >= 3 and key not in excluded}
        # Shouting and Title Case capitalise everything: such a field names nothing.
        if found and not _mostly_upper_case(field) and not _title_case(field, capitalised_long):
            keys |= found
    return keys


class _NameWordKeys(dict[str, str | None]):
    """Per capitalised token: None when it is too short or too generic to be a name (a title, function
    word, month or outlet: capitalised, yet no name), else its ``name_key``; worked out on first sight."""

    def __missing__(self, token: str) -> str | None:
        if len(self) > 65536:  # a cache, not a record of every capitalised word ever read
            self.clear()
        generic = len(token) < 3 or _fold(token).split("'")[0] in _NAME_STOP
        key = self[token] = None if generic else name_key(token)
        return key


_NAME_WORD_KEYS = _NameWordKeys()


@lru_cache(maxsize=4096)
def _alias_name_keys(phrase: str) -> frozenset[str]:
    return frozenset(key for word in _NAME_TOKEN.findall(phrase.replace("*", "")) if (key := name_key(word)))


def _phrase_keys(match: Match) -> frozenset[str]:
    """Name keys of the watchlist aliases that matched: those names already count as actor ids."""
    actors = match.actors
    # An alias usually matched several times: look each one up once.
    phrases = {span.phrase for span in match.spans if span.target in actors}
    return frozenset().union(*map(_alias_name_keys, phrases))


# ---------------------------------------------------------------------------------------------------------
# Quoted phrases
# ---------------------------------------------------------------------------------------------------------

# Every alternative opens with a literal quote mark: the regex engine gathers those into a set and jumps
# from one to the next in its fast search loop (a leading look-ahead would test every position instead).
_QUOTED = re.compile(
    r"«([^«»]{3,300})»|“([^“”]{3,300})”|„([^„“”]{3,300})[“”]|\"([^\"]{3,300})\"|‘([^‘’]{6,300})’"
)


def _quotes(text: str) -> set[int]:
    found: set[int] = set()
    # Looking for each opening mark is some 30 times cheaper than the regex scan, and many texts quote none.
    if "«" not in text and "“" not in text and "„" not in text and '"' not in text and "‘" not in text:
        return found
    for m in _QUOTED.finditer(text):
        inner = next(g for g in m.groups() if g is not None)
        stems = _stems(inner)
        if not stems or (len(stems) == 1 and len(stems[0]) < 4):
            continue
        digest = blake2b(" ".join(stems).encode(), digest_size=4).digest()
        found.add(int.from_bytes(digest, "little"))
    return found


# ---------------------------------------------------------------------------------------------------------
# Fingerprints
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryFingerprint:
    """What ``same_event`` compares: lexical evidence plus language-independent evidence of one item."""

    signature: bytes  # sorted distinct 16-bit hashes of title + lead stem pairs, little-endian (b"": no text)
    wording: bytes  # sorted distinct 16-bit hashes of the stems of title + lead, little-endian
    actors: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()  # telling numbers, canonical decimal text ("150", "2.5")
    minor_numbers: frozenset[str] = frozenset()  # small whole counts (<= 3) and years
    quantities: frozenset[str] = frozenset()  # number with a unit: "5 h", "90 min", "30 d"
    weekdays: frozenset[int] = frozenset()  # 0 = Monday
    names: frozenset[str] = frozenset()  # phonetic keys of proper names not already actor hits
    quotes: frozenset[int] = frozenset()  # 32-bit hashes of stemmed quoted phrases
    exact: frozenset[int] = frozenset()  # 64-bit hashes of the canonical URL and the content hash
    published: datetime
    dated: bool = True  # False when the publication time is an estimate (no date in the feed)


def _exact_key(kind: str, value: str) -> int:
    return int.from_bytes(blake2b(f"{kind}:{value}".encode(), digest_size=8).digest(), "little")


def fingerprint_item(item: Item, match: Match) -> StoryFingerprint:
    """The story fingerprint of a normalised item, with the watchlist match the classifier gave it."""
    summary = _plain_summary(item.summary)
    # Fold and split once; the lead, the numbers and the weekdays all read these.
    folded_title, folded_summary = _fold(item.title), _fold(summary)
    lead_end = _lead_end(folded_summary)
    title_words = _split_words(folded_title, len(folded_title))[0]
    lead_words, rest_words = _split_words(folded_summary, lead_end)
    lead = title_words + lead_words
    words = lead + rest_words
    distinct = set(words)
    stated = [
        (v, _canonical_number(v), unit)
        for v, unit in _numbers(f"{folded_title}\n{folded_summary}", words, distinct)
    ]
    numbers = {number for v, number, _unit in stated if not _is_minor_number(v)}
    minor = {number for v, number, _unit in stated if _is_minor_number(v)} - numbers
    quantities = {
        f"{number} {unit}" for v, number, unit in stated if unit and not (unit == "yr" and v >= 1900)
    }
    exact = {_exact_key("hash", item.content_hash)} if item.content_hash else set()
    if item.url:
        exact.add(_exact_key("url", item.url))
    pair_hashes, stem_hashes = _lexical_hashes(lead)
    return StoryFingerprint(
        signature=_pack_u16(pair_hashes),
        wording=_pack_u16(stem_hashes),
        actors=frozenset(match.actors),
        topics=frozenset(match.topics),
        numbers=frozenset(numbers),
        minor_numbers=frozenset(minor),
        quantities=frozenset(quantities),
        weekdays=frozenset(_weekdays(words, distinct)),
        names=frozenset(_names((item.title, summary), _phrase_keys(match))),
        quotes=frozenset(_quotes(f"{item.title}\n{summary}")),
        exact=frozenset(exact),
        published=item.published.astimezone(UTC),
        dated=not item.published_estimated,
    )


# ---------------------------------------------------------------------------------------------------------
# Storage encoding. Version 2: a fixed header (version, flags, publication time in microseconds, the byte
# lengths of the two hash arrays), the hash arrays, then the string sets (numbers, quantities, names, minor
# numbers, actors, topics; "\x00"-joined, or length-prefixed when an element holds a NUL) and the integer
# sets (weekdays, quotes, exact) as varints. Version 1 (b-bit MinHash signatures) still
# decodes, without its lexical part, which no longer compares with the hash sets.
# ---------------------------------------------------------------------------------------------------------

_FORMAT_VERSION = 2
_FORMAT_V1 = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEADER = struct.Struct("<BBqII")
_HASH_SIZES = struct.Struct("<II")  # the header's last two fields
_U32 = struct.Struct("<I")
_DATED = 1
# The index keeps each entry's publication time as microseconds << 2 | states numbers << 1 | dated.
_STAMP_SHIFT = 2
_STATES_NUMBERS = 2


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _put_varint(out: bytearray, n: int) -> None:
    if n < 0:
        raise StorageError(f"cannot store the negative number {n} in a story fingerprint")
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)


def _put_strings(out: bytearray, values: frozenset[str]) -> None:
    if not values:  # several sets are empty in most fingerprints
        out.append(0)  # the varint of the count, 0 << 1
        return
    ordered = sorted(values)
    joined = "\x00".join(ordered)
    if joined.count("\x00") == len(ordered) - 1:
        _put_varint(out, len(ordered) << 1)
        raw = joined.encode()
        _put_varint(out, len(raw))
        out += raw
        return
    _put_varint(out, len(ordered) << 1 | 1)
    for v in ordered:
        raw = v.encode()
        _put_varint(out, len(raw))
        out += raw


def _put_ints(out: bytearray, values: frozenset[int]) -> None:
    _put_varint(out, len(values))
    for v in sorted(values):
        _put_varint(out, v)


def encode_fingerprint(fp: StoryFingerprint) -> bytes:
    """Compact, versioned bytes for ``StoryCandidate.fingerprint``; ``decode_fingerprint`` reverses it."""
    out = bytearray(
        _HEADER.pack(
            _FORMAT_VERSION,
            _DATED if fp.dated else 0,
            _micros(fp.published),
            len(fp.signature),
            len(fp.wording),
        )
    )
    out += fp.signature
    out += fp.wording
    # Numbers first: the index reads them alone to rule out look-alikes that state other numbers.
    for strings in (fp.numbers, fp.quantities, fp.names, fp.minor_numbers, fp.actors, fp.topics):
        _put_strings(out, strings)
    for ints in (fp.weekdays, fp.quotes, fp.exact):
        _put_ints(out, ints)
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        n = shift = 0
        while True:
            b = self.byte()
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 140:
                raise ValueError("varint too long")

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def prefixed_strings(self, count: int) -> frozenset[str]:
        return frozenset(self.raw(self.varint()).decode() for _ in range(count))

    def ints(self) -> frozenset[int]:
        return frozenset(self.varint() for _ in range(self.varint()))


def decode_fingerprint(data: bytes) -> StoryFingerprint:
    """The fingerprint ``encode_fingerprint`` stored; raises StorageError on unreadable bytes."""
    version = data[0] if data else None
    try:
        if version == _FORMAT_VERSION:
            return _decode_v2(data)
        if version == _FORMAT_V1:
            return _decode_v1(data)
    except (ValueError, IndexError, OverflowError, UnicodeDecodeError, struct.error) as e:
        raise StorageError(f"stored story fingerprint is unreadable ({e}); re-run classify") from e
    raise StorageError(f"stored story fingerprint has unknown format version {version}; re-run classify")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
        if shift > 140:
            raise ValueError("varint too long")


def _chunk(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    end = pos + size
    if end > len(data):
        raise ValueError("truncated")
    return data[pos:end], end


def _read_strings(data: bytes, pos: int) -> tuple[frozenset[str], int]:
    """The version 2 string set at ``pos`` and the position after it."""
    head = data[pos]
    if head < 0x80:
        pos += 1
    else:
        head, pos = _varint(data, pos)
    count = head >> 1
    if head & 1:  # length-prefixed: some element holds a NUL
        values = []
        for _ in range(count):
            size, pos = _varint(data, pos)
            raw, pos = _chunk(data, pos, size)
            values.append(raw.decode())
        return frozenset(values), pos
    if not count:
        return frozenset(), pos
    size = data[pos]
    if size < 0x80:
        pos += 1
    else:
        size, pos = _varint(data, pos)
    raw, pos = _chunk(data, pos, size)
    parts = raw.decode().split("\x00")
    if len(parts) != count:
        raise ValueError("a string set does not hold the count it states")
    return frozenset(parts), pos


def _read_ints(data: bytes, pos: int) -> tuple[list[int], int]:
    """The version 2 integer set at ``pos`` and the position after it."""
    count, pos = _varint(data, pos)
    values = []
    for _ in range(count):
        value, pos = _varint(data, pos)
        values.append(value)
    return values, pos


def _skip_strings(data: bytes, pos: int) -> int:
    """The position after the version 2 string set at ``pos``."""
    head, pos = _varint(data, pos)
    if head & 1:
        for _ in range(head >> 1):
            size, pos = _varint(data, pos)
            pos += size
    elif head:
        size, pos = _varint(data, pos)
        pos += size
    return pos


def _record_traits(data: bytes, stamp: int) -> _Traits:
    """The conflict traits of a version 2 record without decoding the rest (``stamp`` as the index keeps
    it)."""
    signature_size, wording_size = _HASH_SIZES.unpack_from(data, _HEADER.size - _HASH_SIZES.size)
    numbers, pos = _read_strings(data, _HEADER.size + signature_size + wording_size)
    quantities, pos = _read_strings(data, pos)
    for _ in range(4):  # names, minor numbers, actors, topics
        pos = _skip_strings(data, pos)
    weekdays, pos = _read_ints(data, pos)
    return stamp >> _STAMP_SHIFT, bool(stamp & _DATED), numbers, quantities, frozenset(weekdays)


def _decode_v2(data: bytes) -> StoryFingerprint:
    _version, flags, micros, signature_size, wording_size = _HEADER.unpack_from(data)
    if flags & ~_DATED:
        raise ValueError(f"unknown flags {flags}")
    signature, pos = _chunk(data, _HEADER.size, signature_size)
    wording, pos = _chunk(data, pos, wording_size)
    strings: list[frozenset[str]] = []
    for _ in range(6):
        values, pos = _read_strings(data, pos)
        strings.append(values)
    ints: list[frozenset[int]] = []
    for _ in range(3):
        values_int, pos = _read_ints(data, pos)
        ints.append(frozenset(values_int))
    if pos != len(data):
        raise StorageError("stored story fingerprint has trailing or misaligned bytes; re-run classify")
    numbers, quantities, names, minor, actors, topics = strings
    weekdays, quotes, exact = ints
    return StoryFingerprint(
        signature=signature,
        wording=wording,
        actors=actors,
        topics=topics,
        numbers=numbers,
        minor_numbers=minor,
        quantities=quantities,
        weekdays=weekdays,
        names=names,
        quotes=quotes,
        exact=exact,
        published=_EPOCH + timedelta(microseconds=micros),
        dated=bool(flags & _DATED),
    )


def _decode_v1(data: bytes) -> StoryFingerprint:
    """Version 1: varint-prefixed fields. Its MinHash signatures are dropped: they do not compare with the
    hash sets of version 2, while its facts still do."""
    reader = _Reader(data, 1)
    zigzag = reader.varint()
    micros = (zigzag >> 1) ^ -(zigzag & 1)
    published = _EPOCH + timedelta(microseconds=micros)
    dated = reader.byte() == 1
    reader.raw(reader.varint())
    reader.raw(reader.varint())
    actors, topics, numbers, minor, quantities, names = (
        reader.prefixed_strings(reader.varint()) for _ in range(6)
    )
    weekdays, quotes, exact = (reader.ints() for _ in range(3))
    if reader.pos != len(data):
        raise StorageError("stored story fingerprint has trailing or misaligned bytes; re-run classify")
    return StoryFingerprint(
        signature=b"",
        wording=b"",
        actors=actors,
        topics=topics,
        numbers=numbers,
        minor_numbers=minor,
        quantities=quantities,
        weekdays=weekdays,
        names=names,
        quotes=quotes,
        exact=exact,
        published=published,
        dated=dated,
    )


# ---------------------------------------------------------------------------------------------------------
# Pairwise evidence
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryEvidence:
    """Why two fingerprints are (or are not) the same event; ``score`` weighs the shared evidence."""

    same: bool
    reason: str
    lexical: float
    wording: float
    actor_overlap: float
    topic_overlap: float
    shared_actors: frozenset[str]
    shared_numbers: frozenset[str]
    shared_minor_numbers: frozenset[str]
    shared_quantities: frozenset[str]
    shared_names: frozenset[str]
    shared_quotes: int
    shared_weekdays: frozenset[int]
    conflicts: tuple[str, ...]
    specific: int
    score: float


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def _units(quantities: frozenset[str]) -> dict[str, set[str]]:
    by_unit: dict[str, set[str]] = {}
    for q in quantities:
        value, _, unit = q.partition(" ")
        if unit in _CONFLICTING_UNITS:
            by_unit.setdefault(unit, set()).add(value)
    return by_unit


def _number_weight(number: str) -> float:
    try:
        value = float(number)
    except ValueError:  # not written by fingerprint_item; weigh it as any telling number
        return _W_NUMBER
    if not math.isfinite(value):  # nor this ("inf", "nan": a damaged stored record)
        return _W_NUMBER
    round_number = value == int(value) and (value < 10 or value % 10 == 0)
    return _W_ROUND_NUMBER if round_number else _W_NUMBER


def _number_agreement(a: frozenset[str], b: frozenset[str]) -> float:
    """How many of the telling numbers the terser report gives the other one gives too: reports of one
    event agree on nearly all of them, a number shared by coincidence comes with others that differ."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# What conflicts are judged on: publication time (microseconds), dated, numbers, quantities, weekdays.
_Traits = tuple[int, bool, frozenset[str], frozenset[str], frozenset[int]]


def _traits(fp: StoryFingerprint) -> _Traits:
    return _micros(fp.published), fp.dated, fp.numbers, fp.quantities, fp.weekdays


def _conflicts(a: StoryFingerprint, b: StoryFingerprint, window: timedelta) -> tuple[str, ...]:
    return _conflicts_between(_traits(a), _traits(b), window // _MICROSECOND)


def _conflicts_between(a: _Traits, b: _Traits, window_us: int) -> tuple[str, ...]:
    """What two reports disagree on: a time gap beyond the window, telling numbers, durations, weekdays."""
    a_time, a_dated, a_numbers, a_quantities, a_weekdays = a
    b_time, b_dated, b_numbers, b_quantities, b_weekdays = b
    found: list[str] = []
    if a_dated and b_dated and abs(a_time - b_time) > window_us:
        found.append("time")
    if a_numbers and b_numbers and a_numbers.isdisjoint(b_numbers):
        found.append("numbers")
    if a_quantities and b_quantities:
        units_a, units_b = _units(a_quantities), _units(b_quantities)
        if any(not (units_a[u] & units_b[u]) for u in units_a.keys() & units_b.keys()):
            found.append("durations")
    if a_weekdays and b_weekdays and a_weekdays.isdisjoint(b_weekdays):
        found.append("weekday")
    return tuple(found)


def compare_fingerprints(
    a: StoryFingerprint, b: StoryFingerprint, *, window: timedelta = _DEFAULT_WINDOW
) -> StoryEvidence:
    """Weigh the evidence that two fingerprints report the same event, and say why.

    Exact keys decide at once; a conflict (time gap, disjoint telling numbers, durations or weekdays)
    separates; near-identical text joins; otherwise the texts must share most actors, at least one
    specific fact (number, duration, name, quote, weekday, or clearly related wording) and enough
    weighted evidence overall.
    """
    return _weigh(
        a,
        b,
        window=window,
        lexical=lexical_similarity(a.signature, b.signature),
        wording=lexical_similarity(a.wording, b.wording),
    )


def _weigh(
    a: StoryFingerprint, b: StoryFingerprint, *, window: timedelta, lexical: float, wording: float
) -> StoryEvidence:
    """``compare_fingerprints`` with the two text similarities already measured."""
    shared_actors = a.actors & b.actors
    actors = _jaccard(a.actors, b.actors)
    topics = _jaccard(a.topics, b.topics)
    numbers = a.numbers & b.numbers
    minor = a.minor_numbers & b.minor_numbers
    quantities = a.quantities & b.quantities
    names = a.names & b.names
    quotes = len(a.quotes & b.quotes)
    weekdays = a.weekdays & b.weekdays
    conflicts = _conflicts(a, b, window)
    specific = (
        len(numbers) + len(quantities) + len(names) + quotes + (1 if weekdays else 0)
        + (1 if wording >= _WORDING_RELATED else 0)
    )  # fmt: skip
    number_score = _number_agreement(a.numbers, b.numbers) * sum(
        sorted(map(_number_weight, numbers), reverse=True)[:3]
    )
    score = (
        _W_WORDING * max(0.0, wording - _WORDING_BASELINE)
        + actors
        + _W_EXTRA_ACTOR * max(0, len(shared_actors) - _COMMON_ACTORS)
        + _W_TOPICS * topics
        + number_score
        + _W_QUANTITY * min(len(quantities), 2)
        + _W_MINOR_NUMBER * min(len(minor), 2)
        + _W_NAME * min(len(names), 3)
        + _W_QUOTE * min(quotes, 2)
        + _W_WEEKDAY * (1 if weekdays else 0)
        + (
            _W_CLOSE_IN_TIME
            if a.dated and b.dated and abs(a.published - b.published) <= _CLOSE_IN_TIME
            else 0.0
        )
    )

    def verdict(same: bool, reason: str) -> StoryEvidence:
        return StoryEvidence(
            same=same,
            reason=reason,
            lexical=lexical,
            wording=wording,
            actor_overlap=actors,
            topic_overlap=topics,
            shared_actors=shared_actors,
            shared_numbers=numbers,
            shared_minor_numbers=minor,
            shared_quantities=quantities,
            shared_names=names,
            shared_quotes=quotes,
            shared_weekdays=weekdays,
            conflicts=conflicts,
            specific=specific,
            score=score,
        )

    if a.exact & b.exact:
        return verdict(True, "same URL or content")
    if conflicts:
        return verdict(False, "conflicting " + ", ".join(conflicts))
    if lexical >= _LEXICAL_SAME:
        return verdict(True, f"near-duplicate text (~{lexical:.2f})")
    if not shared_actors or actors < _MIN_ACTOR_OVERLAP:
        return verdict(False, f"too few shared actors ({actors:.2f})")
    if specific < 1:
        return verdict(False, "no specific fact shared")
    if score < _EVIDENCE_SAME:
        return verdict(False, f"weak evidence ({score:.2f})")
    return verdict(True, f"shared actors and {specific} specific fact(s) ({score:.2f})")


def same_event(a: StoryFingerprint, b: StoryFingerprint) -> bool:
    """True when the two fingerprints report the same event."""
    return compare_fingerprints(a, b).same


# ---------------------------------------------------------------------------------------------------------
# The story index
# ---------------------------------------------------------------------------------------------------------

# Kinds of index keys. Exact keys make a candidate by themselves; near-duplicate bands do once the texts
# prove similar; fact keys (quotes, telling numbers, durations, names, weekday within the same actor set)
# do for items that share most actors; actor keys feed a bounded scan of the rarest shared actors, for
# retold stories that share actors and wording but no single fact.
_EXACT, _QUOTE, _ANCHOR, _NUMBER, _QUANTITY, _NAME, _WEEKDAY, _ACTOR, _STORY = range(9)


_BIN_SHIFT = 16 - (_BINS - 1).bit_length()
_BIN_OF_HIGH_BYTE = bytes(byte >> (_BIN_SHIFT - 8) for byte in range(256))


def _bands(signature: bytes) -> list[int]:
    """Near-duplicate retrieval keys: a one-permutation MinHash of the pair hashes (the smallest in each of
    ``_BINS`` bins, an empty bin borrowing from the next full one) cut into bands of ``_BAND_BINS`` bins.
    Texts with pair Jaccard J share a band with probability 1 - (1 - J**_BAND_BINS) ** bands, and one
    common phrase alone never makes two texts share one."""
    if len(signature) < 2:
        return []
    # The bin of each value, from its high (odd, little-endian) byte: in order, as a signature is sorted.
    bins = signature[1::2].translate(_BIN_OF_HIGH_BYTE)
    sketch = []
    for b in range(_BINS):  # a bin's smallest value is its first
        i = bins.find(b)
        sketch.append(signature[2 * i] | signature[2 * i + 1] << 8 if i >= 0 else -1)
    if -1 in sketch:  # an empty bin takes the next full bin's value, tagged with how far it looked
        smallest = sketch[:]
        borrowed = distance = 0
        for b in range(2 * _BINS - 1, -1, -1):  # twice round, backwards: each empty bin meets a full one
            if smallest[b % _BINS] >= 0:
                borrowed, distance = smallest[b % _BINS], 0
            else:
                distance += 1
            if b < _BINS:
                sketch[b] = borrowed | distance << 16
    return [
        hash((_ANCHOR, band, *sketch[band * _BAND_BINS : (band + 1) * _BAND_BINS]))
        for band in range(_BINS // _BAND_BINS)
    ]


def _fact_keys(fp: StoryFingerprint) -> list[int]:
    return _facts_keys(fp.actors, fp.quotes, fp.numbers, fp.quantities, fp.names, fp.weekdays)


def _facts_keys(
    actors: frozenset[str],
    quotes: Iterable[int],
    numbers: Iterable[str],
    quantities: Iterable[str],
    names: Iterable[str],
    weekdays: Iterable[int],
) -> list[int]:
    keys = [hash((_QUOTE, q)) for q in quotes]
    keys += [hash((_NUMBER, n)) for n in numbers]
    keys += [hash((_QUANTITY, q)) for q in quantities]
    keys += [hash((_NAME, n)) for n in names]
    if actors:
        keys += [hash((_WEEKDAY, day, actors)) for day in weekdays]
    return keys


def _posting_keys(fp: StoryFingerprint, bands: list[int], facts: list[int]) -> set[int]:
    """Every index key of a fingerprint with these ``_bands`` and ``_fact_keys`` (in-process hashes: the
    index is rebuilt at each start). Facts and actors only count for items that name actors, so only those
    are indexed by them."""
    keys = set(bands)
    keys.update(hash((_EXACT, x)) for x in fp.exact)
    if fp.actors:
        keys.update(facts)
        keys.update(hash((_ACTOR, actor)) for actor in fp.actors)
    return keys


def _record_keys(data: bytes) -> set[int]:
    """``_posting_keys`` of the fingerprint a version 2 record holds, read without decoding all of it."""
    signature_size, wording_size = _HASH_SIZES.unpack_from(data, _HEADER.size - _HASH_SIZES.size)
    keys = set(_bands(data[_HEADER.size : _HEADER.size + signature_size]))
    pos = _HEADER.size + signature_size + wording_size
    numbers, pos = _read_strings(data, pos)
    quantities, pos = _read_strings(data, pos)
    names, pos = _read_strings(data, pos)
    pos = _skip_strings(data, pos)  # minor numbers
    actors, pos = _read_strings(data, pos)
    pos = _skip_strings(data, pos)  # topics
    weekdays, pos = _read_ints(data, pos)
    quotes, pos = _read_ints(data, pos)
    exact, pos = _read_ints(data, pos)
    keys.update(hash((_EXACT, x)) for x in exact)
    if actors:
        keys.update(_facts_keys(actors, quotes, numbers, quantities, names, weekdays))
        keys.update(hash((_ACTOR, actor)) for actor in actors)
    return keys


_ID_BITS = 40  # entry ids; with the 24 key bits below they fill one unsigned 64-bit word
_ID_MASK = (1 << _ID_BITS) - 1
_ID_SPAN = 1 << _ID_BITS
_KEY_BUCKET_BITS = 14
_KEY_BUCKET_MASK = (1 << _KEY_BUCKET_BITS) - 1
_KEY_REST_MASK = (1 << (64 - _ID_BITS)) - 1
_LARGE_BUCKET = 4096  # removals from larger buckets are gathered and done in one pass per bucket
_ENTRIES_AND_KEY = itemgetter(0, 1)


class _Postings:
    """Which entries hold which key, as sorted 64-bit words (24 more key bits over a 40-bit entry id), one
    array per 16 low key bits: about 9 bytes a posting, where a dictionary entry and its objects take ~80.
    Entry ids grow with time, so a key's newest entries are the end of its run."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[int, array[int]] = {}

    # One call per batch of keys rather than per key: a look-up touches a dozen or more keys, and on the
    # poller's event loop the call overhead was as large as the bisecting itself.

    def add_all(self, keys: Iterable[int], entry: int) -> None:
        """Record that ``entry`` holds each of ``keys``."""
        buckets = self._buckets
        for key in keys:
            low = key & _KEY_BUCKET_MASK
            word = ((key >> _KEY_BUCKET_BITS) & _KEY_REST_MASK) << _ID_BITS | entry
            bucket = buckets.get(low)
            if bucket is None:
                buckets[low] = array("Q", (word,))
            elif word > bucket[-1]:
                bucket.append(word)
            else:
                bucket.insert(bisect_right(bucket, word), word)

    def newest(self, key: int, limit: int) -> list[int]:
        """The (at most ``limit``) newest entries holding ``key``."""
        return self.newest_each((key,), limit)[0]

    def newest_each(self, keys: Iterable[int], limit: int) -> list[list[int]]:
        """``newest(key, limit)`` for each of ``keys``, in order."""
        buckets = self._buckets
        held: list[list[int]] = []
        for key in keys:
            bucket = buckets.get(key & _KEY_BUCKET_MASK)
            if bucket is None:
                held.append([])
                continue
            low = ((key >> _KEY_BUCKET_BITS) & _KEY_REST_MASK) << _ID_BITS
            end = bisect_left(bucket, low + _ID_SPAN)
            start = bisect_left(bucket, low, max(0, end - limit), end)
            held.append([word & _ID_MASK for word in bucket[start:end]])  # cheaper than map(int.__and__)
        return held

    def rarest(self, keys: Iterable[int], budget: int) -> list[int]:
        """Every entry holding each of ``keys`` in turn, the keys held by fewest entries first (ties by key
        value), for as long as the entries taken stay within ``budget``; each key's oldest first."""
        buckets = self._buckets
        runs: list[tuple[int, int, int, array[int]]] = []  # (entries, key, start, bucket)
        for key in keys:
            bucket = buckets.get(key & _KEY_BUCKET_MASK)
            if bucket is None:
                continue  # held by none: it would come first and take nothing from the budget
            low = ((key >> _KEY_BUCKET_BITS) & _KEY_REST_MASK) << _ID_BITS
            start = bisect_left(bucket, low)
            end = bisect_left(bucket, low + _ID_SPAN, start)
            if end > start:
                runs.append((end - start, key, start, bucket))
        runs.sort(key=_ENTRIES_AND_KEY)
        entries: list[int] = []
        spent = 0
        for count, _key, start, bucket in runs:
            spent += count
            if spent > budget:
                break
            entries += map(_ID_MASK.__and__, bucket[start : start + count])
        return entries

    def holds_any(self, keys: Iterable[int], entry: int) -> bool:
        """True when ``entry`` holds one of ``keys``."""
        buckets = self._buckets
        for key in keys:
            bucket = buckets.get(key & _KEY_BUCKET_MASK)
            if bucket is None:
                continue
            word = ((key >> _KEY_BUCKET_BITS) & _KEY_REST_MASK) << _ID_BITS | entry
            i = bisect_left(bucket, word)
            if i < len(bucket) and bucket[i] == word:
                return True
        return False

    def remove(self, entry: int, keys: Iterable[int], deferred: dict[int, list[int]]) -> None:
        """Drop the postings of ``entry``: at once from small buckets, into ``deferred`` for large ones
        (``remove_deferred`` then touches each large bucket once)."""
        buckets = self._buckets
        for key in keys:
            low = key & _KEY_BUCKET_MASK
            word = ((key >> _KEY_BUCKET_BITS) & _KEY_REST_MASK) << _ID_BITS | entry
            bucket = buckets[low]
            size = len(bucket)
            if size > _LARGE_BUCKET:
                deferred.setdefault(low, []).append(word)
            elif size == 1:
                del buckets[low]
            else:
                i = bisect_left(bucket, word)
                if i < size and bucket[i] == word:
                    del bucket[i]

    def remove_entries(self, dead: set[int]) -> None:
        """Drop every posting of the ``dead`` entries in one pass over all buckets, all in C: cheaper
        than finding their keys once they are more than a few percent of the entries."""
        buckets = self._buckets
        for low, bucket in list(buckets.items()):
            alive = map(not_, map(dead.__contains__, map(_ID_MASK.__and__, bucket)))
            kept = array("Q", itertools.compress(bucket, alive))
            if not kept:
                del buckets[low]
            elif len(kept) < len(bucket):
                buckets[low] = kept

    def remove_deferred(self, deferred: dict[int, list[int]]) -> None:
        """Drop the postings ``remove`` deferred, each large bucket in one pass."""
        for low, words in deferred.items():
            bucket = self._buckets[low]
            if len(words) * 8 >= len(bucket):
                gone = set(words)
                bucket = array("Q", itertools.filterfalse(gone.__contains__, bucket))
                self._buckets[low] = bucket
            else:
                _delete_sorted(bucket, words)
            if not bucket:
                del self._buckets[low]


def _delete_sorted(bucket: array[int], words: list[int]) -> None:
    """Delete ``words`` from the sorted ``bucket``, a run of neighbours at a time (the oldest postings of
    a popular key sit side by side)."""
    positions = []
    for word in sorted(words):
        i = bisect_left(bucket, word)
        if i < len(bucket) and bucket[i] == word:
            positions.append(i)
    end = start = -1
    for i in reversed(positions):
        if i == start - 1:
            start = i
            continue
        if end >= 0:
            del bucket[start : end + 1]
        start = end = i
    if end >= 0:
        del bucket[start : end + 1]


_BAND_POSTINGS = 16  # newest entries followed per band: a much-syndicated story's latest copies
_FACT_POSTINGS = 12  # newest entries followed per fact key: a big event's latest reports
_SLICE_US = 15 * 60 * 10**6  # entries are kept in quarter-hour slices of publication time for eviction
_DECODED_KEPT = 256  # decoded fingerprints kept (~3 KB each): 2,048 was no faster than 128 at 10k entries
_SIGNATURE_AT = _HEADER.size
_ACTOR_MASKS_KEPT = 4096
_BULK_EVICTION = 16  # evicting more than 1/16 of the entries at once takes one pass over all postings
_MAX_GATED = 32  # candidates sharing facts put through the cheap gates per look-up
# How a candidate was found, best first.
_EXACT_MATCH, _NEAR_DUPLICATE, _SHARED_FACTS, _RETOLD = range(4)


class StoryIndex:
    """In-memory index of the story window: which story, if any, a new fingerprint belongs to.

    Each entry is held as its storage encoding plus a few machine words. Look-ups never scan the window:
    candidates come from exact and quote keys, near-duplicate anchors, the newest postings of shared facts
    and a bounded scan of the rarest shared actors; cheap gates (time, actors, text similarity) drop most,
    and only the most promising are weighed in full. Entries are evicted by quarter-hour slices of
    publication time, so eviction costs what it drops.
    """

    def __init__(self, *, window: timedelta = _DEFAULT_WINDOW) -> None:
        self._window = window
        self._window_us = window // _MICROSECOND
        self._postings = _Postings()
        # Entry ids only grow; slot i holds entry ``_base + i`` (None once evicted) until the front is cut.
        self._base = 0
        self._records: list[bytes | None] = []
        self._stories: list[str | None] = []
        self._stamps = array("q")  # publication time in microseconds << 2 | states numbers << 1 | dated
        # The entry's actors as a bit mask over ``_actor_numbers``: the actor gate is then three integer
        # operations, where sets of actor numbers took a set intersection (and a cache keyed by tuple).
        self._actors: list[int] = []
        self._live = 0
        self._slices: dict[int, array[int]] = {}
        self._slice_heap: list[int] = []
        self._actor_numbers: dict[str, int] = {}
        # Entries naming the same actors share one mask (a cache, cleared when it grows: no leak).
        self._actor_masks: dict[frozenset[str], int] = {}
        self._decoded: dict[int, StoryFingerprint] = {}
        # The keys of the fingerprint looked up last: adding it next (as a poll does) reuses them.
        self._last_keys: tuple[StoryFingerprint, list[int], list[int]] | None = None

    @classmethod
    def from_candidates(
        cls, candidates: Iterable[StoryCandidate], *, window: timedelta = _DEFAULT_WINDOW
    ) -> StoryIndex:
        """An index of stored items in the story window, as storage lists them at start."""
        index = cls(window=window)
        for candidate in candidates:
            data = candidate.fingerprint
            fp = decode_fingerprint(data)
            record = data if data[0] == _FORMAT_VERSION else encode_fingerprint(fp)
            index._add(candidate.story_key, fp, record)
        return index

    def __len__(self) -> int:
        return self._live

    def add(self, story_key: str, fp: StoryFingerprint, *, encoded: bytes | None = None) -> None:
        """Record that an item with this fingerprint belongs to ``story_key``; ``encoded``, when given, is
        ``encode_fingerprint(fp)`` already at hand (as the poller has it from the parse worker)."""
        self._add(story_key, fp, encoded if encoded is not None else encode_fingerprint(fp))

    def _bands_and_facts(self, fp: StoryFingerprint) -> tuple[list[int], list[int]]:
        """The near-duplicate bands of ``fp`` and, when it names actors, its fact keys."""
        last = self._last_keys
        if last is not None and last[0] is fp:
            return last[1], last[2]
        bands, facts = _bands(fp.signature), (_fact_keys(fp) if fp.actors else [])
        self._last_keys = (fp, bands, facts)
        return bands, facts

    def _add(self, story_key: str, fp: StoryFingerprint, record: bytes) -> None:
        signature_size, wording_size = _HASH_SIZES.unpack_from(record, _SIGNATURE_AT - _HASH_SIZES.size)
        wording_at = _SIGNATURE_AT + signature_size
        if _COMPILED and not (  # what _run_jaccard needs there; fingerprint_item makes them so
            _sorted_distinct_u16(record, _SIGNATURE_AT, wording_at)
            and _sorted_distinct_u16(record, wording_at, wording_at + wording_size)
        ):  # a hand-made or damaged fingerprint may hold them in any order
            fp = dataclasses.replace(
                fp, signature=_sorted_distinct(fp.signature), wording=_sorted_distinct(fp.wording)
            )
            record = encode_fingerprint(fp)
        entry = self._base + len(self._records)
        story_key = sys.intern(story_key)
        self._records.append(record)
        self._stories.append(story_key)
        micros = _micros(fp.published)
        self._stamps.append(
            micros << _STAMP_SHIFT | (_STATES_NUMBERS if fp.numbers else 0) | (_DATED if fp.dated else 0)
        )
        self._actors.append(self._actor_mask(fp.actors))
        bands, facts = self._bands_and_facts(fp)
        keys = _posting_keys(fp, bands, facts)
        keys.add(hash((_STORY, story_key)))  # a story's members are the entries holding its key
        self._postings.add_all(keys, entry)
        moment = micros // _SLICE_US
        same_slice = self._slices.get(moment)
        if same_slice is None:
            self._slices[moment] = array("Q", (entry,))
            heapq.heappush(self._slice_heap, moment)
        else:
            same_slice.append(entry)
        self._live += 1

    def _actor_mask(self, actors: frozenset[str]) -> int:
        known = self._actor_masks.get(actors)
        if known is None:
            numbers = self._actor_numbers
            known = 0
            for actor in actors:
                if actor not in numbers:
                    numbers[actor] = len(numbers)
                known |= 1 << numbers[actor]
            if len(self._actor_masks) >= _ACTOR_MASKS_KEPT:
                self._actor_masks.clear()
            self._actor_masks[actors] = known
        return known

    def _record(self, entry: int) -> bytes:
        record = self._records[entry - self._base]
        if record is None:
            raise KeyError(f"story index entry {entry} was evicted")
        return record

    def _fingerprint(self, entry: int) -> StoryFingerprint:
        fp = self._decoded.get(entry)
        if fp is None:
            fp = decode_fingerprint(self._record(entry))
            if len(self._decoded) >= _DECODED_KEPT:
                del self._decoded[next(iter(self._decoded))]
            self._decoded[entry] = fp
        return fp

    def _record_numbers(self, entry: int) -> frozenset[str]:
        """The telling numbers of an entry, read alone from its record (they follow the hashes)."""
        record = self._record(entry)
        signature_size, wording_size = _HASH_SIZES.unpack_from(record, _SIGNATURE_AT - _HASH_SIZES.size)
        return _read_strings(record, _SIGNATURE_AT + signature_size + wording_size)[0]

    def _admissible(
        self,
        entry: int,
        fp: StoryFingerprint,
        micros: int,
        mine: int,
        number_holders: set[int],
        numbers_complete: bool,
    ) -> bool:
        """False when only "different" can follow: a time gap beyond the window, too few shared actors, or
        telling numbers on both sides and none in common. ``micros`` and ``mine`` are fp's time and actor
        mask; ``number_holders`` share one of fp's numbers, and are all of them when ``numbers_complete``."""
        # A method, not a closure over _candidates' locals: compiled (setup.py), a call to it is native.
        stamp = self._stamps[entry - self._base]
        if fp.dated and stamp & _DATED and abs((stamp >> _STAMP_SHIFT) - micros) > self._window_us:
            return False
        theirs = self._actors[entry - self._base]
        shared = (mine & theirs).bit_count()  # at least half of all the actors named on either side
        if not shared or 2 * shared < mine.bit_count() + theirs.bit_count() - shared:
            return False
        numbers = fp.numbers
        return not (
            numbers
            and stamp & _STATES_NUMBERS
            and entry not in number_holders
            and (numbers_complete or numbers.isdisjoint(self._record_numbers(entry)))
        )

    def _candidates(self, fp: StoryFingerprint, pairs: bytes, stems: bytes) -> list[tuple[int, int]]:
        """Entries worth weighing in full, the most promising first.

        Exact keys come first, then near-duplicate texts, then reports sharing the most facts, then
        retold stories found through rare actors; cheap gates (time gap, too few shared actors, disjoint
        numbers, unrelated wording) drop those that ``compare_fingerprints`` could only call different.
        """
        postings = self._postings
        exact_keys = [hash((_EXACT, x)) for x in fp.exact]
        strong: set[int] = set()
        for held in postings.newest_each(exact_keys, _ID_SPAN):
            strong.update(held)
        crowded: set[int] = set()  # entries seen only in bands held by more entries than were followed
        bands, fact_keys = self._bands_and_facts(fp)
        band_holders = postings.newest_each(bands, _BAND_POSTINGS + 1)
        for held in band_holders:
            if len(held) > _BAND_POSTINGS:
                del held[0]
                crowded.update(held)
        # Counted in plain dictionaries: compiled (setup.py), these loops run natively, where Counter's
        # update is Python code that checks its argument against an abstract base class first.
        banded: dict[int, int] = {}  # entry -> bands shared
        for held in band_holders:
            for entry in held:
                banded[entry] = banded.get(entry, 0) + 1
        facts: dict[int, int] = {}  # entry -> facts shared
        number_holders: set[int] = set()
        numbers_complete = True  # whether number_holders holds every entry stating one of fp's numbers
        truncated: list[int] = []  # fact keys held by more entries than were followed
        scanned: list[int] = []
        if fp.actors:  # without a shared actor only exact keys and near-identical text can join
            number_keys = {hash((_NUMBER, n)) for n in fp.numbers}
            fact_holders = postings.newest_each(fact_keys, _FACT_POSTINGS + 1)
            for key, held in zip(fact_keys, fact_holders, strict=True):
                if len(held) > _FACT_POSTINGS:
                    del held[0]
                    truncated.append(key)
                    numbers_complete = numbers_complete and key not in number_keys
                if key in number_keys:
                    number_holders.update(held)
            for held in fact_holders:
                for entry in held:
                    facts[entry] = facts.get(entry, 0) + 1
            scanned = postings.rarest({hash((_ACTOR, a)) for a in fp.actors}, _ACTOR_SCAN_BUDGET)

        base, stamps, records = self._base, self._stamps, self._records
        micros, window, dated = _micros(fp.published), self._window_us, fp.dated
        mine = self._actor_mask(fp.actors)

        # The hash runs of candidates are compared where they lie in their records, not decoded: these
        # loops run for every candidate of every look-up. An odd trailing byte is no hash (as
        # ``_unpack_u16`` reads it).
        ranked: list[tuple[int, int, int]] = [(_EXACT_MATCH, -entry, entry) for entry in strong]
        taken = set(strong)
        weak: list[int] = []
        for entry, shared_bands in banded.items():
            if entry in strong or (shared_bands == 1 and entry in crowded):
                continue  # one crowded band alone is a common phrase, not a copy
            stamp = stamps[entry - base]
            if dated and stamp & _DATED and abs((stamp >> _STAMP_SHIFT) - micros) > window:
                continue
            record = records[entry - base]
            if record is None:
                raise KeyError(f"story index entry {entry} was evicted")
            signature_end = _SIGNATURE_AT + _U32.unpack_from(record, _SIGNATURE_AT - 8)[0]
            if _run_jaccard(pairs, 0, len(pairs), record, _SIGNATURE_AT, signature_end) >= _LEXICAL_SAME:
                ranked.append((_NEAR_DUPLICATE, -entry, entry))
                taken.add(entry)
            else:
                weak.append(entry)
        gated = 0
        # Reports sharing more facts first, then the newest.
        order = [shared << _ID_BITS | entry for entry, shared in facts.items()]
        order.sort(reverse=True)
        for rank in order:
            if len(ranked) >= _MAX_COMPARED or gated >= _MAX_GATED:
                break
            entry = rank & _ID_MASK
            if entry in taken:
                continue
            gated += 1
            if self._admissible(entry, fp, micros, mine, number_holders, numbers_complete):
                ranked.append((_SHARED_FACTS, -rank, entry))
        if fp.actors:  # the scan is bounded by its budget, not by _MAX_GATED
            retold = set(scanned)
            retold.update(weak)
            retold -= taken
            retold.difference_update(facts)
            for entry in sorted(retold, reverse=True):
                if len(ranked) >= _MAX_COMPARED:
                    break
                if not self._admissible(entry, fp, micros, mine, number_holders, numbers_complete):
                    continue
                record = records[entry - base]
                if record is None:
                    raise KeyError(f"story index entry {entry} was evicted")
                signature_size, wording_size = _HASH_SIZES.unpack_from(
                    record, _SIGNATURE_AT - _HASH_SIZES.size
                )
                wording_at = _SIGNATURE_AT + signature_size
                wording_end = wording_at + wording_size
                if _run_jaccard(
                    stems, 0, len(stems), record, wording_at, wording_end
                ) >= _WORDING_RELATED or postings.holds_any(truncated, entry):
                    ranked.append((_RETOLD, -entry, entry))
        ranked.sort()
        return [(rank, entry) for rank, _order, entry in ranked[:_MAX_COMPARED]]

    def _entry_traits(self, entry: int) -> _Traits:
        fp = self._decoded.get(entry)
        if fp is not None:
            return _traits(fp)
        return _record_traits(self._record(entry), self._stamps[entry - self._base])

    def _joinable(self, story_key: str, traits: _Traits, clean: set[int]) -> bool:
        """An item that matches one member must not contradict another: stops A~B~C chains drifting.
        Members in ``clean`` are already known not to conflict."""
        members = self._postings.newest(hash((_STORY, story_key)), _MAX_MEMBERS_CHECKED)
        base, stories = self._base, self._stories
        return not any(
            _conflicts_between(self._entry_traits(m), traits, self._window_us)
            for m in members
            if m not in clean and stories[m - base] == story_key  # a key that only hashes alike is no member
        )

    def _weigh_entry(self, entry: int, fp: StoryFingerprint, pairs: bytes, stems: bytes) -> StoryEvidence:
        other = self._fingerprint(entry)
        return _weigh(
            other,
            fp,
            window=self._window,
            lexical=_run_jaccard(pairs, 0, len(pairs), other.signature, 0, len(other.signature)),
            wording=_run_jaccard(stems, 0, len(stems), other.wording, 0, len(other.wording)),
        )

    def find(self, fp: StoryFingerprint) -> str | None:
        """The key of the story this fingerprint belongs to, or None when it starts a new story."""
        pairs, stems = fp.signature, fp.wording
        if _COMPILED:  # sorted and distinct, as the hash runs of the entries are then (see _add)
            pairs, stems = _sorted_distinct(pairs), _sorted_distinct(stems)
        traits = _traits(fp)
        best: dict[str, float] = {}  # story -> best score of a member judged the same event
        near: list[tuple[str, int]] = []  # near-identical texts without conflicts, not weighed yet
        clean: set[int] = set()  # entries known not to conflict with fp
        for rank, entry in self._candidates(fp, pairs, stems):
            story_key = self._stories[entry - self._base]
            if story_key is None:
                continue
            if rank == _NEAR_DUPLICATE:
                # Near-identical text is the same event unless the two disagree; its score only matters
                # when another story matches too.
                if not _conflicts_between(self._entry_traits(entry), traits, self._window_us):
                    near.append((story_key, entry))
                    clean.add(entry)
                continue
            evidence = self._weigh_entry(entry, fp, pairs, stems)
            if evidence.same:
                if not evidence.conflicts:
                    clean.add(entry)
                best[story_key] = max(evidence.score, best.get(story_key, evidence.score))
        stories = best.keys() | {story_key for story_key, _entry in near}
        if len(stories) > 1:
            for story_key, entry in near:
                score = self._weigh_entry(entry, fp, pairs, stems).score
                best[story_key] = max(score, best.get(story_key, score))
        for story_key in sorted(stories, key=lambda story: (-best.get(story, 0.0), story)):
            if self._joinable(story_key, traits, clean):
                return story_key
        return None

    def evict_before(self, cutoff: datetime) -> int:
        """Forget fingerprints published before ``cutoff``; returns how many were dropped."""
        cut = _micros(cutoff)
        last = cut // _SLICE_US
        dead: list[int] = []
        while self._slice_heap and self._slice_heap[0] < last:
            dead.extend(self._slices.pop(heapq.heappop(self._slice_heap), ()))
        boundary = self._slices.get(last)
        if boundary is not None:
            base, stamps = self._base, self._stamps
            kept = array("Q", (entry for entry in boundary if stamps[entry - base] >> _STAMP_SHIFT >= cut))
            if len(kept) < len(boundary):
                dead.extend(entry for entry in boundary if stamps[entry - base] >> _STAMP_SHIFT < cut)
                if kept:
                    self._slices[last] = kept
                else:
                    del self._slices[last]
        if dead:
            self._drop(dead)
        return len(dead)

    def _drop(self, dead: list[int]) -> None:
        base, records, stories = self._base, self._records, self._stories
        # A few entries: read their keys back and remove those postings. Many: one pass over all postings.
        one_by_one = len(dead) * _BULK_EVICTION < self._live
        deferred: dict[int, list[int]] = {}
        for entry in dead:
            slot = entry - base
            record, story_key = records[slot], stories[slot]
            if record is None or story_key is None:
                continue
            self._decoded.pop(entry, None)
            if one_by_one:
                keys = _record_keys(record)
                keys.add(hash((_STORY, story_key)))
                self._postings.remove(entry, keys, deferred)
            records[slot] = None
            stories[slot] = None
            self._live -= 1
        if one_by_one:
            self._postings.remove_deferred(deferred)
        else:
            self._postings.remove_entries(set(dead))
        # Slots of evicted entries at the front go; entries evicted out of order leave a hole until then.
        front = 0
        while front < len(records) and records[front] is None:
            front += 1
        if front and (front >= 256 or front == len(records)):
            del records[:front]
            del stories[:front]
            del self._stamps[:front]
            del self._actors[:front]
            self._base += front


def new_story_key(item: Item) -> str:
    """A story key derived from the identity of the item that starts the story."""
    return "st-" + blake2b(item.identity.encode(), digest_size=10).hexdigest()


def assign_stories(pairs: Sequence[tuple[Item, Match]], *, window: timedelta = _DEFAULT_WINDOW) -> list[str]:
    """Story keys for classified items taken in order, each joining an earlier story or starting one."""
    index = StoryIndex(window=window)
    keys: list[str] = []
    latest: datetime | None = None
    for item, match in pairs:
        fp = fingerprint_item(item, match)
        key = index.find(fp) or new_story_key(item)
        index.add(key, fp)
        keys.append(key)
        latest = fp.published if latest is None else max(latest, fp.published)
        # Twice the window: a batch may hold items out of time order, and they may still join older ones.
        index.evict_before(latest - 2 * window)
    return keys
