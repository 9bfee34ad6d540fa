"""Every command's typed argument spec: the one description both the text parser and the Discord binding use.

Discord binding: a spec with a one-word path is a subcommand of ``/diplowatch``, a two-word path a subcommand
of the group named by its first word. Each non-hidden argument becomes an option of the type its kind names
(``ARG_KIND_OPTION_TYPES``); variadic arguments become one string option whose text is split like a command
line; ``choices`` become fixed choices; actor, topic, feed and actor_or_topic arguments use autocomplete
(``CommandRunner.complete_choices(kind, typed)``); a ``text`` argument (pasted TOML) may also be offered as
a file attachment whose decoded text is passed. ``lookup`` commands get a boolean ``public`` option, passed
as ``Invocation.public``. Hidden commands (``more``) are not registered; buttons run them. Required arguments
come first in every spec, as Discord demands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from feeds.models import ActorKind

ArgKind = Literal[
    "str", "text", "int", "float", "bool", "choice", "actor", "topic", "actor_or_topic", "feed", "url",
    "duration", "cron", "timezone", "token",
]
OptionType = Literal["string", "integer", "number", "boolean"]

MAX_NAME_CHARS: Final = 100
MAX_ALIASES: Final = 50
MAX_PHRASES: Final = 50
MAX_QUERY_CHARS: Final = 300
MAX_TEXT_CHARS: Final = 200_000
ACTOR_KINDS: Final[tuple[ActorKind, ...]] = ("person", "state", "org", "place")
MODES: Final = ("alert", "digest", "both")

# The Discord option type each kind is declared with (everything else is typed text checked here).
ARG_KIND_OPTION_TYPES: Final[dict[ArgKind, OptionType]] = {
    "int": "integer", "float": "number", "bool": "boolean",
}
AUTOCOMPLETE_KINDS: Final[frozenset[ArgKind]] = frozenset({"actor", "topic", "actor_or_topic", "feed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgSpec:
    """One argument: its name, kind and how it may be given.

    ``variadic``: several values (text: the remaining words). ``rest``: the remaining words joined into one
    value (kind ``text``: the rest of the line verbatim). ``positional=False``: only as ``name:value``.
    ``hidden``: left out of help and of the Discord options (paging offsets).
    """

    name: str
    kind: ArgKind
    help: str
    required: bool = False
    variadic: bool = False
    rest: bool = False
    positional: bool = True
    hidden: bool = False
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    max_length: int = MAX_NAME_CHARS
    max_count: int = MAX_PHRASES

    @property
    def option_type(self) -> OptionType:
        """The Discord option type to declare."""
        return ARG_KIND_OPTION_TYPES.get(self.kind, "string")

    @property
    def autocomplete(self) -> bool:
        """True when the option's values come from the watchlist or the feeds (``complete(kind, prefix)``)."""
        return self.kind in AUTOCOMPLETE_KINDS

    def usage(self) -> str:
        """How the argument is written in a usage line."""
        many = "…" if self.variadic or (self.rest and self.kind != "text") else ""
        if self.positional:
            shown = f"<{self.name}{many}>"
        else:
            hint = "|".join(self.choices) if self.choices else self.kind
            shown = f"{self.name}:<{hint}{many}>"
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    """One command: its path after ``/diplowatch``, arguments, who may run it and how to describe it.

    ``lookup`` commands accept ``public:true`` (answers are private by default); ``admin`` commands are
    refused unless the context says the user is an admin. ``aliases`` are extra paths the text parser
    accepts (``feeds`` for ``feeds list``).
    """

    path: tuple[str, ...]
    summary: str
    args: tuple[ArgSpec, ...] = ()
    admin: bool = False
    lookup: bool = False
    hidden: bool = False
    aliases: tuple[tuple[str, ...], ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The command as typed, e.g. ``watch add-actor``."""
        return " ".join(self.path)

    def arg(self, name: str) -> ArgSpec | None:
        """The argument called ``name``, if the command has one."""
        return next((a for a in self.args if a.name == name), None)

    def usage(self) -> str:
        """The usage line, e.g. ``feeds add <url> [<name…>] [interval:<duration>]``."""
        parts = [self.name, *(a.usage() for a in self.args if not a.hidden)]
        if self.lookup:
            parts.append("[public:true]")
        return " ".join(parts)


_OFFSET = ArgSpec(name="offset", kind="int", help="results to skip (paging)", positional=False, hidden=True,
                  min_value=0, max_value=10_000)

COMMANDS: Final[tuple[CommandSpec, ...]] = (
    CommandSpec(
        path=("search",),
        summary="Full-text search over stored items, one line per story with its sources.",
        args=(
            ArgSpec(name="query", kind="str", help="words to find (word* finds a prefix)", required=True,
                    rest=True, max_length=MAX_QUERY_CHARS),
            ArgSpec(name="actor", kind="actor", help="only items naming this actor", positional=False),
            ArgSpec(name="topic", kind="topic", help="only items about this topic", positional=False),
            ArgSpec(name="source", kind="str", help="only items from this outlet or feed", positional=False),
            ArgSpec(name="since", kind="duration", help="only items published in the last 7d, 12h, …",
                    positional=False),
            _OFFSET,
        ),
        lookup=True,
        examples=('search sanctions iran since:7d', 'search "peace talks" actor:lavrov public:true'),
    ),
    CommandSpec(
        path=("actor",),
        summary="An actor's recent stories and mentions per day over 14 days.",
        args=(ArgSpec(name="name", kind="actor", help="actor id, name or alias", required=True, rest=True),),
        lookup=True,
        examples=("actor lavrov", "actor Kaja Kallas"),
    ),
    CommandSpec(
        path=("topic",),
        summary="A topic's recent stories and mentions per day over 14 days.",
        args=(ArgSpec(name="name", kind="topic", help="topic id or name", required=True, rest=True),),
        lookup=True,
        examples=("topic sanctions",),
    ),
    CommandSpec(
        path=("digest",),
        summary="A preview of this channel's next digest (stories since its last digest).",
        lookup=True,
    ),
    CommandSpec(
        path=("feeds", "list"),
        summary="Feeds with their health: last success, last error, items per day.",
        args=(_OFFSET,),
        lookup=True,
        aliases=(("feeds",),),
    ),
    CommandSpec(
        path=("watchlist",),
        summary="Tracked actors with their aliases and topics with their phrases.",
        args=(_OFFSET,),
        lookup=True,
    ),
    CommandSpec(path=("status",), summary="What the bot tracks and how healthy it is.", lookup=True),
    CommandSpec(
        path=("help",),
        summary="List the commands, or explain one.",
        args=(ArgSpec(name="command", kind="str", help="a command, e.g. watch add-actor", rest=True),),
        lookup=True,
        examples=("help", "help watch add-actor"),
    ),
    CommandSpec(
        path=("more",),
        summary="The next page of an earlier answer.",
        args=(ArgSpec(name="token", kind="token", help="the token the earlier answer gave", required=True),),
        hidden=True,
    ),
    CommandSpec(
        path=("watch", "add-actor"),
        summary="Track a new actor; its name is also an alias.",
        args=(
            ArgSpec(name="name", kind="str", help="display name", required=True),
            ArgSpec(name="kind", kind="choice", help="what the actor is (default person)",
                    choices=ACTOR_KINDS),
            ArgSpec(name="aliases", kind="str", help="other names it appears under", variadic=True,
                    max_count=MAX_ALIASES),
            ArgSpec(name="id", kind="str", help="id to use instead of one made from the name",
                    positional=False, max_length=64),
        ),
        admin=True,
        examples=('watch add-actor "Kaja Kallas" person "Kallas" "EU foreign policy chief"',),
    ),
    CommandSpec(
        path=("watch", "add-alias"),
        summary="Add an alias to a tracked actor.",
        args=(
            ArgSpec(name="actor", kind="actor", help="actor id or name", required=True),
            ArgSpec(name="alias", kind="str", help="the new alias", required=True, rest=True),
            ArgSpec(name="exact", kind="bool", help="match only with this exact capitalisation",
                    positional=False),
        ),
        admin=True,
        examples=('watch add-alias kallas "Kaja Kallas"', "watch add-alias us US exact:true"),
    ),
    CommandSpec(
        path=("watch", "remove-alias"),
        summary="Remove an alias from a tracked actor.",
        args=(
            ArgSpec(name="actor", kind="actor", help="actor id or name", required=True),
            ArgSpec(name="alias", kind="str", help="the alias to remove", required=True, rest=True),
        ),
        admin=True,
        examples=('watch remove-alias lavrov "Sergei Lavrov"',),
    ),
    CommandSpec(
        path=("watch", "remove"),
        summary="Stop tracking an actor or a topic (write actor:<id> or topic:<id> if both share a name).",
        args=(ArgSpec(name="target", kind="actor_or_topic", help="actor or topic id or name", required=True,
                      rest=True),),
        admin=True,
        examples=("watch remove lavrov", "watch remove topic:sanctions"),
    ),
    CommandSpec(
        path=("watch", "add-topic"),
        summary="Track a new topic: an item is about it when it has any of the phrases.",
        args=(
            ArgSpec(name="name", kind="str", help="display name", required=True),
            ArgSpec(name="phrases", kind="str", help="phrases, any of which marks the topic (word* for a "
                    "prefix)", required=True, variadic=True),
            ArgSpec(name="all", kind="str", help="phrases that must all be present too", variadic=True,
                    positional=False),
            ArgSpec(name="none", kind="str", help="phrases that rule the topic out", variadic=True,
                    positional=False),
            ArgSpec(name="id", kind="str", help="id to use instead of one made from the name",
                    positional=False, max_length=64),
        ),
        admin=True,
        examples=('watch add-topic "Arms control" "arms control" "nuclear treaty" none:"arms race game"',),
    ),
    CommandSpec(
        path=("watch", "edit-topic"),
        summary="Replace a topic's any/all/none phrase lists (a list given as - is emptied) or its name.",
        args=(
            ArgSpec(name="topic", kind="topic", help="topic id or name", required=True),
            ArgSpec(name="any", kind="str", help="new 'any' phrases", variadic=True, positional=False),
            ArgSpec(name="all", kind="str", help="new 'all' phrases (- for none)", variadic=True,
                    positional=False),
            ArgSpec(name="none", kind="str", help="new 'none' phrases (- for none)", variadic=True,
                    positional=False),
            ArgSpec(name="name", kind="str", help="new display name", positional=False),
        ),
        admin=True,
        examples=('watch edit-topic sanctions any:sanction* any:embargo none:-',),
    ),
    CommandSpec(
        path=("feeds", "add"),
        summary="Start polling a feed; it is fetched once now to check it.",
        args=(
            ArgSpec(name="url", kind="url", help="the RSS or Atom feed's http(s) URL", required=True,
                    max_length=2048),
            ArgSpec(name="name", kind="str", help="display name (default: the feed's title)", rest=True),
            ArgSpec(name="interval", kind="duration",
                    help="how often to poll, 30s to 7d (default from config)", positional=False),
        ),
        admin=True,
        examples=('feeds add https://example.org/world.rss "Example World" interval:15m',),
    ),
    CommandSpec(
        path=("feeds", "remove"),
        summary="Stop polling a feed and delete its items.",
        args=(ArgSpec(name="feed", kind="feed", help="feed number, name or URL", required=True, rest=True),),
        admin=True,
    ),
    CommandSpec(
        path=("feeds", "pause"),
        summary="Stop polling a feed for now (its items stay).",
        args=(ArgSpec(name="feed", kind="feed", help="feed number, name or URL", required=True, rest=True),),
        admin=True,
    ),
    CommandSpec(
        path=("feeds", "resume"),
        summary="Poll a paused feed again.",
        args=(ArgSpec(name="feed", kind="feed", help="feed number, name or URL", required=True, rest=True),),
        admin=True,
    ),
    CommandSpec(
        path=("subscribe",),
        summary="Subscribe this channel or change what it gets (options not given stay as they are).",
        args=(
            ArgSpec(name="actors", kind="actor", help="actor ids, or * for every actor", variadic=True,
                    positional=False, max_count=200),
            ArgSpec(name="topics", kind="topic", help="topic ids, or * for every topic", variadic=True,
                    positional=False, max_count=200),
            ArgSpec(name="mode", kind="choice", help="alerts, digests or both", choices=MODES,
                    positional=False),
            ArgSpec(name="min_score", kind="float", help="ignore stories scoring below this (0 to 1)",
                    positional=False, min_value=0.0, max_value=1.0),
            ArgSpec(name="digest_cron", kind="cron", help="when digests go out, e.g. '0 8 * * 1-5'",
                    positional=False),
            ArgSpec(name="timezone", kind="timezone", help="IANA timezone for the cron and quiet hours",
                    positional=False),
            ArgSpec(name="quiet_hours", kind="str", help="hold alerts in a window like 22:00-07:00, or off",
                    positional=False),
        ),
        admin=True,
        examples=('subscribe actors:lavrov,un topics:* mode:both digest_cron:"0 8 * * 1-5" '
                  "timezone:Europe/Berlin",),
    ),
    CommandSpec(path=("unsubscribe",), summary="Stop all alerts and digests in this channel.", admin=True),
    CommandSpec(path=("export",), summary="The watchlist as a TOML file.", admin=True),
    CommandSpec(
        path=("import", "preview"),
        summary="Replace the watchlist with a TOML one: shows the changes and asks to confirm.",
        args=(ArgSpec(name="toml", kind="text", help="the watchlist TOML (as export writes it)",
                      required=True, rest=True, max_length=MAX_TEXT_CHARS),),
        admin=True,
        aliases=(("import",),),
        examples=("import [[actors]] id = \"kallas\" …",),
    ),
    CommandSpec(
        path=("import", "confirm"),
        summary="Apply a previewed import.",
        args=(ArgSpec(name="token", kind="token", help="the token the preview gave", required=True),),
        admin=True,
    ),
    CommandSpec(
        path=("import", "cancel"),
        summary="Drop a previewed import without applying it.",
        args=(ArgSpec(name="token", kind="token", help="the token the preview gave", required=True),),
        admin=True,
    ),
    CommandSpec(
        path=("audit",),
        summary="Who changed what, when, from which platform.",
        args=(_OFFSET,),
        admin=True,
    ),
)


def find_command(path: tuple[str, ...]) -> CommandSpec | None:
    """The command with this path or alias."""
    for spec in COMMANDS:
        if spec.path == path or path in spec.aliases:
            return spec
    return None


def visible_commands() -> tuple[CommandSpec, ...]:
    """The commands help lists and platforms register."""
    return tuple(spec for spec in COMMANDS if not spec.hidden)
