"""Which tracked actors and topics an item names: one automaton over the whole watchlist, then per-hit rules.

Every alias and topic phrase is folded (``feeds.textnorm``) and put into ONE Aho-Corasick automaton, keyed
with the spaces that stand for word boundaries, so scanning costs the length of the text whatever the size of
the watchlist. A multi-word phrase must be separated in the text as in the phrase ("Абу-Даби" = "Абу Даби",
but not "Абу.Даби"); possessives ("Putin's") and hyphenated compounds ("Russia-Ukraine") split into words.
Each alias hit is then judged by cheap rules, in this order:

* exact case: ``exact_case_aliases`` must appear with that capitalisation (``US``, not ``us``). Where the
  words around a hit are in capitals too ("THEY WANT US TO WALK AWAY") its case says nothing: an all-caps
  exact alias that is also a common word ("US" = "us") is then dropped unless hyphen-joined to a word
  ("US-RUSSIA TALKS"), and any other all-caps exact alias there ("NATO") needs support like a single word;
* proper nouns written lowercase: an alias written capitalised in Latin or Greek script that appears all
  lowercase in cased text is the common noun ("turkey", "bone china"), not the name. (Not in Cyrillic, where
  adjectives from names are lowercase: "российский".)
* ``not_near``: a guard phrase of the actor in the same sentence vetoes the hit;
* another person of the same surname: a bare surname alias ("Kushner", the last word of the full-name
  alias "Jared Kushner") right after a capitalised given name that is not the actor's ("Miriam Kushner"),
  compared across alphabets and endings (Володимиром = Volodymyr), names someone else; the item's other
  bare mentions of that surname then refer to that person too;
* ambiguity: a single-word alias may name something else when a sign says so, whether or not the
  watchlist author listed that namesake in ``not_near``:
    - the actor's own ``not_near`` phrases contain the alias or a word it extends ("Georgia" in
      "Georgia voters", and so "Georgian"): its author knows of a namesake;
    - it is a person's surname alone ("Rubio"): other people share it;
    - it is also a common given name, month or day ("Jordan", "May");
    - it stands inside a longer capitalised name, next to a capitalised word that is not tracked, not a
      title and not a domain word ("Chicken Kiev", "Moscow, Idaho", "Moscow Mule", "U.S. Open"; acronyms
      next to it are separate entities: "WHO asks China");
    - it is a capitalised alias written lowercase where that is not simply wrong (Cyrillic adjectives);
    - it is an all-caps acronym in all-caps text ("NATO LEADERS GATHER").
  Such a hit counts only with support from the item: another tracked actor with a surviving hit, a
  tracked topic's phrase, or a word that places the item in foreign affairs, war, trade or politics (a
  fixed lexicon in English, Russian and Ukrainian; it names no tracked actor). When the actor is a place
  and its own ``not_near`` phrases mark the alias, only another actor or a foreign-affairs word will do:
  the namesake (a US state) holds elections too. Other aliases (full names, multi-word names, exact-case
  acronyms in ordinary text, single words with no such sign: "China says …") need no support.

Topics: at least one ``any`` phrase and every ``all`` phrase must occur; a ``none`` phrase vetoes the hits it
covers and, in its sentence, the other hits of the same phrase ("contract negotiations … the negotiations"),
so "trade negotiations stall as peace talks resume" keeps the peace talks. A topic counts only in an item
that names a tracked actor or carries two distinct lexicon words besides its own phrases (a truce in a
supermarket price war is not a ceasefire). A topic phrase written in capitals (``POW*``) is an acronym and
matches only in capitals, its ``*`` ending in lowercase ("POWs", not "Power" or "POWER").
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import operator
import re
import threading
import time
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, NamedTuple

import ahocorasick

from feeds.models import Actor, Item, Match, Span, TextField, Topic, Watchlist
from feeds.textnorm import MatchText, fold, is_word_char, match_text, words

__all__ = ["CompiledWatchlist", "HitExplanation", "compile_watchlist", "explain_match", "match_watchlist"]


# ---------------------------------------------------------------------------------------------------------
# Lexicons: general knowledge of languages and of the domain, no names of states, people or organisations
# ---------------------------------------------------------------------------------------------------------

# Words that place an item in foreign affairs, war or trade. Matched like topic phrases.
_FOREIGN_AFFAIRS_WORDS: tuple[str, ...] = (
    # English
    "minister*", "ministry", "ministries", "foreign", "diplomat*", "embassy", "embassies", "ambassador*",
    "envoy*", "consul*", "president*", "prime minister", "premier", "chancellor", "secretary of state",
    "secretary-general", "secretary general", "foreign policy", "sovereign*", "talks", "negotiat*",
    "summit*", "treaty", "treaties", "accord", "accords", "alliance*", "allies", "allied", "bilateral",
    "multilateral", "sanction*", "embargo*", "tariff*", "trade", "export*", "import", "imports", "imported",
    "importer*", "war", "wars", "wartime", "warfare", "military", "army", "armies", "armed forces",
    "forces", "troops", "soldier*", "missile*", "drone*", "airstrike*", "air strike*", "shelling",
    "artillery", "bomb*", "rocket*", "air defen*", "air raid*", "casualt*", "invasion", "invad*",
    "occupied", "occupation", "annex*", "frontline", "front line", "ceasefire", "cease-fire", "truce",
    "armistice", "peace", "peacekeep*", "defence", "defense", "nuclear", "weapon*", "territor*", "refugee*",
    "prisoner*", "hostage*", "humanitarian", "geopolitic*", "international", "delegation*", "spokesman",
    "spokeswoman", "spokesperson", "regime", "coup", "crackdown", "intelligence", "security guarantee*",
    # Russian
    "министр*", "министерств*", "мид", "посол", "посла", "послом", "посольств*", "дипломат*", "президент*",
    "премьер*", "госсекретар*", "санкци*", "переговор*", "саммит*", "визит*", "делегаци*", "спецпосланник*",
    "спецпредставител*", "пресс-секретар*", "войн*", "военн*", "войск*", "армия", "армии", "фронт*",
    "ракет*", "беспилотник*", "обстрел*", "наступлени*", "оборон*", "перемири*", "прекращени* огня",
    "урегулирован*", "безопасност*", "суверенитет*", "территори*", "беженц*", "пленн*", "гуманитарн*",
    "экспорт*", "импорт*", "пошлин*", "оккупац*", "аннекси*", "всу", "минобороны",
    # Ukrainian
    "міністр*", "міністерств*", "мзс", "посольств*", "президент*", "прем'єр*", "держсекретар*", "санкці*",
    "перемов*", "саміт*", "візит*", "делегаці*", "спецпредставник*", "прес-секретар*", "війн*", "військ*",
    "армі*", "ракет*", "безпілотник*", "дрон*", "обстріл*", "оборон*", "перемир*", "припинення вогню",
    "врегулюван*", "безпек*", "суверенітет*", "територі*", "біженц*", "полонен*", "гуманітарн*", "експорт*",
    "імпорт*", "окупац*", "анексі*", "зсу", "міноборони",
)  # fmt: skip

# Words of politics at home. They support a politician's surname, but not a place name its watchlist author
# flagged as a homonym: the namesake (a US state, a city) has elections and lawmakers too.
_DOMESTIC_POLITICS_WORDS: tuple[str, ...] = (
    "government*", "administration", "parliament*", "senate", "senator*", "congress*", "lawmaker*",
    "legislat*", "election*", "republican*", "democrat*", "opposition", "protest*",
    "правительств*", "парламент*", "госдум*", "депутат*", "выборы", "выборов", "выборах",
    "уряд*", "парламент*", "верховн* рад*", "депутат*", "вибори", "виборів",
)  # fmt: skip

# Short words that an all-caps acronym can stand for in all-caps text ("TELL US" is not the United States).
_FUNCTION_WORDS = frozenset(
    (
        "a", "an", "the", "and", "or", "but", "nor", "if", "then", "than", "of", "to", "in", "on", "at",
        "by", "for", "with", "from", "as", "into", "onto", "over", "under", "about", "after", "before",
        "since", "until", "while", "is", "it", "its", "be", "am", "are", "was", "were", "been", "us", "we",
        "me", "my", "he", "him", "his", "she", "her", "they", "them", "their", "you", "your", "our", "who",
        "whom", "why", "how", "what", "when", "where", "which", "that", "this", "these", "those", "so",
        "no", "not", "do", "does", "did", "go", "up", "all", "any", "can", "may", "will", "one", "new",
        "said", "says", "also", "just", "now", "here", "there", "yet", "still", "even", "only", "both",
        "each", "every", "many", "most", "some", "more", "less", "last", "next", "first", "top",
        "meanwhile", "later", "earlier", "today", "tonight", "yesterday", "tomorrow", "however",
        "separately", "again", "once", "и", "в", "во", "на", "с", "со", "по", "не", "что", "как", "мы",
        "нас", "вас", "их", "его", "она", "он", "они", "ее", "её", "я", "ты", "вы", "но", "а", "или", "за",
        "от", "до", "из", "к", "у", "о", "об", "для", "при", "так", "же", "ли", "бы", "это", "та", "і",
        "й", "що", "як", "ми", "ви", "він", "вона", "вони", "але", "або", "від", "з", "із", "про", "це",
    )
)  # fmt: skip

# Capitalised words that may stand right before a surname without being another given name.
_TITLE_WORDS = frozenset(
    (
        "president", "presidents", "vice", "secretary", "minister", "premier", "chancellor", "envoy",
        "envoys", "ambassador", "senator", "sen", "governor", "gov", "general", "gen", "admiral", "adm",
        "colonel", "col", "commander", "chief", "director", "spokesman", "spokeswoman", "spokesperson",
        "aide", "adviser", "advisor", "mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame",
        "lord", "lady", "king", "queen", "prince", "princess", "crown", "emir", "sheikh", "sultan", "pope",
        "cardinal", "archbishop", "bishop", "patriarch", "father", "saint", "st", "rep", "representative",
        "speaker", "mayor", "judge", "justice", "chairman", "chairwoman", "chair", "leader", "head",
        "deputy", "former", "ex", "acting", "interim", "incoming", "outgoing", "elect", "special",
        "senior", "top", "foreign", "defence", "defense", "state", "national", "federal", "official",
        "officials", "tsar", "czar", "comrade", "candidate", "nominee", "brother", "sister", "son",
        "daughter", "wife", "husband", "team", "camp", "lt", "sgt", "capt", "maj", "cpl", "officer",
        "agent", "inspector", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december", "президент", "министр", "глава", "посол", "спецпосланник", "помощник",
        "советник", "господин", "пан", "пані", "міністр", "посланник", "генсек", "генсекретарь",
        "секретарь", "премьер", "прем'єр", "канцлер", "сенатор", "губернатор", "мэр", "спикер", "лидер",
        "лідер", "речник", "представитель", "представник",
    )
)  # fmt: skip

# Single words that are also common given names, months or days: as an alias they need support.
_COMMON_NAMES = frozenset(
    (
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "jordan", "chad", "victoria", "florence", "israel", "charlotte", "sydney", "austin", "madison",
        "dallas", "paris", "sofia", "lincoln", "kent", "eugene", "valencia", "santiago", "salvador",
        "virginia", "carolina", "jersey", "trinidad", "lorraine", "phoenix",
    )
)  # fmt: skip

_ABBREVIATIONS = frozenset(
    (
        "mr", "mrs", "ms", "dr", "gov", "sen", "rep", "st", "gen", "lt", "col", "sgt", "capt", "maj",
        "adm", "jr", "sr", "vs", "etc", "no", "inc", "corp", "co", "ltd", "mt", "ft", "prof", "jan", "feb",
        "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "est", "dept",
        "univ",
    )
)  # fmt: skip
# Institutions named right before an official's surname, inflected ("глава Госдепа Рубио"): not given names.
_INSTITUTION_STEMS = ("госдеп", "держдеп", "пентагон", "минфин", "мінфін", "генштаб", "сенат", "конгрес")
_PATRONYMIC = re.compile(r"(?:ovich|evich|ovna|evna|ович|евич|овн|евн|йович|ійович)\w{0,3}$")


# ---------------------------------------------------------------------------------------------------------
# Compiled phrases
# ---------------------------------------------------------------------------------------------------------


class _Role(IntEnum):
    ALIAS = 0
    NOT_NEAR = 1
    ANY = 2
    ALL = 3
    NONE = 4
    CONTEXT = 5


# Thai, Lao, Myanmar, Khmer, kana, CJK: written without spaces, so a phrase has no word boundary to respect.
_UNSPACED_SCRIPTS = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x3400, 0x4DBF),
                     (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))  # fmt: skip


def _unspaced(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _UNSPACED_SCRIPTS)


def _script_of(ch: str) -> str:
    return unicodedata.name(ch, "").split(" ", 1)[0]


@dataclass(frozen=True, slots=True, eq=False)
class _Pattern:
    """One watchlist phrase as the automaton key plus what a hit must still satisfy."""

    phrase: str  # as written in the watchlist
    key: str  # folded, words joined by the spaces of the match text; " " edges are word boundaries
    n_words: int
    single_word: bool  # one word as written ("U.S." is one word, an abbreviation; "Abu Dhabi" is two)
    open_end: bool  # the phrase's last word ends in '*'
    tail: re.Pattern[str] | None  # the rest after a '*' that is not the last word, on the match text
    gaps: tuple[str, ...]  # folded separators between words; " " means any space or hyphen
    case_flags: tuple[bool, ...]  # isupper() of each letter of the literal part (exact-case use)
    has_upper: bool  # some character of the phrase is a capital
    proper: bool  # written capitalised in Latin/Greek script, where lowercase means a common noun
    all_caps: bool  # every letter a capital (an acronym)
    literal: str  # folded words without '*', joined by single spaces
    final_dot: bool  # ends in '.', as in "U.S.": the span then takes the text's dot too


def _word_runs(text: str) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(text):
        if is_word_char(ch):
            if start < 0:
                start = i
        elif start >= 0:
            runs.append((start, i))
            start = -1
    if start >= 0:
        runs.append((start, len(text)))
    return runs


def _gap_form(gap: str) -> str:
    """A separator as compared: spaces and hyphens become " ", anything else stays (spaces squeezed)."""
    gap = gap.replace("*", "")
    if not gap.strip(" \t\n-"):
        return " "
    return re.sub(r"\s+", " ", gap)


def _compile_pattern(phrase: str) -> _Pattern:
    folded = fold(phrase)
    runs = _word_runs(folded)
    words_ = [folded[a:b] for a, b in runs]
    wild = [folded[b : b + 1] == "*" for _, b in runs]
    gaps = tuple(_gap_form(folded[runs[k][1] : runs[k + 1][0]]) for k in range(len(runs) - 1))

    def lead(word: str) -> str:
        return "" if _unspaced(word[0]) else " "

    def trail(word: str) -> str:
        return "" if _unspaced(word[-1]) else " "

    key = lead(words_[0])
    tail_parts: list[str] = []
    in_tail = False
    for k, word in enumerate(words_):
        last = k == len(words_) - 1
        if not in_tail:
            key += word
            if wild[k]:
                in_tail = not last
            elif last:
                key += trail(word)
            else:
                key += " " * len(gaps[k])
            continue
        tail_parts.append(" " * len(gaps[k - 1]) + re.escape(word))
        if wild[k]:
            tail_parts.append("[^ ]*")
        elif last:
            tail_parts.append("(?= )")
    tail = re.compile("[^ ]*" + "".join(tail_parts)) if tail_parts else None
    # the literal part of an exact-case phrase is the phrase itself up to its first '*'
    literal_raw = phrase.split("*", 1)[0]
    letters = [c for c in literal_raw if c.isalpha()]
    first_alpha = next((c for c in phrase if c.isalpha()), "")
    has_upper = any(c.isupper() for c in phrase)
    return _Pattern(
        phrase=phrase,
        key=key,
        n_words=len(words_),
        single_word=len(words(phrase.replace("*", ""))) == 1,
        open_end=wild[-1] and tail is None,
        tail=tail,
        gaps=gaps if len(words_) > 1 else (),
        case_flags=tuple(c.isupper() for c in letters),
        has_upper=has_upper,
        proper=has_upper and _script_of(first_alpha) in ("LATIN", "GREEK"),
        all_caps=len(letters) > 1 and all(c.isupper() for c in letters),
        literal=" ".join(words_),
        final_dot=phrase.endswith("."),
    )


@dataclass(frozen=True, slots=True, eq=False)
class _Entry:
    role: _Role
    target: int  # index of the actor, topic or lexicon word
    target_id: str  # the actor's or topic's id ("" for a lexicon word)
    pattern: _Pattern
    exact: bool
    bare_surname: bool = False  # a person's surname alone, the last word of their full-name alias
    namesake: bool = False  # the actor's own not_near phrases show this alias to have a namesake
    place_namesake: bool = False  # … and the actor is a place, state or organisation
    common_name: bool = False  # also a common given name, month or day ("May", "Jordan")
    # One int per scored target, cheap to hash per hit: the aliases of actor i are 2i, topic i's phrases 2i+1.
    group: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", 2 * self.target + (0 if self.role is _Role.ALIAS else 1))  # frozen


def _same_stem(a: str, b: str) -> bool:
    """One word extends the other ("georgian" and "georgia"), both long enough to mean it."""
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= 5 and longer.startswith(shorter)


def _similar_name(a: str, b: str) -> bool:
    """Same name up to an inflected or transliterated ending (Юрий/Юрия, Sergei/Sergey, Zelenskyy)."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return common >= max(3, min(len(a), len(b)) - 2)


