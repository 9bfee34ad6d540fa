"""Group reports of one event into stories: fingerprints, pairwise evidence and an in-memory story index.

A fingerprint holds two kinds of evidence. Lexical: b-bit MinHash signatures of the stemmed title and lead
(word pairs for copies and close rewrites, single stems for retold stories), LSH-banded for retrieval.
Language-independent: the watchlist's actor and topic ids, numbers (digits and number words in English,
Russian and Ukrainian, with durations), weekdays, loose phonetic keys of proper names (Cyrillic
transliterated, so Уиткофф ≈ Witkoff), quoted phrases and the publication time, which catch the same
event told in another language. Conflicting numbers, durations or weekdays and a time gap beyond the
window keep look-alike events apart; an item joins a story only if it contradicts none of its members.
"""

from __future__ import annotations

import heapq
import itertools
import re
import struct
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import blake2b

from feeds.errors import StorageError
from feeds.models import Item, Match, StoryCandidate
from feeds.normalize import html_to_text
from feeds.textnorm import fold

# ---------------------------------------------------------------------------------------------------------
# Tunables. They describe the mechanism, not any data set: a change here must make sense for unseen news.
# ---------------------------------------------------------------------------------------------------------

SIGNATURE_HASHES = 64  # MinHash of word-pair shingles: copies and close rewrites
WORDING_HASHES = 128  # MinHash of single stems: the same story retold in other sentences
_BAND_ROWS = 3
_BANDS = 12  # 12 bands of 3 rows: word-pair Jaccard 0.6 shares a band 95% of the time, 0.5 80%, 0.05 0.2%
_LEAD_WORDS = 80  # title + this many summary words feed the lexical signature
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

_MAX_POSTINGS = 1000  # fact keys shared by more items than this are too common to retrieve by
_ACTOR_SCAN_BUDGET = 1000  # entries scanned through the rarest actors' postings per look-up
_MAX_MEMBERS_CHECKED = 64  # members of a story checked for conflicts before an item may join it

