"""Generated text for the benchmarks: a reference-like watchlist, synthetic watchlists and news articles.

Everything here is a pure function of a seed, so every figure can be reproduced. The reference-like
watchlist mirrors the shape of a real one (states, organisations and officials with English and Cyrillic
aliases, ``*`` word endings, exact-case acronyms, ``not_near`` homonym guards, six topics); the article
writer produces diplomatic reports that name those actors and topics, everyday news that names none of
them, and a few homonym traps (the bird turkey, the US state of Georgia).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from feeds.models import Actor, ActorKind, Item, Topic, Watchlist

Language = Literal["en", "ru"]
ArticleKind = Literal["diplomatic", "everyday", "homonym"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorSpec:
    """A tracked actor and the surface forms the article writer uses to name it."""

    id: str
    name: str
    kind: ActorKind
    aliases: tuple[str, ...]
    exact_case: tuple[str, ...] = ()
    not_near: tuple[str, ...] = ()
    mentions_en: tuple[str, ...]
    mentions_ru: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSpec:
    """A tracked topic and the noun phrases the article writer uses for it."""

    id: str
    name: str
    any: tuple[str, ...]
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    mentions_en: tuple[str, ...]
    mentions_ru: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    """One generated news article in plain text; feeds render it to HTML."""

    kind: ArticleKind
    language: Language
    title: str
    paragraphs: tuple[str, ...]


REFERENCE_ACTORS: tuple[ActorSpec, ...] = (
    ActorSpec(
        id="russia",
        name="Russia",
        kind="state",
        aliases=(
            "Russia",
            "Russian Federation",
            "Russian",
            "Kremlin",
            "Moscow",
            "Росси*",
            "Российск*",
            "Москв*",
            "Кремл*",
            "Росі*",
        ),
        mentions_en=("Russia", "Moscow", "the Kremlin", "Russian officials"),
        mentions_ru=("Россия", "России", "Москва", "Москве", "Кремль", "Кремле"),
    ),
    ActorSpec(
        id="ukraine",
        name="Ukraine",
        kind="state",
        aliases=("Ukraine", "Ukrainian", "Kyiv", "Kiev", "Украин*", "Україн*", "Киев*", "Київ*"),
        mentions_en=("Ukraine", "Kyiv", "Ukrainian negotiators"),
        mentions_ru=("Украина", "Украины", "Киев", "Киеве"),
    ),
    ActorSpec(
        id="usa",
        name="United States",
        kind="state",
        aliases=(
            "United States",
            "American",
            "Washington",
            "White House",
            "State Department",
            "США",
            "Вашингтон*",
        ),
        exact_case=("US", "USA", "U.S."),
        not_near=("George Washington", "Washington Post", "Washington state", "University of Washington"),
        mentions_en=("the United States", "Washington", "the White House", "US officials"),
        mentions_ru=("США", "Вашингтон", "Вашингтоне", "Белый дом"),
    ),
    ActorSpec(
        id="china",
        name="China",
        kind="state",
        aliases=("China", "Chinese", "Beijing", "PRC", "Кита*", "Пекин*"),
        mentions_en=("China", "Beijing", "Chinese diplomats"),
        mentions_ru=("Китай", "Китая", "Пекин", "Пекине"),
    ),
    ActorSpec(
        id="turkey",
        name="Turkey",
        kind="state",
        aliases=("Turkey", "Türkiye", "Turkish", "Ankara", "Istanbul", "Турци*", "Анкар*", "Стамбул*"),
        not_near=("thanksgiving", "roast", "stuffing", "gravy", "turkey farm", "cold turkey"),
        mentions_en=("Türkiye", "Ankara", "Turkish officials", "Istanbul"),
        mentions_ru=("Турция", "Турции", "Анкара", "Стамбуле"),
    ),
    ActorSpec(
        id="georgia",
        name="Georgia",
        kind="state",
        aliases=("Georgia", "Georgian", "Tbilisi", "Грузи*", "Тбилиси"),
        not_near=(
            "Atlanta",
            "Savannah",
            "Georgia Tech",
            "University of Georgia",
            "Georgia voters",
            "state of Georgia",
        ),
        mentions_en=("Georgia", "Tbilisi", "the Georgian government"),
        mentions_ru=("Грузия", "Грузии", "Тбилиси"),
    ),
    ActorSpec(
        id="saudi-arabia",
        name="Saudi Arabia",
        kind="state",
        aliases=("Saudi Arabia", "Saudi", "Riyadh", "Jeddah", "Саудовск* Арави*", "Эр-Рияд*"),
        mentions_en=("Saudi Arabia", "Riyadh", "Saudi officials", "Jeddah"),
        mentions_ru=("Саудовская Аравия", "Саудовской Аравии", "Эр-Рияде"),
    ),
    ActorSpec(
        id="qatar",
        name="Qatar",
        kind="state",
        aliases=("Qatar", "Qatari", "Doha", "Катар", "Катара", "Катаре", "Доха", "Дохе"),
        mentions_en=("Qatar", "Doha", "Qatari mediators"),
        mentions_ru=("Катар", "Катара", "Дохе"),
    ),
    ActorSpec(
        id="france",
        name="France",
        kind="state",
        aliases=("France", "French", "Paris", "Elysee", "Élysée", "Франци*", "Париж*"),
        mentions_en=("France", "Paris", "the Élysée", "French diplomats"),
        mentions_ru=("Франция", "Франции", "Париж", "Париже"),
    ),
    ActorSpec(
        id="germany",
        name="Germany",
        kind="state",
        aliases=("Germany", "German", "Berlin", "Германи*", "Берлин*"),
        mentions_en=("Germany", "Berlin", "German officials"),
        mentions_ru=("Германия", "Германии", "Берлин", "Берлине"),
    ),
    ActorSpec(
        id="iran",
        name="Iran",
        kind="state",
        aliases=("Iran", "Iranian", "Tehran", "Иран*", "Тегеран*"),
        mentions_en=("Iran", "Tehran", "Iranian negotiators"),
        mentions_ru=("Иран", "Ирана", "Тегеран", "Тегеране"),
    ),
    ActorSpec(
        id="belarus",
        name="Belarus",
        kind="state",
        aliases=("Belarus", "Belarusian", "Minsk", "Беларус*", "Белорусси*", "Минск*"),
        mentions_en=("Belarus", "Minsk"),
        mentions_ru=("Белоруссия", "Белоруссии", "Минск", "Минске"),
    ),
    ActorSpec(
        id="eu",
        name="European Union",
        kind="org",
        aliases=("European Union", "European Commission", "Brussels", "Евросоюз*"),
        exact_case=("EU", "ЕС"),
        mentions_en=("the European Union", "Brussels", "EU foreign ministers", "the European Commission"),
        mentions_ru=("Евросоюз", "Евросоюза", "ЕС"),
    ),
    ActorSpec(
        id="un",
        name="United Nations",
        kind="org",
        aliases=("United Nations", "Security Council", "UN General Assembly", "ООН"),
        exact_case=("UN", "U.N."),
        mentions_en=("the United Nations", "the UN Security Council", "UN envoys"),
        mentions_ru=("ООН", "Совбез ООН"),
    ),
    ActorSpec(
        id="nato",
        name="NATO",
        kind="org",
        aliases=("North Atlantic Treaty Organization", "НАТО"),
        exact_case=("NATO", "Nato"),
        mentions_en=("NATO", "NATO allies"),
        mentions_ru=("НАТО",),
    ),
    ActorSpec(
        id="putin",
        name="Vladimir Putin",
        kind="person",
        aliases=("Vladimir Putin", "Putin", "Владимир Путин", "Путин*", "Путін*"),
        mentions_en=("Vladimir Putin", "President Vladimir Putin", "Putin"),
        mentions_ru=("Владимир Путин", "Путин", "Путина", "Путиным"),
    ),
    ActorSpec(
        id="zelensky",
        name="Volodymyr Zelensky",
        kind="person",
        aliases=("Volodymyr Zelensky", "Zelensky", "Zelenskyy", "Зеленск*", "Зеленськ*"),
        mentions_en=("Volodymyr Zelensky", "President Zelensky", "Zelenskyy"),
        mentions_ru=("Владимир Зеленский", "Зеленский", "Зеленского"),
    ),
    ActorSpec(
        id="trump",
        name="Donald Trump",
        kind="person",
        aliases=("Donald Trump", "Trump", "Дональд Трамп", "Трамп*"),
        not_near=("Melania Trump", "Trump Tower", "Trump Jr"),
        mentions_en=("Donald Trump", "President Trump", "Trump"),
        mentions_ru=("Дональд Трамп", "Трамп", "Трампа"),
    ),
    ActorSpec(
        id="lavrov",
        name="Sergey Lavrov",
        kind="person",
        aliases=("Sergey Lavrov", "Sergei Lavrov", "Lavrov", "Сергей Лавров", "Лавров*"),
        mentions_en=("Sergei Lavrov", "Foreign Minister Sergei Lavrov", "Lavrov"),
        mentions_ru=("Сергей Лавров", "Лавров", "Лаврова"),
    ),
    ActorSpec(
        id="rubio",
        name="Marco Rubio",
        kind="person",
        aliases=("Marco Rubio", "Rubio", "Марко Рубио", "Рубио"),
        mentions_en=("Marco Rubio", "Secretary of State Marco Rubio", "Rubio"),
        mentions_ru=("Марко Рубио", "Рубио"),
    ),
    ActorSpec(
        id="macron",
        name="Emmanuel Macron",
        kind="person",
        aliases=("Emmanuel Macron", "Macron", "Эммануэль Макрон", "Макрон*"),
        mentions_en=("Emmanuel Macron", "President Macron", "Macron"),
        mentions_ru=("Эммануэль Макрон", "Макрон", "Макрона"),
    ),
    ActorSpec(
        id="xi",
        name="Xi Jinping",
        kind="person",
        aliases=("Xi Jinping", "Си Цзиньпин*"),
        exact_case=("Xi",),
        mentions_en=("Xi Jinping", "President Xi Jinping", "Xi"),
        mentions_ru=("Си Цзиньпин", "Си Цзиньпином"),
    ),
    ActorSpec(
        id="erdogan",
        name="Recep Tayyip Erdogan",
        kind="person",
        aliases=("Recep Tayyip Erdogan", "Erdogan", "Erdoğan", "Эрдоган*"),
        mentions_en=("Recep Tayyip Erdogan", "President Erdoğan", "Erdogan"),
        mentions_ru=("Реджеп Тайип Эрдоган", "Эрдоган", "Эрдогана"),
    ),
    ActorSpec(
        id="guterres",
        name="António Guterres",
        kind="person",
        aliases=("António Guterres", "Antonio Guterres", "Guterres", "Гутерриш*"),
        mentions_en=("António Guterres", "Secretary-General Guterres", "Guterres"),
        mentions_ru=("Антониу Гутерриш", "Гутерриш"),
    ),
    ActorSpec(
        id="witkoff",
        name="Steve Witkoff",
        kind="person",
        aliases=("Steve Witkoff", "Witkoff", "Стив Уиткофф", "Уиткофф*"),
        mentions_en=("Steve Witkoff", "envoy Steve Witkoff", "Witkoff"),
        mentions_ru=("Стив Уиткофф", "Уиткофф", "Уиткоффа"),
    ),
    ActorSpec(
        id="wang-yi",
        name="Wang Yi",
        kind="person",
        aliases=("Wang Yi", "Ван И"),
        mentions_en=("Wang Yi", "Foreign Minister Wang Yi"),
        mentions_ru=("Ван И",),
    ),
)

REFERENCE_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        id="peace-talks",
        name="Peace negotiations",
        any=(
            "peace talks",
            "peace negotiat*",
            "negotiat*",
            "peace plan",
            "peace deal",
            "ceasefire",
            "cease-fire",
            "truce",
            "переговор*",
            "урегулирован*",
            "перемири*",
        ),
        none=("wage negotiat*", "contract negotiat*", "trade negotiat*"),
        mentions_en=("peace talks", "ceasefire negotiations", "a peace plan", "truce proposals"),
        mentions_ru=("переговоры", "мирное урегулирование", "перемирие"),
    ),
    TopicSpec(
        id="summit",
        name="Summits and high-level meetings",
        any=(
            "summit",
            "bilateral meeting",
            "state visit",
            "held talks",
            "phone call",
            "met with",
            "саммит*",
            "встреч*",
            "визит*",
        ),
        mentions_en=("a summit", "a bilateral meeting", "a state visit", "a phone call"),
        mentions_ru=("саммит", "встреча", "визит"),
    ),
    TopicSpec(
        id="sanctions",
        name="Sanctions",
        any=("sanction*", "export controls", "asset freeze*", "embargo", "санкци*", "эмбарго"),
        mentions_en=("new sanctions", "export controls", "an asset freeze", "sanctions relief"),
        mentions_ru=("санкции", "новые санкции", "эмбарго"),
    ),
    TopicSpec(
        id="mediation",
        name="Mediation",
        any=("mediat*", "good offices", "host talks", "hosted talks", "facilitat* dialogue", "посредни*"),
        mentions_en=("mediation efforts", "an offer of good offices", "talks hosted by neutral states"),
        mentions_ru=("посредничество", "посреднические усилия"),
    ),
    TopicSpec(
        id="prisoner-exchange",
        name="Prisoner exchanges",
        any=(
            "prisoner exchange",
            "prisoner swap",
            "exchange of prisoners",
            "обмен* пленными",
            "обмен* заключенными",
        ),
        mentions_en=("a prisoner exchange", "a prisoner swap", "an exchange of prisoners"),
        mentions_ru=("обмен пленными", "обмена пленными"),
    ),
    TopicSpec(
        id="nuclear",
        name="Nuclear diplomacy",
        any=("talks", "inspection*", "enrichment", "переговор*", "инспекц*"),
        all=("nuclear", "ядерн*"),
        mentions_en=("talks on the nuclear programme", "nuclear inspections", "uranium enrichment limits"),
        mentions_ru=("переговоры по ядерной программе", "ядерные инспекции"),
    ),
)


def reference_watchlist() -> Watchlist:
    """The reference-like watchlist: 26 actors and 6 topics, English and Cyrillic."""
    return Watchlist(
        actors=tuple(
            Actor(
                id=a.id,
                name=a.name,
                kind=a.kind,
                aliases=a.aliases,
                exact_case_aliases=a.exact_case,
                not_near=a.not_near,
            )
            for a in REFERENCE_ACTORS
        ),
        topics=tuple(
            Topic(id=t.id, name=t.name, any=t.any, all=t.all, none=t.none) for t in REFERENCE_TOPICS
        ),
    )


def alias_count(watchlist: Watchlist) -> int:
    """Every phrase the automaton holds: actor aliases (both kinds) and topic phrases."""
    return sum(len(a.aliases) + len(a.exact_case_aliases) for a in watchlist.actors) + sum(
        len(t.any) + len(t.all) + len(t.none) for t in watchlist.topics
    )


# ---------------------------------------------------------------------------------------------------------
# Synthetic watchlists: many invented officials with Latin and Cyrillic names
# ---------------------------------------------------------------------------------------------------------

# Latin and Cyrillic forms of the same syllable, so each invented name has a plausible transliteration.
_SYLLABLES: tuple[tuple[str, str], ...] = (
    ("ka", "ка"),
    ("ro", "ро"),
    ("vel", "вел"),
    ("mir", "мир"),
    ("to", "то"),
    ("lan", "лан"),
    ("bor", "бор"),
    ("di", "ди"),
    ("sen", "сен"),
    ("gar", "гар"),
    ("nu", "ну"),
    ("pel", "пел"),
    ("stra", "стра"),
    ("zo", "зо"),
    ("vi", "ви"),
    ("dan", "дан"),
    ("le", "ле"),
    ("mo", "мо"),
    ("tar", "тар"),
    ("ke", "ке"),
    ("ruz", "руз"),
    ("shen", "шен"),
    ("ba", "ба"),
    ("fi", "фи"),
    ("gol", "гол"),
    ("cher", "чер"),
    ("va", "ва"),
    ("ny", "ны"),
    ("pra", "пра"),
    ("dro", "дро"),
    ("lis", "лис"),
    ("ten", "тен"),
    ("zhu", "жу"),
    ("ma", "ма"),
    ("ner", "нер"),
    ("sko", "ско"),
    ("tu", "ту"),
    ("vor", "вор"),
    ("hal", "хал"),
    ("ri", "ри"),
)
_ENDINGS: tuple[tuple[str, str], ...] = (
    ("ov", "ов"),
    ("enko", "енко"),
    ("ski", "ский"),
    ("ian", "ян"),
    ("ic", "ич"),
    ("in", "ин"),
    ("ev", "ев"),
    ("ak", "ак"),
)
_FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("Anton", "Антон"),
    ("Boris", "Борис"),
    ("Daria", "Дарья"),
    ("Elena", "Елена"),
    ("Fedor", "Федор"),
    ("Galina", "Галина"),
    ("Igor", "Игорь"),
    ("Karina", "Карина"),
    ("Leonid", "Леонид"),
    ("Marta", "Марта"),
    ("Nikolai", "Николай"),
    ("Olga", "Ольга"),
    ("Pavel", "Павел"),
    ("Roman", "Роман"),
    ("Sofia", "София"),
    ("Taras", "Тарас"),
    ("Vera", "Вера"),
    ("Yuri", "Юрий"),
    ("Zoya", "Зоя"),
    ("Arkady", "Аркадий"),
)
_TOPIC_WORDS: tuple[tuple[str, str], ...] = (
    ("grain corridor", "зерновой коридор"),
    ("water treaty", "водный договор"),
    ("border demarcation", "демаркация границы"),
    ("transit fees", "транзитные сборы"),
    ("energy bridge", "энергомост"),
    ("fishing quotas", "квоты на вылов"),
    ("visa regime", "визовый режим"),
    ("pipeline route", "маршрут трубопровода"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticWatchlist:
    """A generated watchlist and, for its first actors, names to sprinkle into text so it finds hits."""

    watchlist: Watchlist
    aliases: int
    mentionable: tuple[str, ...]


def _surname(index: int) -> tuple[str, str]:
    # Mixed radix over syllables and endings: a distinct name for every index below ~500,000.
    n_syl, n_end = len(_SYLLABLES), len(_ENDINGS)
    first = _SYLLABLES[index % n_syl]
    second = _SYLLABLES[(index // n_syl) % n_syl]
    ending = _ENDINGS[(index // (n_syl * n_syl)) % n_end]
    third = (
        _SYLLABLES[(index // (n_syl * n_syl * n_end)) % n_syl] if index >= n_syl * n_syl * n_end else ("", "")
    )
    latin = (third[0] + first[0] + second[0] + ending[0]).capitalize()
    cyrillic = (third[1] + first[1] + second[1] + ending[1]).capitalize()
    return latin, cyrillic


def synthetic_watchlist(aliases: int, *, seed: int) -> SyntheticWatchlist:
    """About ``aliases`` phrases: invented officials (4 aliases each, some exact-case, some ``not_near``)
    and a topic for every 40 phrases; the same seed and size give the same watchlist."""
    # Seeded without the size: the first actors are the same in every size, so the same text hits them.
    rng = random.Random(f"{seed}:watchlist")
    topic_phrases = max(4, aliases // 10)
    actors: list[Actor] = []
    mentionable: list[str] = []
    remaining = aliases - topic_phrases
    index = 0
    while remaining > 0:
        surname, surname_cy = _surname(index)
        first, first_cy = _FIRST_NAMES[rng.randrange(len(_FIRST_NAMES))]
        names = (f"{first} {surname}", surname, f"{first_cy} {surname_cy}", f"{surname_cy}*")
        take = names[: min(4, remaining)]
        exact: tuple[str, ...] = ()
        if index % 7 == 3 and len(take) == 4:
            # An acronym-like exact-case alias replaces the plain surname on some actors.
            exact = (surname[:3].upper() + str(index % 10),)
            take = (take[0], take[2], take[3])
        not_near = (f"{surname} Street", f"{surname} Prize") if index % 11 == 5 else ()
        actors.append(
            Actor(
                id=f"p{index}",
                name=names[0],
                kind="person",
                aliases=take,
                exact_case_aliases=exact,
                not_near=not_near,
            )
        )
        if index < 10:
            mentionable.extend((names[0], names[2]))
        remaining -= len(take) + len(exact)
        index += 1
    topics: list[Topic] = []
    placed = 0
    t = 0
    while placed < topic_phrases:
        words = _TOPIC_WORDS[t % len(_TOPIC_WORDS)]
        surname, surname_cy = _surname(index + t)
        phrases = (
            f"{surname} {words[0]}",
            f"{words[0]} {surname}",
            f"{surname_cy} {words[1]}",
            f"{words[1]} {surname_cy}*",
        )
        take = phrases[: topic_phrases - placed]
        topics.append(Topic(id=f"t{t}", name=f"{surname} {words[0]}", any=take))
        placed += len(take)
        t += 1
    watchlist = Watchlist(actors=tuple(actors), topics=tuple(topics))
    return SyntheticWatchlist(
        watchlist=watchlist, aliases=alias_count(watchlist), mentionable=tuple(mentionable)
    )


# ---------------------------------------------------------------------------------------------------------
# Articles
# ---------------------------------------------------------------------------------------------------------

_DAYS_EN = (
    "on Monday",
    "on Tuesday",
    "on Wednesday",
    "on Thursday",
    "on Friday",
    "on Saturday",
    "on Sunday",
    "late on Thursday",
    "earlier this week",
    "this morning",
)
_WHEN_EN = (
    "next week",
    "in the coming days",
    "before the end of the month",
    "after the holidays",
    "once technical teams have met",
    "later this year",
)
_CITIES_EN = (
    "Geneva",
    "Vienna",
    "Oslo",
    "Helsinki",
    "Astana",
    "Muscat",
    "Baku",
    "Valletta",
    "Reykjavik",
    "Abu Dhabi",
    "Cairo",
    "Nairobi",
)
_REPORT_VERBS_EN = (
    "said",
    "told reporters",
    "said in a statement",
    "wrote on social media",
    "told state television",
)
_DIPLO_TITLES_EN = (
    "{A} and {B} agree to continue {T}",
    "{P} says {T} with {B} made progress",
    "{A} hosts {T} as {B} signals readiness",
    "{P} meets {Q} in {C}, discusses {T}",
    "{B} rejects {A} proposal on {T}",
    "Diplomats in {C} prepare {T} between {A} and {B}",
    "{P} and {Q} hold {T} amid pressure from {A}",
    "What we know about {T} between {A} and {B}",
)
_DIPLO_SENTENCES_EN = (
    "{A} and {B} held {T} in {C} {D}, according to officials familiar with the schedule.",
    "{P} {V} that the {T} would continue {W}.",
    "Officials from {A} described {T} as constructive but said no agreement had been reached.",
    "{P} {V} that {A} was ready to discuss {T} with {B}.",
    "The statement followed a phone call between {P} and {Q}.",
    "Diplomats in {C} expect another round of {T} {W}.",
    "{B} has repeatedly said that any {T} must include guarantees for its security.",
    "A joint communiqué published after {T} listed {N} points on which both sides agreed.",
    "Analysts said the involvement of {A} raised expectations that {T} could finally move forward.",
    "{Q} is expected to brief {A} on the outcome of {T} {W}.",
)
_EVERYDAY_SUBJECTS_EN = (
    "The city council",
    "Regional health officials",
    "The national statistics office",
    "A group of shipbuilders",
    "Organisers of the spring festival",
    "The central bank",
    "Local farmers",
    "A team of researchers",
    "The football club",
    "The transport authority",
    "Schools in the northern district",
    "The energy regulator",
    "A coalition of retailers",
    "Firefighters",
    "The museum",
    "Hospital managers",
    "The weather service",
    "Residents of the old town",
    "The airport operator",
    "A chamber orchestra",
)
_EVERYDAY_VERBS_EN = (
    "approved",
    "announced",
    "published",
    "warned about",
    "postponed",
    "reported",
    "unveiled",
    "criticised",
    "welcomed",
    "reviewed",
    "outlined",
    "questioned",
)
_EVERYDAY_OBJECTS_EN = (
    "a plan to extend the tram network",
    "new figures on household spending",
    "a record harvest of wheat and barley",
    "changes to the parking rules",
    "a rise in electricity prices",
    "the timetable for the summer season",
    "a report on air quality",
    "a programme of free evening classes",
    "repairs to the river embankment",
    "plans for a new stadium",
    "results of the annual survey",
    "a shortage of qualified nurses",
    "the opening of a children's library",
    "the budget for road maintenance",
    "a heatwave warning",
    "a festival of independent film",
    "the restoration of a medieval bridge",
    "a strike by bus drivers",
)
_EVERYDAY_CLAUSES_EN = (
    "according to a statement",
    "citing rising costs",
    "after months of delays",
    "despite heavy rain",
    "in a vote of {N} to {M}",
    "with {N} per cent of respondents in favour",
    "for the first time since {Y}",
    "following complaints from residents",
    "as prices climbed for a third month",
)
_EVERYDAY_TITLES_EN = (
    "{S} {V2} {O}",
    "{S} {V2} {O} {X}",
    "Why {O} matters for the region",
    "{N} things to know about {O}",
)
_HOMONYM_EN = (
    (
        "How to roast a turkey that stays juicy",
        "Brining overnight and resting the turkey before carving matter more than any glaze. Make the gravy "
        "from the drippings and cook the stuffing separately for your Thanksgiving table.",
    ),
    (
        "Georgia voters head to the polls in Atlanta suburbs",
        "Turnout in the state of Georgia was high on Tuesday as voters around Atlanta and Savannah queued "
        "before the polls opened, county officials said.",
    ),
    (
        "Washington Post wins award for local reporting",
        "The Washington Post was recognised for a series on housing costs in the capital's suburbs.",
    ),
)

_DAYS_RU = (
    "в понедельник",
    "во вторник",
    "в среду",
    "в четверг",
    "в пятницу",
    "в выходные",
    "на этой неделе",
)
_WHEN_RU = ("на следующей неделе", "в ближайшие дни", "до конца месяца", "после праздников", "в этом году")
_CITIES_RU = ("Женеве", "Вене", "Стамбуле", "Астане", "Маскате", "Баку", "Каире", "Осло")
_DIPLO_TITLES_RU = (
    "{A} и {B} договорились продолжить {T}",
    "{P} заявил о прогрессе: {T} с участием {B}",
    "В {C} прошла встреча: {P} и {Q} обсудили {T}",
    "{B} отвергла предложение, {A} настаивает на {T}",
    "Что известно о том, как {A} и {B} ведут {T}",
)
_DIPLO_SENTENCES_RU = (
    "{A} и {B} провели {T} в {C} {D}, сообщили официальные лица.",
    "{P} заявил, что {T} продолжатся {W}.",
    "Представители стороны, которую представляет {A}, назвали {T} конструктивными.",
    "По словам {P}, {A} готова обсуждать {T} с {B}.",
    "Заявление последовало за телефонным разговором: {P} и {Q} обсудили ситуацию.",
    "Дипломаты в {C} ожидают нового раунда, {T} возобновятся {W}.",
    "В совместном коммюнике перечислены {N} пунктов, по которым стороны достигли согласия.",
)
_EVERYDAY_SUBJECTS_RU = (
    "Городские власти",
    "Региональный минздрав",
    "Центральный банк",
    "Фермеры области",
    "Музей истории города",
    "Транспортное управление",
    "Метеорологи",
    "Футбольный клуб",
    "Жители старого района",
    "Руководство аэропорта",
)
_EVERYDAY_VERBS_RU = (
    "объявили",
    "сообщили о том, что утвердили",
    "опубликовали",
    "отложили",
    "представили",
    "раскритиковали",
)
_EVERYDAY_OBJECTS_RU = (
    "план ремонта дорог",
    "новые данные о ценах на продукты",
    "рекордный урожай пшеницы",
    "расписание пригородных поездов",
    "программу бесплатных курсов",
    "проект нового стадиона",
    "отчет о качестве воздуха",
    "реконструкцию набережной",
    "бюджет на следующий год",
)
_EVERYDAY_CLAUSES_RU = (
    "несмотря на сильный дождь",
    "после многомесячных задержек",
    "ссылаясь на рост затрат",
    "впервые с {Y} года",
    "по итогам голосования {N} против {M}",
)


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    # random() is several times cheaper than randrange(); generation speed bounds the large benchmarks.
    return options[int(rng.random() * len(options))]


def _below(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low))


_STATES = tuple(a for a in REFERENCE_ACTORS if a.kind != "person")
_PEOPLE = tuple(a for a in REFERENCE_ACTORS if a.kind == "person")


def _two_of(rng: random.Random, actors: tuple[ActorSpec, ...]) -> tuple[ActorSpec, ActorSpec]:
    first = actors[int(rng.random() * len(actors))]
    second = first
    while second is first:
        second = actors[int(rng.random() * len(actors))]
    return first, second


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def write_article(
    rng: random.Random, *, kind: ArticleKind, language: Language, paragraphs: int = 2
) -> Article:
    """One article of ``kind`` in ``language`` with ``paragraphs`` paragraphs of 2-4 sentences."""
    if kind == "homonym" and language == "en":
        title, lead = _HOMONYM_EN[int(rng.random() * len(_HOMONYM_EN))]
        rest = tuple(_everyday_paragraph_en(rng) for _ in range(paragraphs - 1))
        return Article(kind=kind, language=language, title=title, paragraphs=(lead, *rest))
    if kind == "diplomatic":
        return _diplomatic(rng, language, paragraphs)
    if language == "ru":
        subject, verb = _pick(rng, _EVERYDAY_SUBJECTS_RU), _pick(rng, _EVERYDAY_VERBS_RU)
        title = f"{subject} {verb} {_pick(rng, _EVERYDAY_OBJECTS_RU)}"
        body = tuple(_everyday_paragraph_ru(rng) for _ in range(paragraphs))
        return Article(kind="everyday", language=language, title=title, paragraphs=body)
    values = _everyday_values(rng)
    title = _capitalise(_pick(rng, _EVERYDAY_TITLES_EN).format(**values))
    body = tuple(_everyday_paragraph_en(rng) for _ in range(paragraphs))
    return Article(kind="everyday", language=language, title=title, paragraphs=body)


def _everyday_values(rng: random.Random) -> dict[str, str]:
    return {
        "S": _pick(rng, _EVERYDAY_SUBJECTS_EN),
        "V2": _pick(rng, _EVERYDAY_VERBS_EN),
        "O": _pick(rng, _EVERYDAY_OBJECTS_EN),
        "X": _pick(rng, _EVERYDAY_CLAUSES_EN).format(
            N=_below(rng, 3, 95), M=_below(rng, 1, 30), Y=_below(rng, 1990, 2024)
        ),
        "N": str(_below(rng, 3, 12)),
    }


def _everyday_paragraph_en(rng: random.Random) -> str:
    sentences = []
    for _ in range(_below(rng, 2, 5)):
        clause = _pick(rng, _EVERYDAY_CLAUSES_EN).format(
            N=_below(rng, 3, 95), M=_below(rng, 1, 30), Y=_below(rng, 1990, 2024)
        )
        sentences.append(
            f"{_pick(rng, _EVERYDAY_SUBJECTS_EN)} {_pick(rng, _EVERYDAY_VERBS_EN)} "
            f"{_pick(rng, _EVERYDAY_OBJECTS_EN)} {_pick(rng, _DAYS_EN)}, {clause}."
        )
    return " ".join(sentences)


def _everyday_paragraph_ru(rng: random.Random) -> str:
    sentences = []
    for _ in range(_below(rng, 2, 5)):
        clause = _pick(rng, _EVERYDAY_CLAUSES_RU).format(
            N=_below(rng, 3, 95), M=_below(rng, 1, 30), Y=_below(rng, 1990, 2024)
        )
        sentences.append(
            f"{_pick(rng, _EVERYDAY_SUBJECTS_RU)} {_pick(rng, _EVERYDAY_VERBS_RU)} "
            f"{_pick(rng, _EVERYDAY_OBJECTS_RU)} {_pick(rng, _DAYS_RU)}, {clause}."
        )
    return " ".join(sentences)


def _diplomatic(rng: random.Random, language: Language, paragraphs: int) -> Article:
    state_a, state_b = _two_of(rng, _STATES)
    person_p, person_q = _two_of(rng, _PEOPLE)
    topic = REFERENCE_TOPICS[int(rng.random() * len(REFERENCE_TOPICS))]
    if language == "ru":
        values = {
            "A": _pick(rng, state_a.mentions_ru),
            "B": _pick(rng, state_b.mentions_ru),
            "P": _pick(rng, person_p.mentions_ru),
            "Q": _pick(rng, person_q.mentions_ru),
            "T": _pick(rng, topic.mentions_ru),
            "C": _pick(rng, _CITIES_RU),
            "D": _pick(rng, _DAYS_RU),
            "W": _pick(rng, _WHEN_RU),
            "N": str(_below(rng, 3, 20)),
        }
        title = _capitalise(_pick(rng, _DIPLO_TITLES_RU).format(**values))
        sentences: tuple[str, ...] = _DIPLO_SENTENCES_RU
    else:
        values = {
            "A": _pick(rng, state_a.mentions_en),
            "B": _pick(rng, state_b.mentions_en),
            "P": _pick(rng, person_p.mentions_en),
            "Q": _pick(rng, person_q.mentions_en),
            "T": _pick(rng, topic.mentions_en),
            "C": _pick(rng, _CITIES_EN),
            "D": _pick(rng, _DAYS_EN),
            "W": _pick(rng, _WHEN_EN),
            "V": _pick(rng, _REPORT_VERBS_EN),
            "N": str(_below(rng, 3, 20)),
        }
        title = _capitalise(_pick(rng, _DIPLO_TITLES_EN).format(**values))
        sentences = _DIPLO_SENTENCES_EN
    body = []
    for p in range(paragraphs):
        chosen = rng.sample(sentences, _below(rng, 2, 5))
        body.append(" ".join(_capitalise(sentence.format(**values)) for sentence in chosen))
        if p == 0 and language == "en" and rng.random() < 0.3:
            # Ordinary background in a diplomatic story, as real reports have.
            body.append(_everyday_paragraph_en(rng))
    return Article(kind="diplomatic", language=language, title=title, paragraphs=tuple(body[:paragraphs]))


def article_item(article: Article, *, url: str, source: str, published: datetime) -> Item:
    """A normalised Item for an article, as the parser gives it (title; paragraphs on their own lines)."""
    summary = "\n".join(article.paragraphs)
    # A plain digest: the generated text is already normalised, and feeds.normalize.content_hash would
    # double the cost of generating a million items.
    digest = hashlib.sha256(f"{article.title}\n{summary}".casefold().encode()).hexdigest()
    return Item(
        identity=f"url:{url}",
        guid=None,
        url=url,
        title=article.title,
        summary=summary,
        published=published,
        published_estimated=False,
        content_hash=digest,
        source=source,
        language=article.language,
    )
