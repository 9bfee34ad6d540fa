"""The command specs keep the rules the platform bindings rely on, and help is generated from them."""

from __future__ import annotations

import re

import pytest

from bot.commands import COMMANDS, CommandRunner, visible_commands
from bot.commands.help import help_reply
from feeds.errors import CommandError
from tests.bot.commands.conftest import USER

_DISCORD_NAME = re.compile(r"[a-z0-9_-]{1,32}")


def test_every_spec_fits_discord() -> None:
    top_level = {spec.path[0] for spec in COMMANDS}
    assert len(top_level) <= 25
    for spec in COMMANDS:
        assert 1 <= len(spec.path) <= 2, spec.name
        assert all(_DISCORD_NAME.fullmatch(part) for part in spec.path), spec.name
        assert len(spec.summary) <= 100, spec.name
        shown = [a for a in spec.args if not a.hidden]
        assert len(shown) <= 25
        requireds = [a.required for a in shown]
        assert requireds == sorted(requireds, reverse=True), f"{spec.name}: required options must come first"
        for arg in spec.args:
            assert _DISCORD_NAME.fullmatch(arg.name), f"{spec.name} {arg.name}"
            assert len(arg.help) <= 100, f"{spec.name} {arg.name}"
            assert not (arg.variadic and arg.rest), f"{spec.name} {arg.name}"
            assert (arg.kind == "choice") == bool(arg.choices), f"{spec.name} {arg.name}"
    # A one-word command may not share its name with a group (Discord refuses both at once).
    singles = {spec.path[0] for spec in COMMANDS if len(spec.path) == 1}
    groups = {spec.path[0] for spec in COMMANDS if len(spec.path) == 2}
    assert not singles & groups


def test_paths_and_aliases_are_unique() -> None:
    seen = [spec.path for spec in COMMANDS] + [alias for spec in COMMANDS for alias in spec.aliases]
    assert len(seen) == len(set(seen))


def test_option_types_and_autocomplete() -> None:
    search = next(s for s in COMMANDS if s.path == ("search",))
    kinds = {a.name: (a.option_type, a.autocomplete) for a in search.args}
    assert kinds["query"] == ("string", False)
    assert kinds["actor"] == ("string", True)
    assert kinds["offset"] == ("integer", False)


def test_help_lists_every_visible_command() -> None:
    reply = help_reply(None)
    text = reply.to_text()
    assert reply.kind == "help" and reply.ephemeral
    for spec in visible_commands():
        assert spec.usage() in text
    assert "more <token>" not in text
    assert 'Inside quotes write \\" for a quote' in text


def test_help_for_one_command() -> None:
    reply = help_reply("watch add-actor", public=True)
    assert reply.title == "/diplowatch watch add-actor"
    assert not reply.ephemeral
    assert "Usage: /diplowatch watch add-actor <name> [<kind>] [<aliases…>] [id:<str>]" in reply.lines
    kind = "kind (choice; optional; one of person, state, org, place)"
    assert any(line.startswith(kind) for line in reply.lines)
    assert "Admins only." in reply.lines
    assert any("/diplowatch watch add-actor \"Kaja Kallas\"" in line for line in reply.lines)


def test_help_for_a_group_and_an_alias() -> None:
    listed = {line.split(" ")[1] for line in help_reply("feeds").lines}
    assert listed == {"list", "add", "remove", "pause", "resume"}
    assert help_reply("feeds list").title == "/diplowatch feeds list"
    assert help_reply("import").title == "/diplowatch import …"
    assert help_reply("import preview").title == "/diplowatch import preview"


def test_help_for_an_unknown_command_suggests_one() -> None:
    with pytest.raises(CommandError, match="Did you mean `watchlist`"):
        help_reply("watchlst")


async def test_help_through_the_runner(runner: CommandRunner) -> None:
    reply = await runner.run_text(USER, "help search")
    assert reply.title == "/diplowatch search"
    assert "Usage: /diplowatch search <query…> [actor:<actor>] [topic:<topic>] [source:<str>] "\
           "[since:<duration>] [public:true]" in reply.lines
    empty = await runner.run_text(USER, "")
    assert empty.kind == "help" and empty.title.startswith("diplowatch commands")