_CYRILLIC_LATIN = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "e", "ж": "zh", "з": "z",
    "и": "i", "і": "i", "ї": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "'": "",
})  # fmt: skip
_SKELETON_STEPS = (("dzh", "j"), ("zh", "j"), ("kh", "h"), ("ck", "k"), ("c", "k"), ("x", "ks"), ("w", "v"))


def _name_skeleton(word: str) -> str:
    """Consonants of a name romanised, so Володимир, Владимир and Volodymyr agree (vldmr)."""
    latin = word.translate(_CYRILLIC_LATIN)
    for old, new in _SKELETON_STEPS:
        latin = latin.replace(old, new)
    consonants = [c for c in latin if c.isalpha() and c not in "aeiouy"]
    return "".join(c for i, c in enumerate(consonants) if i == 0 or consonants[i - 1] != c)


@functools.lru_cache(maxsize=4096)
def _same_given_name(word: str, known: frozenset[str]) -> bool:
    """``word`` is one of the ``known`` given names, perhaps inflected (Стивом) or in another alphabet."""
    skeleton = _name_skeleton(word)
    for name in known:
        other = _name_skeleton(name)
        shorter, longer = sorted((skeleton, other), key=len)
        if _similar_name(word, name) or (len(shorter) >= 2 and shorter == longer):
            return True
        if len(shorter) >= 3 and longer.startswith(shorter):  # an ending added by inflection
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _not_another_given_name(name: str, given_names: frozenset[str]) -> bool:
    """The capitalised word before a surname is a title, a function word, a patronymic, an institution or one
    of the actor's ``given_names`` (cached: the same few words come before a surname in item after item)."""
    folded = fold(name)
    return bool(
        folded in _TITLE_WORDS
        or folded in _FUNCTION_WORDS
        or _PATRONYMIC.search(folded)
        or folded.startswith(_INSTITUTION_STEMS)
        or _same_given_name(folded, given_names)
    )


