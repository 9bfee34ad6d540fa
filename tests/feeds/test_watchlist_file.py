"""Watchlist TOML: the eval schema loads, mistakes are ConfigErrors naming the key path, dumps round-trip."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import ConfigError
from feeds.models import Actor, Topic, Watchlist
from feeds.textnorm import fold, is_word_char
from feeds.watchlist_file import dump_watchlist, load_watchlist, parse_watchlist

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
EVAL_WATCHLIST = SHARED / "eval" / "watchlist.toml"


def _actor(**overrides: object) -> dict[str, object]:
    table: dict[str, object] = {"id": "russia", "name": "Russia", "kind": "state", "aliases": ["Russia"]}
    table.update(overrides)
    return table


def _topic(**overrides: object) -> dict[str, object]:
    table: dict[str, object] = {"id": "sanctions", "name": "Sanctions", "any": ["sanction*"]}
    table.update(overrides)
    return table


def test_the_eval_watchlist_loads_as_written() -> None:
    if not EVAL_WATCHLIST.exists():
        pytest.skip(f"../shared not found: {EVAL_WATCHLIST}")
    watchlist = load_watchlist(EVAL_WATCHLIST)
    assert len(watchlist.actors) == 26 and len(watchlist.topics) == 6
    usa = watchlist.actor("usa")
    assert usa is not None and usa.exact_case_aliases == ("US", "USA") and "Washington Post" in usa.not_near
    putin = watchlist.actor("putin")
    assert putin is not None and "Путин*" in putin.aliases
    peace = watchlist.topic("peace-talks")
    assert peace is not None and "trade negotiat*" in peace.none
    assert parse_watchlist(tomllib.loads(dump_watchlist(watchlist)), origin="dump") == watchlist


def test_a_full_actor_and_topic_parse_into_the_domain_types() -> None:
    data = {
        "actors": [
            _actor(exact_case_aliases=["RF"], not_near=["Russia, Ohio"]),
            {"id": "putin", "name": "Vladimir Putin", "kind": "person", "aliases": [" Putin ", "Путин*"]},
        ],
        "topics": [_topic(all=["oil"], none=["league sanctions"])],
    }
    watchlist = parse_watchlist(data, origin="inline")
    assert watchlist == Watchlist(
        actors=(
            Actor(id="russia", name="Russia", kind="state", aliases=("Russia",), exact_case_aliases=("RF",),
                  not_near=("Russia, Ohio",)),
            Actor(id="putin", name="Vladimir Putin", kind="person", aliases=("Putin", "Путин*")),
        ),
        topics=(Topic(id="sanctions", name="Sanctions", any=("sanction*",), all=("oil",),
                      none=("league sanctions",)),),
    )  # fmt: skip


def test_an_empty_table_is_an_empty_watchlist() -> None:
    assert parse_watchlist({}, origin="x") == Watchlist()
    assert dump_watchlist(Watchlist()) == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"actor": []}, "unknown key 'actor' (did you mean 'actors'?)"),
        ({"feeds": []}, "unknown key 'feeds' (expected one of actors, topics)"),
        ({"actors": {"id": "a"}}, "actors: expected an array of tables ([[actors]]), got table"),
        ({"actors": ["russia"]}, "actors[0]: expected a table, got string"),
        (
            {"actors": [_actor(kind="country")]},
            "actors[0].kind: 'country' is not one of person, state, org, place",
        ),
        (
            {"actors": [_actor(), _actor(alias=["x"])]},
            "actors[1]: unknown key 'alias' (did you mean 'aliases'?)",
        ),
        ({"actors": [_actor(notnear=["x"])]}, "actors[0]: unknown key 'notnear' (did you mean 'not_near'?)"),
        ({"actors": [_actor(id="Russia")]}, "actors[0].id: 'Russia' must use only a-z, 0-9 and '-'"),
        ({"actors": [_actor(id="ru_ssia")]}, "actors[0].id: 'ru_ssia' must use only a-z, 0-9 and '-'"),
        ({"actors": [_actor(id=7)]}, "actors[0].id: expected a string, got integer"),
        ({"actors": [{"name": "R", "kind": "state", "aliases": ["R"]}]}, "actors[0].id: is required"),
        ({"actors": [_actor(name="  ")]}, "actors[0].name: must not be empty"),
        ({"actors": [_actor(aliases=["Russia", ""])]}, "actors[0].aliases[1]: empty phrase"),
        ({"actors": [_actor(aliases=["Russia", "  "])]}, "actors[0].aliases[1]: empty phrase"),
        (
            {"actors": [_actor(aliases="Russia")]},
            "actors[0].aliases: expected an array of strings, got string",
        ),
        ({"actors": [_actor(aliases=["Russia", 3])]}, "actors[0].aliases[1]: expected a string, got integer"),
        (
            {"actors": [_actor(aliases=["Russia", "Russia"])]},
            "actors[0].aliases[1]: 'Russia' is listed twice",
        ),
        ({"actors": [_actor(aliases=["--"])]}, "actors[0].aliases[0]: '--': has no letters or digits"),
        ({"actors": [_actor(aliases=["*"])]}, "actors[0].aliases[0]: '*': has no letters or digits"),
        ({"actors": [_actor(aliases=["*ssia"])]}, "actors[0].aliases[0]: '*ssia': '*' must follow a word"),
        (
            {"actors": [_actor(aliases=["Ru*ssia"])]},
            "actors[0].aliases[0]: 'Ru*ssia': '*' may only end a word",
        ),
        ({"actors": [_actor(aliases=[])]}, "actors[0]: actor 'russia' needs at least one of aliases"),
        ({"actors": [_actor(), _actor()]}, "actors[1].id: 'russia' is already used by actors[0]"),
        ({"topics": [_topic(any=[])]}, "topics[0].any: topic 'sanctions' needs at least one phrase in 'any'"),
        ({"topics": [_topic(nope=["x"])]}, "topics[0]: unknown key 'nope' (did you mean 'none'?)"),
        ({"topics": [_topic(), _topic()]}, "topics[1].id: 'sanctions' is already used by topics[0]"),
        ({"topics": [_topic(all=[""])]}, "topics[0].all[0]: empty phrase"),
    ],
)
def test_mistakes_are_config_errors_naming_the_key_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_watchlist(data, origin="x")
    assert str(raised.value).startswith("x: " + message)


def test_an_actor_and_a_topic_may_share_an_id() -> None:
    watchlist = parse_watchlist({"actors": [_actor(id="eu")], "topics": [_topic(id="eu")]}, origin="x")
    assert watchlist.actor("eu") is not None and watchlist.topic("eu") is not None


def test_load_reports_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="watchlist file not found"):
        load_watchlist(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[actors]]\nid = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_watchlist(broken)
    bad_kind = tmp_path / "kind.toml"
    bad_kind.write_text(
        '[[actors]]\nid = "x"\nname = "X"\nkind = "country"\naliases = ["X"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"kind\.toml: actors\[0\]\.kind: 'country' is not one of"):
        load_watchlist(bad_kind)


def test_dump_escapes_quotes_backslashes_controls_and_keeps_cyrillic_verbatim(tmp_path: Path) -> None:
    watchlist = Watchlist(
        actors=(
            Actor(
                id="odd-1",
                name='The "Odd" \\ Actor\twith\nlines \x7f\x01',
                kind="org",
                aliases=('Say "hi"', "back\\slash", "Путин*", "Київ*", "Zelensky’s", "🕊 ok", "tab\there"),
                exact_case_aliases=("U.N.",),
                not_near=("C:\\path", "'single'"),
            ),
        ),
        topics=(Topic(id="t", name="Тема «мир»", any=("мирн* план*",), all=('a "b"',), none=("x\\y",)),),
    )
    text = dump_watchlist(watchlist)
    assert "Путин*" in text and "«мир»" in text  # not \u-escaped
    assert '\\"Odd\\"' in text and "\\\\ Actor" in text and "\\t" in text and "\\n" in text
    path = tmp_path / "out.toml"
    path.write_text(text, encoding="utf-8")
    assert load_watchlist(path) == watchlist


def test_dump_leaves_out_empty_optional_lists() -> None:
    text = dump_watchlist(Watchlist(actors=(Actor(id="a", name="A", kind="place", aliases=("A",)),)))
    assert text == '[[actors]]\nid = "a"\nname = "A"\nkind = "place"\naliases = ["A"]\n'


_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
# a usable phrase has a letter or digit once folded (ʹ is a letter to isalnum() but folds to an apostrophe)
_WORDY = _TEXT.map(str.strip).filter(lambda s: any(is_word_char(c) for c in fold(s)) and "*" not in s)
_IDS = st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}", fullmatch=True)


@st.composite
def _watchlists(draw: st.DrawFn) -> Watchlist:
    actor_ids = draw(st.lists(_IDS, unique=True, max_size=3))
    topic_ids = draw(st.lists(_IDS, unique=True, max_size=2))
    phrases = st.lists(_WORDY, unique=True, max_size=3)
    actors = tuple(
        Actor(
            id=i,
            name=draw(_TEXT.map(str.strip).filter(bool)),
            kind=draw(st.sampled_from(("person", "state", "org", "place"))),
            aliases=tuple(draw(st.lists(_WORDY, unique=True, min_size=1, max_size=3))),
            exact_case_aliases=tuple(draw(phrases)),
            not_near=tuple(draw(phrases)),
        )
        for i in actor_ids
    )
    topics = tuple(
        Topic(
            id=i,
            name=draw(_TEXT.map(str.strip).filter(bool)),
            any=tuple(draw(st.lists(_WORDY, unique=True, min_size=1, max_size=3))),
            all=tuple(draw(phrases)),
            none=tuple(draw(phrases)),
        )
        for i in topic_ids
    )
    return Watchlist(actors=actors, topics=topics)


@settings(max_examples=150, deadline=None)
@given(_watchlists())
def test_dump_then_parse_round_trips_exactly(watchlist: Watchlist) -> None:
    assert parse_watchlist(tomllib.loads(dump_watchlist(watchlist)), origin="round trip") == watchlist
