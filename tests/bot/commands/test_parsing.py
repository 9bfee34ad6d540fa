"""The text-line parser and the typed checking of arguments (pure functions, table-driven)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands.invocation import Invocation, RawArgument
from bot.commands.parsing import (
    LineReader,
    UsageError,
    bind,
    check_timezone_name,
    format_invocation,
    parse_duration_text,
    parse_line,
    split_words,
)
from bot.commands.specs import find_command
from feeds.errors import CommandError


def _args(invocation: Invocation) -> dict[str, object]:
    return {a.name: a.value for a in invocation.arguments}


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("a b  c", ("a", "b", "c")),
        ('"Kaja Kallas" person', ("Kaja Kallas", "person")),
        ("“Kaja Kallas” person", ("Kaja Kallas", "person")),
        ('say "a \\"quoted\\" word"', ("say", 'a "quoted" word')),
        ('back\\\\slash', ("back\\slash",)),
        ("C:\\path stays", ("C:\\path", "stays")),
        ("Côte d'Ivoire", ("Côte", "d'Ivoire")),
        ('key:"two words" x', ("key:two words", "x")),
        ('""', ("",)),
        ("   ", ()),
    ],
)
def test_split_words(line: str, words: tuple[str, ...]) -> None:
    assert split_words(line) == words


@pytest.mark.parametrize("line", ['watch add-actor "Kaja Kallas', 'a b"c d', "“open"])
def test_an_unbalanced_quote_is_a_clear_error(line: str) -> None:
    with pytest.raises(CommandError, match=r"unbalanced quote: the quote at character \d+ .* never closed"):
        split_words(line)


def test_a_quoted_word_remembers_it_was_quoted() -> None:
    reader = LineReader('"since:7d" since:7d')
    first, second = reader.next(), reader.next()
    assert first is not None and first.quoted and first.text == "since:7d"
    assert second is not None and not second.quoted and second.start == 11
    assert reader.next() is None


def test_add_actor_with_quotes_kind_and_aliases() -> None:
    invocation = parse_line('watch add-actor "Kaja Kallas" person "Kallas" "EU foreign chief"')
    assert invocation.path == ("watch", "add-actor")
    assert _args(invocation) == {
        "name": "Kaja Kallas", "kind": "person", "aliases": ("Kallas", "EU foreign chief")
    }


def test_an_optional_choice_may_be_left_out() -> None:
    invocation = parse_line('watch add-actor "Kaja Kallas" Kallas')
    assert _args(invocation) == {"name": "Kaja Kallas", "aliases": ("Kallas",)}


def test_a_misspelt_optional_choice_is_caught() -> None:
    with pytest.raises(UsageError, match="did you mean 'person'"):
        parse_line('watch add-actor "Kaja Kallas" persn Kallas')


def test_options_are_taken_out_wherever_they_stand() -> None:
    invocation = parse_line("search sanctions since:7d iran actor:lavrov public:true")
    assert _args(invocation) == {"since": "7d", "actor": "lavrov", "query": "sanctions iran"}
    assert invocation.public


def test_a_quoted_option_is_plain_text_and_unknown_keys_stay_words() -> None:
    invocation = parse_line('search "since:7d" re:visit https://example.org')
    assert _args(invocation) == {"query": "since:7d re:visit https://example.org"}


def test_a_misspelt_option_is_caught() -> None:
    with pytest.raises(UsageError, match="did you mean `since:`"):
        parse_line("search sanctions sinec:7d")


def test_an_option_given_twice_is_refused_unless_it_takes_several_values() -> None:
    with pytest.raises(UsageError, match="`since` is given twice"):
        parse_line("search x since:1d since:2d")
    invocation = parse_line('watch edit-topic sanctions any:sanction* any:"export ban"')
    assert _args(invocation) == {"any": ("sanction*", "export ban"), "topic": "sanctions"}


def test_public_is_only_for_look_ups() -> None:
    invocation = parse_line("watch remove public:true")
    assert _args(invocation) == {"target": "public:true"}
    assert not invocation.public


def test_too_many_arguments() -> None:
    with pytest.raises(UsageError, match="too many arguments: 'extra'") as caught:
        parse_line("import confirm abc extra")
    assert caught.value.usage == "import confirm <token>"


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("", ("help",)),
        ("feeds", ("feeds", "list")),
        ("FEEDS List", ("feeds", "list")),
        ("feeds add https://example.org/a.xml", ("feeds", "add")),
        ("import [[actors]]", ("import", "preview")),
        ("import confirm abc", ("import", "confirm")),
        ("import cancel abc", ("import", "cancel")),
        ("more t0k3n", ("more",)),
    ],
)
def test_command_paths_and_aliases(line: str, path: tuple[str, ...]) -> None:
    assert parse_line(line).path == path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("serch x", "unknown command `serch`. Did you mean `search`?"),
        ("watch ad-actor x",
         "`watch` takes one of add-actor, add-alias, add-topic, edit-topic, remove, remove-alias"),
        ("feeds bogus", "`feeds` takes one of add, list, pause, remove, resume"),
        ("frobnicate", "unknown command `frobnicate`. Try"),
    ],
)
def test_unknown_commands_get_a_hint(line: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_line(line)
    assert message in str(caught.value)


def test_import_takes_the_rest_of_the_line_verbatim() -> None:
    toml = '[[actors]]\nid = "kallas"\nname = "Kaja Kallas"\nkind = "person"\naliases = ["Kallas", \'x"y\']'
    invocation = parse_line(f"import {toml}")
    assert _args(invocation) == {"toml": toml}


def test_feeds_add_name_takes_the_remaining_words() -> None:
    invocation = parse_line("feeds add https://example.org/world.xml Example World interval:15m")
    spec = find_command(invocation.path)
    assert spec is not None
    args = bind(spec, invocation)
    assert args.text("url") == "https://example.org/world.xml"
    assert args.optional_text("name") == "Example World"
    assert args.optional_int("interval") == 900


def test_subscribe_lists_split_on_commas_and_cron_keeps_its_spaces() -> None:
    invocation = parse_line('subscribe actors:lavrov,un topics:* digest_cron:"0 8 * * 1-5" min_score:0.25')
    spec = find_command(invocation.path)
    assert spec is not None
    args = bind(spec, invocation)
    assert args.strings("actors") == ("lavrov", "un")
    assert args.strings("topics") == ("*",)
    assert args.optional_text("digest_cron") == "0 8 * * 1-5"
    assert args.optional_float("min_score") == 0.25


def test_bind_takes_discord_style_typed_values() -> None:
    spec = find_command(("watch", "add-actor"))
    assert spec is not None
    invocation = Invocation(
        path=spec.path,
        arguments=(
            RawArgument(name="name", value="Kaja Kallas"),
            RawArgument(name="kind", value="Person"),
            RawArgument(name="aliases", value='Kallas "EU foreign chief"'),
        ),
    )
    args = bind(spec, invocation)
    assert args.optional_text("kind") == "person"
    assert args.strings("aliases") == ("Kallas", "EU foreign chief")
    audit = find_command(("audit",))
    assert audit is not None
    assert bind(audit, Invocation(path=("audit",), arguments=(RawArgument(name="offset", value=20),))
                ).optional_int("offset") == 20


@pytest.mark.parametrize(
    ("path", "arguments", "message"),
    [
        (("watch", "add-actor"), (), "missing name"),
        (("watch", "add-actor"), (("name", "   "),), "name must not be empty"),
        (("watch", "add-actor"), (("name", "x" * 101),), "name is longer than 100 characters"),
        (("watch", "add-actor"), (("name", "X"), ("kind", "planet")), "kind 'planet' is not one of"),
        (("watch", "add-actor"), (("name", "X"), ("aliases", tuple(f"a{i}" for i in range(51)))),
         "aliases: at most 50 values, got 51"),
        (("subscribe",), (("min_score", "1.5"),), "min_score must be between 0 and 1, not 1.5"),
        (("subscribe",), (("min_score", "lots"),), "min_score must be a number"),
        (("subscribe",), (("digest_cron", "0 8 * *"),), "is not a 5-field cron expression"),
        (("subscribe",), (("timezone", "Europe/Berln"),), "did you mean 'Europe/Berlin'"),
        (("search",), (("query", "x"), ("since", "7 days")), "is not a duration"),
        (("audit",), (("offset", -1),), "offset must be between 0 and 10000"),
        (("audit",), (("offset", "two"),), "offset must be a whole number"),
        (("audit",), (("bogus", "1"),), "`audit` has no option `bogus`"),
        (("feeds", "add"), (("url", "ftp://example.org/feed"),), "not an http(s) URL"),
        (("feeds", "add"), (("url", "http://2130706433/feed"),), "numeric host"),
        (("watch", "add-alias"), (("actor", "lavrov"), ("alias", "x"), ("exact", "maybe")),
         "exact must be true or false"),
    ],
)
def test_bind_errors(path: tuple[str, ...], arguments: tuple[tuple[str, object], ...], message: str) -> None:
    spec = find_command(path)
    assert spec is not None
    invocation = Invocation(path=path, arguments=tuple(RawArgument(name=n, value=v) for n, v in arguments))  # type: ignore[arg-type]
    with pytest.raises(CommandError) as caught:
        bind(spec, invocation)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1w", 604800), ("1h30m", 5400),
     ("1H 5M", 3900)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration_text(text, name="since") == seconds


@pytest.mark.parametrize("text", ["7", "d", "7x", "-1d", "1d-", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(CommandError, match="is not a duration"):
        parse_duration_text(text, name="since")


def test_timezones_are_matched_case_insensitively() -> None:
    assert check_timezone_name("europe/berlin") == "Europe/Berlin"
    assert check_timezone_name("UTC") == "UTC"
    with pytest.raises(CommandError, match="not a known timezone"):
        check_timezone_name("Mars/Olympus")


def test_slack_wrapped_links_are_unwrapped() -> None:
    invocation = parse_line("feeds add <https://example.org/a.xml|example.org/a.xml>")
    spec = find_command(invocation.path)
    assert spec is not None
    assert bind(spec, invocation).text("url") == "https://example.org/a.xml"


_VALUE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and " ".join(s.split()) == s
)


@given(query=_VALUE, source=_VALUE, offset=st.integers(min_value=0, max_value=10_000), public=st.booleans())
def test_format_invocation_round_trips(query: str, source: str, offset: int, public: bool) -> None:
    invocation = Invocation(
        path=("search",),
        arguments=(RawArgument(name="query", value=query), RawArgument(name="source", value=source),
                   RawArgument(name="offset", value=offset)),
        public=public,
    )
    again = parse_line(format_invocation(invocation))
    spec = find_command(("search",))
    assert spec is not None
    assert bind(spec, again) == bind(spec, invocation)
    assert again.public == public