_SALTS = tuple(f"dwmh{i}".encode() for i in range(max(SIGNATURE_HASHES, WORDING_HASHES) // 32))

# ---------------------------------------------------------------------------------------------------------
# Text preparation
# ---------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”“)\]]*\s+|\n+")


def _fold(text: str) -> str:
    """The comparison form shared with the classifier: NFKC, casefold, accents off, apostrophes unified."""
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


def _stems(text: str) -> list[str]:
    return [w[:_STEM_CHARS] for w in _words(text) if w not in _STOPWORDS]


def _lead_stems(title: str, summary: str) -> list[str]:
    lead = " ".join(summary.split()[:_LEAD_WORDS])
    return _stems(title) + _stems(lead)


def _signature(shingles: Iterable[str], size: int) -> bytes:
    """b-bit MinHash: per position the minimum of an independent salted 16-bit hash over all shingles,
    kept as its low byte (Li and König). Empty bytes when there is no text."""
    salts = _SALTS[: size // 32]
    rows = [
        b"".join(blake2b(s.encode(), digest_size=64, salt=salt).digest() for salt in salts) for s in shingles
    ]
    if not rows:
        return b""
    fmt = f"<{size}H"
    return bytes(m & 0xFF for m in map(min, zip(*(struct.unpack(fmt, r) for r in rows), strict=True)))


def lexical_similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two b-bit MinHash signatures of equal size."""
    if not a or len(a) != len(b):
        return 0.0
    differing = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
    equal = differing.to_bytes(len(a), "little").count(0) / len(a)
    # One byte values agree by chance 1 time in 256; undo that bias.
    return max(0.0, (equal - 1 / 256) / (1 - 1 / 256))


# ---------------------------------------------------------------------------------------------------------
# Numbers: digits and number words (en, ru, uk), cardinal, collective and ordinal, with scale words
# ---------------------------------------------------------------------------------------------------------

# Digits not glued to a preceding letter or digit ("G7", "MH17" are names); "1,200", "2.5", "1 200" whole.
_DIGIT_RUN = re.compile(r"(?<![^\W_])(?<![.,])\d+(?:(?:[.,]|[ \u00a0\u202f](?=\d{3}\b))\d+)*")

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


def _word_number(word: str) -> int | None:
    value = _NUMBER_WORDS.get(word)
    if value is not None:
        return value
    for cut in (3, 4, 2, 1):
        stem, ending = word[:-cut], word[-cut:]
        if ending in _ADJECTIVE_ENDINGS and stem in _SLAVIC_ORDINAL_STEMS:
            return _SLAVIC_ORDINAL_STEMS[stem]
    return None


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


def _numbers(text: str) -> list[tuple[float, str | None]]:
    """Every number the text states, with the unit that follows it when it is one of a few known ones.

    Digits and number words (cardinal, collective, ordinal) in English, Russian and Ukrainian count alike,
    scale words apply ("4.9 million", "20 тысяч"), and "and a half" / "с половиной" adds one half.
    """
    folded = _fold(text)
    found: list[tuple[float, str | None]] = []
    for m in _DIGIT_RUN.finditer(folded):
        values = _parse_digit_run(m.group(0))
        end = m.end()
        following = _WORD.match(folded, end + (1 if folded[end : end + 1] == " " else 0))
        scale = _SCALE_WORDS.get(following.group(0), 1) if following else 1
        if scale != 1 and following:
            values[-1] *= scale
            end = following.end()
        found.extend((v, None) for v in values[:-1])
        found.append((values[-1], _unit_after(folded, end)))
    tokens = list(_WORD.finditer(folded))
    words = [t.group(0) for t in tokens]
    i = 0
    while i < len(words):
        if words[i] in _ONE_AND_HALF:
            found.append((1.5, _unit_after(folded, tokens[i].end())))
            i += 1
            continue
        run: list[int] = []
        j = i
        while j < len(words):
            v = _word_number(words[j])
            if v is None:
                if run and words[j] == "and" and j + 1 < len(words) and _word_number(words[j + 1]):
                    j += 1
                    continue
                break
            run.append(v)
            j += 1
        if not run or all(v in _SCALES for v in run):
            i = max(j, i + 1)
            continue
        value: float = _combine(run)
        for tail in _HALF_AFTER:
            if tuple(words[j : j + len(tail)]) == tail:
                value += 0.5
                j += len(tail)
                break
        found.append((value, _unit_after(folded, tokens[j - 1].end())))
        i = j
    return found


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


def _weekdays(words: Sequence[str]) -> set[int]:
    days: set[int] = set()
    for i, w in enumerate(words):
        base = w[:-2] if w.endswith("'s") else w
        if base in _WEEKDAYS:
            days.add(_WEEKDAYS[base])
        elif base in _WEEKDAY_AFTER_PREPOSITION and i > 0 and words[i - 1] in _DAY_PREPOSITIONS:
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


def _is_shouting_or_title_case(field: str) -> bool:
    letters = [c for c in field if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        return True
    long_words = [w for w in _NAME_TOKEN.findall(field) if len(w) >= 4]
    return len(long_words) >= 4 and sum(w[0].isupper() for w in long_words) / len(long_words) >= 0.7


def _names(fields: Iterable[str], excluded: frozenset[str]) -> set[str]:
    """Keys of proper names: the last word of each run of capitalised words (the surname, not the given
    name), skipping lone sentence openers, generic titles and names the watchlist already matched."""
    keys: set[str] = set()
    for field in fields:
        if _is_shouting_or_title_case(field):
            continue
        starts = {0} | {m.end() for m in _SENTENCE_END.finditer(field)}
        run: list[re.Match[str]] = []
        for m in _NAME_TOKEN.finditer(field):
            token = m.group(0)
            capitalised = (
                token[0].isupper() and len(token) >= 3 and _fold(token).split("'")[0] not in _NAME_STOP
            )
            if capitalised and run and field[run[-1].end() : m.start()] in (" ", "-", "\u00a0"):
                run.append(m)
                continue
            if run:
                _add_name(keys, field, run, starts, excluded)
            run = [m] if capitalised else []
        if run:
            _add_name(keys, field, run, starts, excluded)
    return keys


def _add_name(
    keys: set[str], field: str, run: list[re.Match[str]], starts: set[int], excluded: frozenset[str]
) -> None:
    first, last = run[0], run[-1]
    before = field[: first.start()].rstrip(" \"'«“„‘(")
    opener = first.start() in starts or not before or before.endswith((".", "!", "?", "…", ":", "\n"))
    if opener and len(run) == 1 and field[last.end() : last.end() + 1] != ":":
        return
    key = name_key(last.group(0))
    if len(key) >= 3 and key not in excluded:  # two-letter skeletons (Peace, Kyiv) say too little
        keys.add(key)


def _phrase_keys(match: Match) -> frozenset[str]:
    """Name keys of the watchlist aliases that matched: those names already count as actor ids."""
    keys: set[str] = set()
    for span in match.spans:
        if span.target in match.actors:
            for word in _NAME_TOKEN.findall(span.phrase.replace("*", "")):
                key = name_key(word)
                if key:
                    keys.add(key)
    return frozenset(keys)


# ---------------------------------------------------------------------------------------------------------
# Quoted phrases
# ---------------------------------------------------------------------------------------------------------

_QUOTED = re.compile(
    r"«([^«»]{3,300})»|“([^“”]{3,300})”|„([^„“”]{3,300})[“”]|\"([^\"]{3,300})\"|‘([^‘’]{6,300})’"
)


def _quotes(text: str) -> set[int]:
    found: set[int] = set()
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
    """What ``same_event`` compares: lexical signature plus language-independent evidence of one item."""

    signature: bytes  # SIGNATURE_HASHES one-byte MinHash values over title + lead word pairs (b"" if no text)
    wording: bytes  # WORDING_HASHES one-byte MinHash values over the stems of title + lead
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


def _interned(values: Iterable[str]) -> frozenset[str]:
    # A window holds many fingerprints naming the same actors, numbers and names: share the strings.
    return frozenset(sys.intern(v) for v in values) or _NO_STRINGS


_NO_STRINGS: frozenset[str] = frozenset()


def _exact_key(kind: str, value: str) -> int:
    return int.from_bytes(blake2b(f"{kind}:{value}".encode(), digest_size=8).digest(), "little")


def fingerprint_item(item: Item, match: Match) -> StoryFingerprint:
    """The story fingerprint of a normalised item, with the watchlist match the classifier gave it."""
    summary = _plain_summary(item.summary)
    full = f"{item.title}\n{summary}"
    stems = _lead_stems(item.title, summary)
    pairs = {f"{a} {b}" for a, b in itertools.pairwise(stems)}
    stated = _numbers(full)
    numbers = {_canonical_number(v) for v, _unit in stated if not _is_minor_number(v)}
    minor = {_canonical_number(v) for v, _unit in stated if _is_minor_number(v)} - numbers
    quantities = {
        f"{_canonical_number(v)} {unit}" for v, unit in stated if unit and not (unit == "yr" and v >= 1900)
    }
    exact = {_exact_key("hash", item.content_hash)} if item.content_hash else set()
    if item.url:
        exact.add(_exact_key("url", item.url))
    return StoryFingerprint(
        signature=_signature(pairs, SIGNATURE_HASHES),
        wording=_signature(set(stems), WORDING_HASHES),
        actors=_interned(match.actors),
        topics=_interned(match.topics),
        numbers=_interned(numbers),
        minor_numbers=_interned(minor),
        quantities=_interned(quantities),
        weekdays=frozenset(_weekdays(_words(full))),
        names=_interned(_names((item.title, summary), _phrase_keys(match))),
        quotes=frozenset(_quotes(full)),
        exact=frozenset(exact),
        published=item.published.astimezone(UTC),
        dated=not item.published_estimated,
    )


# ---------------------------------------------------------------------------------------------------------
# Storage encoding: version byte, then fields in a fixed order, varint-prefixed
# ---------------------------------------------------------------------------------------------------------

_FORMAT_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _put_varint(out: bytearray, n: int) -> None:
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _put_strings(out: bytearray, values: frozenset[str]) -> None:
    _put_varint(out, len(values))
    for v in sorted(values):
        raw = v.encode()
        _put_varint(out, len(raw))
        out += raw


def _put_ints(out: bytearray, values: frozenset[int]) -> None:
    _put_varint(out, len(values))
    for v in sorted(values):
        _put_varint(out, v)


def encode_fingerprint(fp: StoryFingerprint) -> bytes:
    """Compact, versioned bytes for ``StoryCandidate.fingerprint``; ``decode_fingerprint`` reverses it."""
    out = bytearray([_FORMAT_VERSION])
    micros = (fp.published - _EPOCH) // timedelta(microseconds=1)
    _put_varint(out, (micros << 1) ^ (micros >> 63))  # zig-zag keeps pre-1970 dates small too
    out.append(1 if fp.dated else 0)
    for signature in (fp.signature, fp.wording):
        _put_varint(out, len(signature))
        out += signature
    for strings in (fp.actors, fp.topics, fp.numbers, fp.minor_numbers, fp.quantities, fp.names):
        _put_strings(out, strings)
    for ints in (fp.weekdays, fp.quotes, fp.exact):
        _put_ints(out, ints)
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

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

    def strings(self) -> frozenset[str]:
        return _interned(self.raw(self.varint()).decode() for _ in range(self.varint()))

    def ints(self) -> frozenset[int]:
        return frozenset(self.varint() for _ in range(self.varint()))


def decode_fingerprint(data: bytes) -> StoryFingerprint:
    """The fingerprint ``encode_fingerprint`` stored; raises StorageError on unreadable bytes."""
    if not data or data[0] != _FORMAT_VERSION:
        version = data[0] if data else None
        raise StorageError(f"stored story fingerprint has unknown format version {version}; re-run classify")
    reader = _Reader(data)
    reader.pos = 1
    try:
        zigzag = reader.varint()
        micros = (zigzag >> 1) ^ -(zigzag & 1)
        published = _EPOCH + timedelta(microseconds=micros)
        dated = reader.byte() == 1
        signature = reader.raw(reader.varint())
        wording = reader.raw(reader.varint())
        actors, topics, numbers, minor, quantities, names = (reader.strings() for _ in range(6))
        weekdays, quotes, exact = (reader.ints() for _ in range(3))
    except (ValueError, OverflowError, UnicodeDecodeError) as e:
        raise StorageError(f"stored story fingerprint is unreadable ({e}); re-run classify") from e
    if reader.pos != len(data):
        raise StorageError("stored story fingerprint has trailing or misaligned bytes; re-run classify")
    return StoryFingerprint(
        signature=signature,
        wording=wording,
        actors=actors,
        topics=topics,
        numbers=numbers,
        minor_numbers=minor,
        quantities=quantities,
        weekdays=frozenset(weekdays),
        names=names,
        quotes=frozenset(quotes),
        exact=frozenset(exact),
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
    round_number = value == int(value) and (value < 10 or value % 10 == 0)
    return _W_ROUND_NUMBER if round_number else _W_NUMBER


def _number_agreement(a: frozenset[str], b: frozenset[str]) -> float:
    """How many of the telling numbers the terser report gives the other one gives too: reports of one
    event agree on nearly all of them, a number shared by coincidence comes with others that differ."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _conflicts(a: StoryFingerprint, b: StoryFingerprint, window: timedelta) -> tuple[str, ...]:
    found: list[str] = []
    if a.dated and b.dated and abs(a.published - b.published) > window:
        found.append("time")
    if a.numbers and b.numbers and not (a.numbers & b.numbers):
        found.append("numbers")
    if a.quantities and b.quantities:
        units_a, units_b = _units(a.quantities), _units(b.quantities)
        if any(not (units_a[u] & units_b[u]) for u in units_a.keys() & units_b.keys()):
            found.append("durations")
    if a.weekdays and b.weekdays and not (a.weekdays & b.weekdays):
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
    lexical = lexical_similarity(a.signature, b.signature)
    wording = lexical_similarity(a.wording, b.wording)
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


_STRONG, _FACT, _ACTOR = 0, 1, 2


def _retrieval_keys(fp: StoryFingerprint) -> Iterator[tuple[bytes, int]]:
    """Index keys of a fingerprint with their kind.

    Strong keys (LSH bands of the word-pair signature, exact keys, quotes) make a candidate by themselves.
    Fact keys (telling numbers, durations, names, weekday within the same actor set) do too while they
    are rare enough. Actor keys feed a bounded scan of the rarest shared actors, for retold stories that
    share actors and wording but no single rare fact.
    """
    if fp.signature:
        width = _BAND_ROWS
        for band in range(min(_BANDS, len(fp.signature) // width)):
            yield bytes([band]) + fp.signature[band * width : (band + 1) * width], _STRONG
    for x in fp.exact:
        yield b"X" + x.to_bytes(8, "little"), _STRONG
    for q in fp.quotes:
        yield b"Q" + q.to_bytes(4, "little"), _STRONG
    for n in fp.numbers:
        yield b"N" + n.encode(), _FACT
    for quantity in fp.quantities:
        yield b"U" + quantity.encode(), _FACT
    for name in fp.names:
        yield b"K" + name.encode(), _FACT
    if fp.actors:
        actor_set = "\x00".join(sorted(fp.actors)).encode()
        for day in fp.weekdays:
            yield b"W" + bytes([day]) + actor_set, _FACT
    for actor in fp.actors:
        yield b"A" + actor.encode(), _ACTOR


def _may_match(a: StoryFingerprint, b: StoryFingerprint) -> bool:
    """Cheap gate for candidates found through facts or actors (near-duplicates come through LSH buckets):
    the necessary condition of ``compare_fingerprints`` for joining on evidence."""
    shared = len(a.actors & b.actors)
    if shared == 0 or 2 * shared < len(a.actors | b.actors):
        return False
    return (
        not a.numbers.isdisjoint(b.numbers)
        or not a.quantities.isdisjoint(b.quantities)
        or not a.names.isdisjoint(b.names)
        or not a.quotes.isdisjoint(b.quotes)
        or not a.weekdays.isdisjoint(b.weekdays)
        or lexical_similarity(a.wording, b.wording) >= _WORDING_RELATED
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    story_key: str
    fp: StoryFingerprint


class StoryIndex:
    """In-memory index of the story window: which story, if any, a new fingerprint belongs to.

    Look-ups never scan the window: candidates come from LSH buckets, exact and quote keys, postings of
    rare facts and a bounded scan of the rarest shared actors; only those are compared.
    """

    def __init__(self, *, window: timedelta = _DEFAULT_WINDOW) -> None:
        self._window = window
        self._entries: dict[int, _Entry] = {}
        # A key held by one entry maps to its id, by more to a list: most LSH buckets hold one entry.
        self._postings: dict[bytes, int | list[int]] = {}
        self._members: dict[str, list[int]] = {}
        self._by_time: list[tuple[datetime, int]] = []
        self._next_id = 0

    @classmethod
    def from_candidates(
        cls, candidates: Iterable[StoryCandidate], *, window: timedelta = _DEFAULT_WINDOW
    ) -> StoryIndex:
        """An index of stored items in the story window, as storage lists them at start."""
        index = cls(window=window)
        for candidate in candidates:
            index.add(candidate.story_key, decode_fingerprint(candidate.fingerprint))
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, story_key: str, fp: StoryFingerprint) -> None:
        """Record that an item with this fingerprint belongs to ``story_key``."""
        entry_id = self._next_id
        self._next_id += 1
        self._entries[entry_id] = _Entry(story_key=story_key, fp=fp)
        self._members.setdefault(story_key, []).append(entry_id)
        heapq.heappush(self._by_time, (fp.published, entry_id))
        postings = self._postings
        for key, _kind in _retrieval_keys(fp):
            held = postings.get(key)
            if held is None:
                postings[key] = entry_id
            elif isinstance(held, int):
                postings[key] = [held, entry_id]
            else:
                held.append(entry_id)

    def _candidates(self, fp: StoryFingerprint) -> set[int]:
        strong: set[int] = set()
        loose: set[int] = set()
        actor_postings: list[list[int]] = []
        for key, kind in _retrieval_keys(fp):
            held = self._postings.get(key)
            if held is None:
                continue
            posting = [held] if isinstance(held, int) else held
            if kind == _ACTOR:
                actor_postings.append(posting)
            elif len(posting) <= _MAX_POSTINGS or key[:1] == b"X":
                (strong if kind == _STRONG else loose).update(posting)
        spent = 0
        for posting in sorted(actor_postings, key=len):
            spent += len(posting)
            if spent > _ACTOR_SCAN_BUDGET:
                break
            loose.update(posting)
        loose -= strong
        entries = self._entries
        strong.update(i for i in loose if _may_match(entries[i].fp, fp))
        return strong

    def _joinable(self, story_key: str, fp: StoryFingerprint) -> bool:
        # An item that matches one member must not contradict another: stops A~B~C chains drifting.
        members = self._members.get(story_key, [])[-_MAX_MEMBERS_CHECKED:]
        return not any(_conflicts(self._entries[m].fp, fp, self._window) for m in members)

    def find(self, fp: StoryFingerprint) -> str | None:
        """The key of the story this fingerprint belongs to, or None when it starts a new story."""
        best: dict[str, float] = {}
        for entry_id in self._candidates(fp):
            entry = self._entries[entry_id]
            evidence = compare_fingerprints(entry.fp, fp, window=self._window)
            if evidence.same and evidence.score > best.get(entry.story_key, -1.0):
                best[entry.story_key] = evidence.score
        for story_key, _score in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
            if self._joinable(story_key, fp):
                return story_key
        return None

    def evict_before(self, cutoff: datetime) -> int:
        """Forget fingerprints published before ``cutoff``; returns how many were dropped."""
        dead: set[int] = set()
        while self._by_time and self._by_time[0][0] < cutoff:
            _published, entry_id = heapq.heappop(self._by_time)
            dead.add(entry_id)
        if not dead:
            return 0
        touched: set[bytes] = set()
        stories: set[str] = set()
        for entry_id in dead:
            entry = self._entries.pop(entry_id)
            touched.update(key for key, _kind in _retrieval_keys(entry.fp))
            stories.add(entry.story_key)
        for story_key in stories:
            members = [m for m in self._members[story_key] if m not in dead]
            if members:
                self._members[story_key] = members
            else:
                del self._members[story_key]
        for key in touched:
            held = self._postings[key]
            kept = [] if isinstance(held, int) else [i for i in held if i not in dead]
            if len(kept) > 1:
                self._postings[key] = kept
            elif kept:
                self._postings[key] = kept[0]
            else:
                del self._postings[key]
        return len(dead)


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