@dataclass(frozen=True, slots=True, eq=False)
class _ActorInfo:
    actor: Actor
    given_names: frozenset[str]  # folded words of the full-name aliases other than the surname


def _actor_info(actor: Actor, index: int) -> tuple[_ActorInfo, list[_Entry]]:
    """The actor's facts and its alias and guard entries."""
    patterns = [_compile_pattern(a) for a in actor.aliases]
    surnames = [p.literal.split()[-1] for p in patterns if p.n_words > 1]
    given = frozenset(w for p in patterns if p.n_words > 1 for w in p.literal.split()[:-1])
    guards = [_compile_pattern(a) for a in actor.not_near]
    guard_words = [g.literal.split() for g in guards]
    entries: list[_Entry] = []
    for p in patterns:
        bare = (
            actor.kind == "person"
            and p.n_words == 1
            and any(_similar_name(p.literal, s) or (p.open_end and s.startswith(p.literal)) for s in surnames)
        )
        namesake = any(
            f" {p.literal} " in f" {' '.join(g)} " or any(_same_stem(p.literal, w) for w in g)
            for g in guard_words
        )
        entries.append(
            _Entry(
                role=_Role.ALIAS,
                target=index,
                target_id=actor.id,
                pattern=p,
                exact=False,
                bare_surname=bare,
                namesake=namesake,
                place_namesake=namesake and actor.kind != "person",
                common_name=p.single_word and p.literal in _COMMON_NAMES,
            )
        )
    for a in actor.exact_case_aliases:
        entries.append(
            _Entry(
                role=_Role.ALIAS, target=index, target_id=actor.id, pattern=_compile_pattern(a), exact=True
            )
        )
    for g in guards:
        entries.append(_Entry(role=_Role.NOT_NEAR, target=index, target_id=actor.id, pattern=g, exact=False))
    return _ActorInfo(actor=actor, given_names=given), entries


