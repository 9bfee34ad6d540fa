"""Finding the actor, topic or feed a user means (id, name, alias, number or URL) and checking new names."""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal, TypeVar

from bot.commands.specs import MAX_NAME_CHARS
from feeds.errors import CommandError, ConfigError, FetchError
from feeds.fetch import check_feed_url
from feeds.models import Actor, FeedState, Topic, Watchlist
from feeds.textnorm import fold
from feeds.watchlist_file import dump_watchlist, parse_watchlist

_ID: Final = re.compile(r"[a-z0-9-]+")
_MAX_ID_CHARS: Final = 64
_FEED_NUMBER: Final = re.compile(r"#?(\d+)")
E = TypeVar("E", Actor, Topic)


def _did_you_mean(text: str, candidates: Iterable[str]) -> str:
    options = sorted(set(candidates))
    by_fold = {c.casefold(): c for c in options}
    close = difflib.get_close_matches(text.casefold(), list(by_fold), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"`{by_fold[c]}`" for c in close) + "?"


def resolve_actor(watchlist: Watchlist, text: str) -> Actor:
    """The tracked actor with this id, name or alias (case-insensitive); CommandError with a did-you-mean."""
    found = _find(watchlist.actors, text, lambda a: (*a.aliases, *a.exact_case_aliases))
    if found is not None:
        return found
    names = [a.id for a in watchlist.actors] + [a.name for a in watchlist.actors]
    raise CommandError(f"no tracked actor is called {text!r}.{_did_you_mean(text, names)}")


def resolve_topic(watchlist: Watchlist, text: str) -> Topic:
    """The tracked topic with this id or name (case-insensitive); CommandError with a did-you-mean."""
    found = _find(watchlist.topics, text, lambda t: ())
    if found is not None:
        return found
    names = [t.id for t in watchlist.topics] + [t.name for t in watchlist.topics]
    raise CommandError(f"no tracked topic is called {text!r}.{_did_you_mean(text, names)}")


def resolve_actor_or_topic(watchlist: Watchlist, text: str) -> Actor | Topic:
    """An actor or a topic; ``actor:<x>`` or ``topic:<x>`` says which when both answer to the name."""
    prefix, _, rest = text.partition(":")
    if rest and prefix.casefold() == "actor":
        return resolve_actor(watchlist, rest.strip())
    if rest and prefix.casefold() == "topic":
        return resolve_topic(watchlist, rest.strip())
    actor = _find(watchlist.actors, text, lambda a: (*a.aliases, *a.exact_case_aliases))
    topic = _find(watchlist.topics, text, lambda t: ())
    if actor is not None and topic is not None:
        raise CommandError(
            f"both actor {actor.id!r} and topic {topic.id!r} answer to {text!r}: "
            f"write actor:{actor.id} or topic:{topic.id}"
        )
    if actor is not None:
        return actor
    if topic is not None:
        return topic
    names = [a.id for a in watchlist.actors] + [a.name for a in watchlist.actors]
    names += [t.id for t in watchlist.topics] + [t.name for t in watchlist.topics]
    raise CommandError(f"no tracked actor or topic is called {text!r}.{_did_you_mean(text, names)}")


def _find(entries: Sequence[E], text: str, aliases: Callable[[E], tuple[str, ...]]) -> E | None:
    wanted = text.strip().casefold()
    by_id = next((e for e in entries if e.id.casefold() == wanted), None)
    if by_id is not None:
        return by_id
    by_name = next((e for e in entries if e.name.casefold() == wanted), None)
    if by_name is not None:
        return by_name
    folded = fold(text.strip())
    hits = [e for e in entries if any(fold(a) == folded for a in aliases(e))]
    if len(hits) > 1:
        ids = ", ".join(e.id for e in hits)
        raise CommandError(f"{text!r} is an alias of several actors: {ids}; use an id")
    return hits[0] if hits else None


def resolve_feed(feeds: Sequence[FeedState], text: str) -> FeedState:
    """The feed with this number (``3`` or ``#3``), URL or name (case-insensitive)."""
    wanted = text.strip()
    number = _FEED_NUMBER.fullmatch(wanted)
    if number is not None:
        found = next((f for f in feeds if f.id == int(number[1])), None)
        if found is not None:
            return found
        raise CommandError(f"there is no feed number {number[1]}; `/diplowatch feeds` lists them")
    try:
        url = check_feed_url(wanted)
    except FetchError:
        url = None
    for feed in feeds:
        if feed.url == wanted or (url is not None and feed.url == url):
            return feed
    named = [f for f in feeds if f.name.casefold() == wanted.casefold()]
    if len(named) > 1:
        numbers = ", ".join(f"#{f.id}" for f in named)
        raise CommandError(f"several feeds are called {wanted!r} ({numbers}); give the number instead")
    if named:
        return named[0]
    hint = _did_you_mean(wanted, [f.name for f in feeds])
    raise CommandError(f"no feed is called {wanted!r}.{hint} `/diplowatch feeds` lists them")


def check_name(text: str, what: str) -> str:
    """A display name, alias or phrase: one line, not empty, at most 100 characters."""
    value = " ".join(text.split())
    if not value:
        raise CommandError(f"{what} must not be empty")
    if len(value) > MAX_NAME_CHARS:
        raise CommandError(f"{what} is longer than {MAX_NAME_CHARS} characters ({len(value)})")
    return value


def check_phrases(values: Iterable[str], what: str, *, limit: int) -> tuple[str, ...]:
    """Names checked one by one, refusing duplicates (compared folded) and more than ``limit``."""
    out: list[str] = []
    seen: dict[str, str] = {}
    for raw in values:
        value = check_name(raw, what)
        key = fold(value)
        if key in seen:
            raise CommandError(f"{what} {value!r} is given twice (as {seen[key]!r})")
        seen[key] = value
        out.append(value)
    if len(out) > limit:
        raise CommandError(f"too many {what}es: at most {limit}, got {len(out)}")
    return tuple(out)


def make_id(name: str, given: str | None, taken: Iterable[str], what: Literal["actor", "topic"]) -> str:
    """The id for a new entry: ``given`` when valid, else one made from the name (``kaja-kallas``)."""
    if given is not None:
        candidate = given.strip().casefold()
        if not _ID.fullmatch(candidate) or len(candidate) > _MAX_ID_CHARS:
            raise CommandError(f"id {given!r} must use only a-z, 0-9 and '-' (at most {_MAX_ID_CHARS})")
    else:
        decomposed = unicodedata.normalize("NFKD", name.casefold())
        ascii_only = "".join(c for c in decomposed if c.isascii())
        candidate = re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")[:_MAX_ID_CHARS].strip("-")
        if not candidate:
            raise CommandError(f"cannot make an id from {name!r}: give one with id:<a-z0-9->")
    if candidate in set(taken):
        raise CommandError(f"the {what} id {candidate!r} is already used; choose another with id:<id>")
    return candidate


def check_watchlist(watchlist: Watchlist) -> None:
    """Refuse a watchlist the TOML schema would refuse, so every edit can be exported and imported again."""
    try:
        parse_watchlist(tomllib.loads(dump_watchlist(watchlist)), origin="the edited watchlist")
    except (ConfigError, tomllib.TOMLDecodeError) as e:
        raise CommandError(str(e)) from e


def alias_owner(watchlist: Watchlist, alias: str, *, besides: str) -> Actor | None:
    """Another actor (not ``besides``) that already has ``alias``, compared folded."""
    key = fold(alias)
    for actor in watchlist.actors:
        if actor.id != besides and any(fold(a) == key for a in (*actor.aliases, *actor.exact_case_aliases)):
            return actor
    return None