def _topic_entries(topic: Topic, index: int) -> list[_Entry]:
    entries: list[_Entry] = []
    for role, phrases in ((_Role.ANY, topic.any), (_Role.ALL, topic.all), (_Role.NONE, topic.none)):
        for phrase in phrases:
            p = _compile_pattern(phrase)
            entries.append(_Entry(role=role, target=index, target_id=topic.id, pattern=p, exact=p.all_caps))
    return entries


# What the scan needs of an entry, worked out once at compile time: (back, end_shift, tail, gaps, final_dot,
# entry), a plain tuple because the scan unpacks one per hit and a NamedTuple unpacks several times slower.
# A hit whose key ends at offset ``last`` of the match text starts at last - back (after the key's leading
# word-boundary space) and ends at last + end_shift, or at the end of the word for _OPEN_END; ``tail`` is the
# rest of a phrase with an inner '*', matched after the key; the others are the pattern's.
_Probe = tuple[int, int, re.Pattern[str] | None, tuple[str, ...], bool, _Entry]
_OPEN_END = -1


def _probe(entry: _Entry) -> _Probe:
    p = entry.pattern
    back = len(p.key) - (2 if p.key[0] == " " else 1)
    end_shift = _OPEN_END if p.open_end else (0 if p.key[-1] == " " else 1)
    return (back, end_shift, p.tail, p.gaps, p.final_dot, entry)


def _build_automaton(entries: Iterable[_Entry]) -> tuple[Any, int]:
    by_key: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_key.setdefault(entry.pattern.key, []).append(entry)
    automaton = ahocorasick.Automaton()
    for key, group in by_key.items():
        automaton.add_word(key, tuple(_probe(entry) for entry in group))
    if by_key:
        automaton.make_automaton()
    return automaton, len(by_key)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledWatchlist:
    """A watchlist ready to match: one automaton over every alias and phrase, and the facts the rules need."""

    watchlist: Watchlist
    automaton: Any  # ahocorasick.Automaton (untyped); values are tuples of _Probe
    keys: int  # distinct automaton keys
    phrases: int  # aliases, guards and topic phrases compiled
    build_seconds: float
    actors: tuple[_ActorInfo, ...]
    topics: tuple[Topic, ...]

    def describe(self) -> str:
        """One line for logs: size and build cost."""
        return (
            f"{len(self.actors)} actors, {len(self.topics)} topics: {self.phrases} phrases, "
            f"{self.keys} automaton keys, built in {self.build_seconds * 1000:.1f} ms"
        )


def compile_watchlist(watchlist: Watchlist) -> CompiledWatchlist:
    """Fold every alias and phrase and build the single automaton over them."""
    started = time.perf_counter()
    infos: list[_ActorInfo] = []
    entries: list[_Entry] = []
    for i, actor in enumerate(watchlist.actors):
        info, actor_entries = _actor_info(actor, i)
        infos.append(info)
        entries.extend(actor_entries)
    for i, topic in enumerate(watchlist.topics):
        entries.extend(_topic_entries(topic, i))
    automaton, keys = _build_automaton(entries)
    return CompiledWatchlist(
        watchlist=watchlist,
        automaton=automaton,
        keys=keys,
        phrases=len(entries),
        build_seconds=time.perf_counter() - started,
        actors=tuple(infos),
        topics=watchlist.topics,
    )


def _build_context_automaton() -> tuple[Any, int]:
    """The lexicon automaton; context entries with a target below the returned bound are foreign affairs."""
    phrases = list(dict.fromkeys(_FOREIGN_AFFAIRS_WORDS))
    foreign = len(phrases)
    phrases += [p for p in dict.fromkeys(_DOMESTIC_POLITICS_WORDS) if p not in phrases]
    entries = [
        _Entry(role=_Role.CONTEXT, target=i, target_id="", pattern=_compile_pattern(p), exact=False)
        for i, p in enumerate(phrases)
    ]
    automaton, _ = _build_automaton(entries)
    return automaton, foreign


_CONTEXT_AUTOMATON, _FOREIGN_AFFAIRS_BOUND = _build_context_automaton()


# ---------------------------------------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------------------------------------


class _Hit(NamedTuple):
    field: int  # 0 title, 1 summary
    start: int  # in the padded match text
    end: int
    ostart: int  # in the original field text
    oend: int
    entry: _Entry


_FIELDS: tuple[TextField, TextField] = ("title", "summary")
_SPACE_LIKE = frozenset(" \t\n\r\f\v-")


def _gaps_ok(mt: MatchText, original: str, start: int, end: int, gaps: Sequence[str]) -> bool:
    """The separators between the phrase's words in the text are the phrase's own (not '.' for ' ')."""
    text = mt.text
    starts, ends = mt.starts, mt.ends
    k = 0
    i = text.find(" ", start, end)
    while i >= 0:
        j = i + 1
        while j < end and text[j] == " ":
            j += 1
        if k >= len(gaps):
            return False
        if starts is None or ends is None:  # MatchText.original_span, inlined as in _scan
            found = original[i - 1 : j - 1]
        else:
            found = original[starts[i - 1] : ends[j - 2]]
        if gaps[k] == " ":
            # one plain space, by far the most common separator, folds to itself and passes
            if found != " ":
                found = fold(found)
                if not found or not set(found) <= _SPACE_LIKE or found.count("-") > 1:
                    return False
        elif re.sub(r"\s+", " ", fold(found)) != gaps[k]:
            return False
        k += 1
        i = text.find(" ", j, end)
    return k == len(gaps)


# Builds a _Hit from one tuple without the Python-level NamedTuple.__new__ (the scan makes one per hit).
_new_hit = functools.partial(tuple.__new__, _Hit)


def _scan(field: int, mt: MatchText, original: str, automaton: Any) -> list[_Hit]:
    text = mt.text
    find = text.find
    starts, ends = mt.starts, mt.ends
    hits: list[_Hit] = []
    for last, probes in automaton.iter(text):
        for back, end_shift, tail, gaps, final_dot, entry in probes:
            start = last - back
            if tail is not None:
                m = tail.match(text, last + 1)
                if m is None:
                    continue
                end = m.end()
            elif end_shift == _OPEN_END:
                end = find(" ", last + 1)
            else:
                end = last + end_shift
            if starts is None or ends is None:  # MatchText.original_span, inlined: the text folded 1:1
                ostart, oend = start - 1, end - 1
            else:
                ostart, oend = starts[start - 1], ends[end - 2]
            if gaps and not _gaps_ok(mt, original, start, end, gaps):
                continue
            if final_dot and original[oend : oend + 1] == ".":
                oend += 1
            hits.append(_new_hit((field, start, end, ostart, oend, entry)))
    return hits


def _case_ok(pattern: _Pattern, found: str) -> bool:
    """``found`` has the phrase's capitalisation; a '*' ending may not continue in capitals."""
    letters = [c for c in found if c.isalpha()]
    n = len(pattern.case_flags)
    if len(letters) < n or tuple(c.isupper() for c in letters[:n]) != pattern.case_flags:
        return False
    return not (pattern.open_end and any(c.isupper() for c in letters[n:]))


# ---------------------------------------------------------------------------------------------------------
# Explanations
# ---------------------------------------------------------------------------------------------------------

HitRole = Literal["alias", "exact-case alias", "not_near", "any", "all", "none"]
_ROLE_NAMES: dict[_Role, HitRole] = {
    _Role.ALIAS: "alias", _Role.NOT_NEAR: "not_near", _Role.ANY: "any", _Role.ALL: "all", _Role.NONE: "none",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class HitExplanation:
    """One alias or phrase hit, where it is, and the rule that kept or vetoed it."""

    field: TextField
    start: int
    end: int
    text: str  # the original text matched
    target: str  # actor or topic id
    target_kind: Literal["actor", "topic"]
    role: HitRole
    phrase: str  # as written in the watchlist
    kept: bool
    rule: str  # "kept: …", "vetoed: …" or, for guard phrases, "guard: …"

    def describe(self) -> str:
        """One line: ``title[0:5] 'Putin' → actor putin (alias 'Putin'): kept: alias``."""
        return (
            f"{self.field}[{self.start}:{self.end}] {self.text!r} → {self.target_kind} {self.target} "
            f"({self.role} {self.phrase!r}): {self.rule}"
        )


# ---------------------------------------------------------------------------------------------------------
# The rules, per item
# ---------------------------------------------------------------------------------------------------------

_TITLE_WEIGHT, _SUMMARY_WEIGHT = 1.0, 0.5
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|\n")
_LAST_WORD = re.compile(r"([^\W_]+(?:\.[^\W_]+)*)$")
_CLAUSE_START = re.compile(r"(?:^|[.!?…:;\"“”«»(\[—–-])$")
_HYPHENS = frozenset("-\u2010\u2011")
_LONG_WORD = re.compile(r"(?<!\w)[^\W\d_]{4,}")
# the nearest words of two letters or more before and after a position
_WORD_BEFORE = re.compile(r"([^\W\d_]{2,})[^\w]*$")
_WORD_AFTER = re.compile(r"(?:'s|’s)?[^\w]*([^\W\d_]{2,})")
# the word right after a position, after spaces only or after a comma ("Moscow, Idaho")
_NEXT_WORD = re.compile(r"(?:[ \t\u00a0]+|,[ \t\u00a0]+)(\w+)")
# the word right before a position, separated from it by spaces only (not by punctuation or a line break)
_PREVIOUS_WORD = re.compile(r"(?:^|(?<=[^\w'’]))(\w+(?:['’]\w+)*)[ \t\u00a0]+$")
_AFTER_NEXT_WORD = frozenset(" \t\u00a0,")  # what _NEXT_WORD needs right at the position


def _previous_word(text: str, end: int) -> re.Match[str] | None:
    """``_PREVIOUS_WORD.search(text, max(0, end - 40), end)``, the word right before ``end``, found faster.

    A search over the whole window tries the pattern at each of its 40 positions. But a match is one word
    and the spaces after it, so it cannot start at or before the last space ahead of that word: the search
    starts there, and sees the same characters around every position it tries as the full search would.
    """
    start = end - 40 if end > 40 else 0
    if end == start:
        return None
    last = text[end - 1]
    if last not in " \t\u00a0":
        # the pattern ends in spaces; "\n" only because "$" also matches before a newline that ends the text
        return _PREVIOUS_WORD.search(text, start, end) if last == "\n" else None
    word_end = end - 1
    while word_end > start and text[word_end - 1] in " \t\u00a0":
        word_end -= 1
    space = text.rfind(" ", start, word_end)
    return _PREVIOUS_WORD.search(text, space if space > start else start, end)


# The roles as plain names: the rules compare them per hit, and an enum class attribute costs a look-up.
_ALIAS, _NOT_NEAR, _ANY, _ALL, _NONE = _Role.ALIAS, _Role.NOT_NEAR, _Role.ANY, _Role.ALL, _Role.NONE


def _has_upper(text: str) -> bool:
    """Some character of ``text`` is a capital (``str.isupper``)."""
    if text[:1].isupper():  # most names in the text start with a capital
        return True
    if text.isascii():
        return text != text.lower()  # in ASCII only A-Z are capitals, and lower() changes exactly those
    return any(c.isupper() for c in text)


class _Verdict(NamedTuple):
    kept: bool
    rule: str


_VETOED = _Verdict(False, "")
_KEPT_BY_ALIAS = _Verdict(True, "")
_ACTOR_GUARD = _Verdict(False, "guard: vetoes this actor's hits in the same sentence")
_TOPIC_GUARD = _Verdict(False, "guard: vetoes this topic's hits in the same sentence")
_NO_MATCH = Match()  # frozen, so every item that names nothing can share it


def _scan_item(item: Item, compiled: CompiledWatchlist) -> tuple[tuple[MatchText, MatchText], list[_Hit]]:
    """Both fields folded for matching, and every watchlist hit in them (title first, in scan order)."""
    mts = (match_text(item.title), match_text(item.summary))
    hits: list[_Hit] = []
    if compiled.keys:
        if item.title:
            hits = _scan(0, mts[0], item.title, compiled.automaton)
        if item.summary:
            hits.extend(_scan(1, mts[1], item.summary, compiled.automaton))
    return mts, hits


class _ItemAnalysis:
    """Every hit of one item and the verdict on each; built once, read by match and explain."""

    def __init__(
        self, item: Item, compiled: CompiledWatchlist, mts: tuple[MatchText, MatchText], hits: list[_Hit]
    ) -> None:
        """``mts`` and ``hits`` as ``_scan_item`` gives them for the item."""
        self.compiled = compiled
        self.texts = (item.title, item.summary)
        self.mts = mts
        self.hits = hits
        self.verdicts: dict[_Hit, _Verdict] = {}
        self._sentences: dict[int, list[int]] = {}
        self._context: list[_Hit] | None = None
        self._all_caps: dict[int, bool] = {}
        self._title_case: dict[int, bool] = {}
        self.actors: list[str] = []
        self.topics: list[str] = []
        self._kept_actor_targets: set[int] = set()
        self._ambiguities: dict[_Hit, str | None] = {}
        self._live_topic_hits: dict[int, list[_Hit]] = {}
        if not hits:
            return
        # one pass sorts the hits by role and target for the rules (each group in scan order)
        alias_hits: dict[int, list[_Hit]] = {}
        guards: dict[int, list[_Hit]] = {}
        topic_hits: dict[int, list[_Hit]] = {}
        for hit in hits:
            entry = hit.entry
            role = entry.role
            if role is _ALIAS:
                alias_hits.setdefault(entry.target, []).append(hit)
            elif role is _NOT_NEAR:
                guards.setdefault(entry.target, []).append(hit)
            else:
                topic_hits.setdefault(entry.target, []).append(hit)
        self._judge_topic_hits(topic_hits)
        self._judge_actors(alias_hits, guards)
        self._judge_topics()

    # -- field facts, computed only when a rule needs them ------------------------------------------------

    def sentence(self, field: int, offset: int) -> int:
        bounds = self._sentences.get(field)
        if bounds is None:
            bounds = _sentence_bounds(self.texts[field])
            self._sentences[field] = bounds
        return bisect_right(bounds, offset)

    def all_caps(self, field: int) -> bool:
        known = self._all_caps.get(field)
        if known is None:
            text = self.texts[field]
            known = text == text.upper() and text != text.lower()
            self._all_caps[field] = known
        return known

    def shouting(self, hit: _Hit) -> bool:
        """The words around the hit are in capitals too, so its capitals say nothing ("THEY WANT US TO")."""
        text = self.texts[hit.field]
        around = [
            m.group(1)
            for m in (
                _WORD_BEFORE.search(text, max(0, hit.ostart - 40), hit.ostart),
                _WORD_AFTER.match(text, hit.oend, hit.oend + 40),
            )
            if m is not None
        ]
        if not around:
            return self.all_caps(hit.field)
        return all(w.isupper() for w in around)

    def hyphened(self, hit: _Hit) -> bool:
        """The hit is joined by a hyphen to another word ("US-RUSSIA TALKS"): a modifier, not a pronoun."""
        text = self.texts[hit.field]
        after = text[hit.oend : hit.oend + 2]
        before = text[max(0, hit.ostart - 2) : hit.ostart]
        return (after[:1] in _HYPHENS and after[1:].isalpha()) or (
            before[1:] in _HYPHENS and before[:1].isalpha()
        )

    def title_case(self, field: int) -> bool:
        """Most longer words are capitalised ("Zelensky Meets Trump At White House")."""
        known = self._title_case.get(field)
        if known is None:
            long_words = _LONG_WORD.findall(self.texts[field])
            capitalised = sum(1 for w in long_words if w[0].isupper())
            known = len(long_words) >= 3 and capitalised >= 0.8 * len(long_words)
            self._title_case[field] = known
        return known

    def context(self) -> list[_Hit]:
        if self._context is None:
            self._context = [
                hit
                for f in (0, 1)
                if self.texts[f]
                for hit in _scan(f, self.mts[f], self.texts[f], _CONTEXT_AUTOMATON)
            ]
        return self._context

    def found(self, hit: _Hit) -> str:
        return self.texts[hit.field][hit.ostart : hit.oend]

    # -- actors --------------------------------------------------------------------------------------------

    def _judge_actors(self, alias_hits: dict[int, list[_Hit]], guards: dict[int, list[_Hit]]) -> None:
        compiled = self.compiled
        verdicts = self.verdicts
        for guard_hits in guards.values():
            for hit in guard_hits:
                verdicts[hit] = _ACTOR_GUARD
        surviving: dict[int, list[_Hit]] = {}
        needs_support: dict[int, list[_Hit]] = {}
        for target, hits in alias_hits.items():
            info = compiled.actors[target]
            actor_guards = guards.get(target, ())
            other_person = ""
            alive: list[_Hit] = []
            for hit in self._drop_case_twins(hits, info):
                other = self._other_given_name(hit, info) if hit.entry.bare_surname else None
                verdict = self._alias_verdict(hit, actor_guards, other)
                if verdict is not None:
                    verdicts[hit] = verdict
                    other_person = other_person or (f"{other} {self.found(hit)}" if other else "")
                    continue
                alive.append(hit)
            if not alive:
                continue
            if other_person and all(h.entry.bare_surname for h in alive):
                # the item's other bare mentions of the surname refer to that person too
                vetoed = _Verdict(False, f"vetoed: the surname refers to {other_person} here")
                for hit in alive:
                    verdicts[hit] = vetoed
                continue
            surviving[target] = alive
        for target, hits in surviving.items():
            if any(self._ambiguity(h) is None for h in hits):  # one plain mention is enough
                for hit in hits:
                    verdicts[hit] = _KEPT_BY_ALIAS  # the rule's wording is only needed to explain
            else:
                needs_support[target] = hits
        kept = {t for t in surviving if t not in needs_support}
        for target, hits in needs_support.items():
            support = self._actor_support(target, surviving, hits)
            for hit in hits:
                why = self._ambiguity(hit)
                if support:
                    self.verdicts[hit] = _Verdict(
                        True, f"kept: ambiguous alias ({why}), supported by {support}"
                    )
                else:
                    self.verdicts[hit] = _Verdict(
                        False, f"vetoed: ambiguous alias ({why}) without diplomatic context"
                    )
            if support:
                kept.add(target)
        self.actors = sorted(compiled.actors[t].actor.id for t in kept)
        self._kept_actor_targets = kept

    def _drop_case_twins(self, hits: list[_Hit], info: _ActorInfo) -> list[_Hit]:
        """Of exact-case twins on one span ("NATO" and "Nato" on "NATO") keep the one whose case fits."""
        if not info.actor.exact_case_aliases or not any(h.entry.exact for h in hits):
            return hits
        spans: dict[tuple[int, int, int], list[_Hit]] = {}
        for hit in hits:
            spans.setdefault((hit.field, hit.ostart, hit.oend), []).append(hit)
        out: list[_Hit] = []
        for group in spans.values():
            fitting = [h for h in group if not h.entry.exact or _case_ok(h.entry.pattern, self.found(h))]
            out.extend(fitting or group[:1])
        return out

    def _alias_verdict(
        self, hit: _Hit, guards: Sequence[_Hit], other_given_name: str | None
    ) -> _Verdict | None:
        """A veto for this hit, or None when it survives the per-hit rules."""
        p = hit.entry.pattern
        if hit.entry.exact:
            found = self.found(hit)
            if not _case_ok(p, found):
                return _Verdict(False, f"vetoed: exact-case alias {p.phrase!r} written {found!r}")
            if p.all_caps and p.literal in _FUNCTION_WORDS and self.shouting(hit) and not self.hyphened(hit):
                return _Verdict(
                    False,
                    f"vetoed: exact-case alias {p.phrase!r} in all-caps text, where it may be the "
                    f"word {p.literal!r}",
                )
        elif p.proper:
            text = self.texts[hit.field]
            found = text[hit.ostart : hit.oend]
            if not _has_upper(found) and text != text.lower():
                return _Verdict(False, f"vetoed: proper-noun alias {p.phrase!r} written lowercase {found!r}")
        if guards:
            sentence = self.sentence(hit.field, hit.ostart)
            for guard in guards:
                if guard.field == hit.field and self.sentence(guard.field, guard.ostart) == sentence:
                    return _Verdict(
                        False, f"vetoed: not_near {guard.entry.pattern.phrase!r} in same sentence"
                    )
        if other_given_name:
            found = self.found(hit)
            return _Verdict(False, f"vetoed: surname follows another given name ({other_given_name} {found})")
        return None

    def _other_given_name(self, hit: _Hit, info: _ActorInfo) -> str | None:
        """The capitalised given name right before a bare surname when it is not this actor's, else None."""
        text = self.texts[hit.field]
        m = _previous_word(text, hit.ostart)
        if m is None:
            return None
        name = m.group(1)
        if len(name) < 2 or not name[0].isupper() or name.isupper():
            return None
        pstart, pend = m.span(1)
        ahead = text[max(0, pstart - 3) : pstart].rstrip()
        if not ahead or _CLAUSE_START.search(ahead):
            return None  # capitalised by its place at the start of a sentence or clause
        if _not_another_given_name(name, info.given_names):
            return None
        if any(
            h.field == hit.field and h.ostart < pend and h.oend > pstart
            for h in itertools.chain(self.hits, self.context())
        ):
            return None  # a tracked name or a domain word, not a given name
        if self.all_caps(hit.field) or self.title_case(hit.field):
            return None
        return name

    def _ambiguity(self, hit: _Hit) -> str | None:
        """Why this surviving alias hit may name something else, or None when it plainly names the actor."""
        if hit not in self._ambiguities:
            self._ambiguities[hit] = self._find_ambiguity(hit)
        return self._ambiguities[hit]

    def _find_ambiguity(self, hit: _Hit) -> str | None:
        entry, p = hit.entry, hit.entry.pattern
        if entry.exact:
            return "all-caps acronym in all-caps text" if p.all_caps and self.shouting(hit) else None
        if p.has_upper and not _has_upper(self.found(hit)):
            return "name written lowercase"
        if not p.single_word:
            return None
        if entry.namesake:
            return "its actor's not_near phrases show a namesake"
        if entry.bare_surname:
            return "a surname alone"
        if entry.common_name:
            return "also a common given name or month"
        longer = self._longer_name(hit)
        return f"part of the longer name {longer!r}" if longer else None

    def _longer_name(self, hit: _Hit) -> str | None:
        """The name the hit is part of when a capitalised word that is not tracked, a title or a domain word
        stands right next to it ("Chicken Kiev", "Moscow, Idaho", "Moscow City Council"), else None."""
        text = self.texts[hit.field]
        ostart, oend = hit.ostart, hit.oend
        before = _previous_word(text, ostart)
        # _NEXT_WORD needs a space or comma right there, which many hits lack: skip the regex then
        after = (
            _NEXT_WORD.match(text, oend, oend + 40)
            if oend < len(text) and text[oend] in _AFTER_NEXT_WORD
            else None
        )
        for m in (before, after):
            if m is None or not self._name_like(hit.field, m.group(1), m.start(1), m.end(1)):
                continue
            if self.all_caps(hit.field) or self.title_case(hit.field):
                return None  # every word is capitalised there
            start, end = min(m.start(1), hit.ostart), max(m.end(1), hit.oend)
            return text[start:end]
        return None

    def _name_like(self, field: int, word: str, start: int, end: int) -> bool:
        if len(word) < 2 or not word[0].isupper() or word.isupper():
            return False  # lowercase, or an acronym standing for something of its own ("WHO asks China")
        folded = fold(word)
        if folded in _TITLE_WORDS or folded in _FUNCTION_WORDS:
            return False
        return not any(
            h.field == field and h.ostart < end and h.oend > start
            for h in itertools.chain(self.hits, self.context())
        )

    def _kept_rule(self, hit: _Hit) -> str:
        why = self._ambiguity(hit)
        if why:
            return f"kept: ambiguous alias ({why}), in an item that also names the actor plainly"
        if hit.entry.exact:
            return "kept: exact-case alias"
        return "kept: alias" if hit.entry.pattern.single_word else "kept: multi-word alias"

    def _actor_support(self, target: int, surviving: dict[int, list[_Hit]], own: Sequence[_Hit]) -> str:
        others = sorted(self.compiled.actors[t].actor.id for t in surviving if t != target)
        if others:
            return "actor " + ", ".join(others[:3])
        domestic_ok = not all(h.entry.place_namesake for h in own)
        if domestic_ok:
            for topic_index, live in self._live_topic_hits.items():
                if any(h.entry.role is _ANY for h in live):
                    return f"topic {self.compiled.topics[topic_index].id}"
        for ctx in self.context():
            if (domestic_ok or ctx.entry.target < _FOREIGN_AFFAIRS_BOUND) and not any(
                _overlaps(ctx, h) for h in own
            ):
                return f"word {self.found(ctx)!r}"
        return ""

    # -- topics --------------------------------------------------------------------------------------------

    def _judge_topic_hits(self, by_topic: dict[int, list[_Hit]]) -> None:
        """Per-hit topic rules (acronym case, none-phrases), which do not depend on the actors."""
        verdicts = self.verdicts
        for target, hits in by_topic.items():
            vetoes = [h for h in hits if h.entry.role is _NONE]
            live = self._live_topic_hits.setdefault(target, [])
            for hit in hits:
                if hit.entry.role is _NONE:
                    verdicts[hit] = _TOPIC_GUARD
                    continue
                # only an acronym phrase or a none-phrase of the topic can veto the hit
                verdict = self._topic_hit_verdict(hit, hits, vetoes) if vetoes or hit.entry.exact else None
                if verdict is not None:
                    verdicts[hit] = verdict
                else:
                    live.append(hit)

    def _judge_topics(self) -> None:
        kept: list[str] = []
        for target, live in self._live_topic_hits.items():
            topic = self.compiled.topics[target]
            missing = [
                phrase for phrase in topic.all
                if not any(h.entry.role is _ALL and h.entry.pattern.phrase == phrase for h in live)
            ]  # fmt: skip
            reason = ""
            if not any(h.entry.role is _ANY for h in live):
                reason = "vetoed: no 'any' phrase of the topic survives"
            elif missing:
                reason = f"vetoed: topic 'all' phrase {missing[0]!r} does not occur"
            else:
                support = self._topic_support(live)
                if not support:
                    reason = "vetoed: topic phrase without a tracked actor or two foreign-affairs words"
            verdict = _Verdict(False, reason) if reason else _Verdict(True, f"kept: {support}")
            for hit in live:
                self.verdicts[hit] = verdict
            if not reason:
                kept.append(topic.id)
        self.topics = sorted(kept)

    def _topic_hit_verdict(self, hit: _Hit, hits: Sequence[_Hit], vetoes: Sequence[_Hit]) -> _Verdict | None:
        """Case for acronym phrases; a none-phrase vetoes the hits it covers and, in its sentence, the other
        hits of the phrase it covered ("contract negotiations … the negotiations"), not the whole item."""
        p = hit.entry.pattern
        if hit.entry.exact and not _case_ok(p, self.found(hit)):
            return _Verdict(False, f"vetoed: acronym phrase {p.phrase!r} written {self.found(hit)!r}")
        for veto in vetoes:
            if veto.field != hit.field:
                continue
            if _overlaps(veto, hit):
                return _Verdict(False, f"vetoed: topic none-phrase {veto.entry.pattern.phrase!r}")
            covered = any(h.entry.pattern is p and _overlaps(veto, h) for h in hits)
            if covered and self.sentence(veto.field, veto.ostart) == self.sentence(hit.field, hit.ostart):
                return _Verdict(
                    False, f"vetoed: topic none-phrase {veto.entry.pattern.phrase!r} in same sentence"
                )
        return None

    def _topic_support(self, live: Sequence[_Hit]) -> str:
        if self._kept_actor_targets:
            return "topic phrase in an item naming a tracked actor"
        words_: dict[int, str] = {}
        for ctx in self.context():
            if not any(_overlaps(ctx, h) for h in live):
                words_.setdefault(ctx.entry.target, self.found(ctx))
        if len(words_) >= 2:
            return "topic phrase with foreign-affairs words " + ", ".join(
                repr(w) for w in list(words_.values())[:3]
            )
        return ""

    # -- results -------------------------------------------------------------------------------------------

    def match(self) -> Match:
        if not self.hits:
            return _NO_MATCH
        verdicts = self.verdicts
        kept = [h for h in self.hits if verdicts.get(h, _VETOED).kept]
        weights: dict[int, dict[str, float]] = {}  # _Entry.group → phrase → weight
        for hit in kept:
            entry = hit.entry
            by_phrase = weights.setdefault(entry.group, {})
            phrase = entry.pattern.phrase
            weight = _TITLE_WEIGHT if hit.field == 0 else _SUMMARY_WEIGHT
            if weight > by_phrase.get(phrase, 0.0):
                by_phrase[phrase] = weight
        total = 0.0
        for group, by_phrase in weights.items():
            value = min(1.5, max(by_phrase.values()) + 0.25 * (len(by_phrase) - 1))
            total += value if group % 2 == 0 else 0.5 * value  # an actor's aliases count in full
        spans = [
            Span(
                field=_FIELDS[h.field],
                start=h.ostart,
                end=h.oend,
                target=h.entry.target_id,
                phrase=h.entry.pattern.phrase,
            )
            for h in _outermost(kept)
        ]
        return Match(
            actors=tuple(self.actors),
            topics=tuple(self.topics),
            score=round(1.0 - math.exp(-total / 2.0), 6),
            spans=tuple(spans),
        )

    def explanations(self) -> tuple[HitExplanation, ...]:
        out: list[HitExplanation] = []
        for hit in sorted(self.hits, key=lambda h: (h.field, h.ostart, h.oend, h.entry.role)):
            verdict = self.verdicts.get(hit)
            if verdict is None:
                continue
            entry = hit.entry
            role = _ROLE_NAMES[entry.role]
            if entry.exact and entry.role is _Role.ALIAS:
                role = "exact-case alias"
            out.append(
                HitExplanation(
                    field=_FIELDS[hit.field],
                    start=hit.ostart,
                    end=hit.oend,
                    text=self.found(hit),
                    target=entry.target_id,
                    target_kind="actor" if entry.role in (_Role.ALIAS, _Role.NOT_NEAR) else "topic",
                    role=role,
                    phrase=entry.pattern.phrase,
                    kept=verdict.kept,
                    rule=self._kept_rule(hit) if verdict is _KEPT_BY_ALIAS else verdict.rule,
                )
            )
        return tuple(out)


def _overlaps(a: _Hit, b: _Hit) -> bool:
    return a.field == b.field and a.ostart < b.oend and b.ostart < a.oend


_BY_END = operator.attrgetter("oend")
_BY_PLACE = operator.attrgetter("field", "ostart")


def _outermost(hits: list[_Hit]) -> list[_Hit]:
    """Hits sorted by place, without those inside a longer hit of the same target."""
    # by (field, ostart, -oend), ties in scan order: two stable sorts with C key functions, not one lambda
    hits = sorted(hits, key=_BY_END, reverse=True)
    hits.sort(key=_BY_PLACE)
    reach: tuple[dict[int, int], dict[int, int]] = ({}, {})  # per field: furthest end so far per group
    out: list[_Hit] = []
    for hit in hits:
        field_reach = reach[hit.field]
        group = hit.entry.group
        if field_reach.get(group, -1) >= hit.oend:
            continue
        field_reach[group] = hit.oend
        out.append(hit)
    return out


def _sentence_bounds(text: str) -> list[int]:
    """Offsets where a new sentence starts (after . ! ? … that is not an abbreviation, and at line breaks)."""
    bounds: list[int] = []
    for m in _SENTENCE_END.finditer(text):
        if m.group() != "\n" and m.group()[0] == "." and len(m.group().rstrip("\"'”’»)]")) == 1:
            last = _LAST_WORD.search(text, max(0, m.start() - 20), m.start())
            if last and (
                len(last.group(1)) == 1 or "." in last.group(1) or fold(last.group(1)) in _ABBREVIATIONS
            ):
                continue
            rest = text[m.end() :].lstrip()
            if rest[:1].islower():
                continue
        bounds.append(m.end())
    return bounds


# ---------------------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------------------

_CACHE_SIZE = 8
_cache: dict[int, tuple[Watchlist, CompiledWatchlist]] = {}
_cache_lock = threading.Lock()


def _compiled(watchlist_or_compiled: Watchlist | CompiledWatchlist) -> CompiledWatchlist:
    if isinstance(watchlist_or_compiled, CompiledWatchlist):
        return watchlist_or_compiled
    key = id(watchlist_or_compiled)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] is watchlist_or_compiled:
            return cached[1]
    compiled = compile_watchlist(watchlist_or_compiled)
    with _cache_lock:
        while len(_cache) >= _CACHE_SIZE:
            del _cache[next(iter(_cache))]
        _cache[key] = (watchlist_or_compiled, compiled)
    return compiled


def match_watchlist(item: Item, compiled: CompiledWatchlist | Watchlist) -> Match:
    """What the item's title and summary name: actor and topic ids, a score in [0, 1] and the kept spans."""
    watchlist = _compiled(compiled)
    mts, hits = _scan_item(item, watchlist)
    if not hits:
        return _NO_MATCH  # most items: no rule to run, so no per-item state to build
    return _ItemAnalysis(item, watchlist, mts, hits).match()


def explain_match(item: Item, compiled: CompiledWatchlist | Watchlist) -> tuple[HitExplanation, ...]:
    """Every alias and phrase hit in the item with the rule that kept or vetoed it, in text order."""
    watchlist = _compiled(compiled)
    mts, hits = _scan_item(item, watchlist)
    return _ItemAnalysis(item, watchlist, mts, hits).explanations()
