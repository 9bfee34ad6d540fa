"""Watchlist TOML files: load and validate (errors name the key path), and write back in the same schema.

The schema is that of ``shared/eval/watchlist.toml``::

    [[actors]]  id, name, kind, aliases, exact_case_aliases, not_near
    [[topics]]  id, name, any, all, none

``parse_watchlist`` also validates an inline ``[watchlist]`` table of the main config.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast, get_args

from feeds.errors import ConfigError
from feeds.models import Actor, ActorKind, Topic, Watchlist
from feeds.textnorm import fold, is_word_char

__all__ = ["dump_watchlist", "load_watchlist", "parse_watchlist"]

_KINDS: tuple[str, ...] = get_args(ActorKind)
_ID = re.compile(r"[a-z0-9-]+")
_TOP_KEYS = ("actors", "topics")
_ACTOR_KEYS = ("id", "name", "kind", "aliases", "exact_case_aliases", "not_near")
_TOPIC_KEYS = ("id", "name", "any", "all", "none")


def load_watchlist(path: Path | str) -> Watchlist:
    """Read and validate a watchlist TOML file; ``ConfigError`` names the file and the key path."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: watchlist file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read watchlist file: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return parse_watchlist(data, origin=str(path))


def parse_watchlist(data: Mapping[str, object], *, origin: str) -> Watchlist:
    """Validate an already-loaded watchlist table (``actors``/``topics`` arrays of tables)."""
    _reject_unknown(data, _TOP_KEYS, origin, "")
    actors = tuple(
        _parse_actor(t, origin, f"actors[{i}]") for i, t in enumerate(_tables(data, "actors", origin))
    )
    topics = tuple(
        _parse_topic(t, origin, f"topics[{i}]") for i, t in enumerate(_tables(data, "topics", origin))
    )
    _reject_duplicate_ids([a.id for a in actors], origin, "actors")
    _reject_duplicate_ids([t.id for t in topics], origin, "topics")
    return Watchlist(actors=actors, topics=topics)


def _fail(origin: str, path: str, problem: str) -> ConfigError:
    return ConfigError(f"{origin}: {path}: {problem}" if path else f"{origin}: {problem}")


def _type_name(value: object) -> str:
    return {dict: "table", list: "array", str: "string", bool: "boolean", int: "integer", float: "float"}.get(
        type(value), type(value).__name__
    )


def _reject_unknown(table: Mapping[str, object], known: Sequence[str], origin: str, path: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(known)})"
            raise _fail(origin, path, f"unknown key {key!r}{hint}")


def _tables(data: Mapping[str, object], key: str, origin: str) -> list[Mapping[str, object]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(origin, key, f"expected an array of tables ([[{key}]]), got {_type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _fail(origin, f"{key}[{i}]", f"expected a table, got {_type_name(item)}")
    return cast(list[Mapping[str, object]], value)


def _string(table: Mapping[str, object], key: str, origin: str, path: str) -> str:
    value = table.get(key)
    if value is None:
        raise _fail(origin, f"{path}.{key}", "is required")
    if not isinstance(value, str):
        raise _fail(origin, f"{path}.{key}", f"expected a string, got {_type_name(value)}")
    value = value.strip()
    if not value:
        raise _fail(origin, f"{path}.{key}", "must not be empty")
    return value


def _id(table: Mapping[str, object], origin: str, path: str) -> str:
    value = _string(table, "id", origin, path)
    if not _ID.fullmatch(value):
        raise _fail(origin, f"{path}.id", f"{value!r} must use only a-z, 0-9 and '-'")
    return value


def _phrases(table: Mapping[str, object], key: str, origin: str, path: str) -> tuple[str, ...]:
    value = table.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(origin, f"{path}.{key}", f"expected an array of strings, got {_type_name(value)}")
    out: list[str] = []
    for i, raw in enumerate(value):
        where = f"{path}.{key}[{i}]"
        if not isinstance(raw, str):
            raise _fail(origin, where, f"expected a string, got {_type_name(raw)}")
        phrase = raw.strip()
        if not phrase:
            raise _fail(origin, where, "empty phrase")
        problem = _phrase_problem(phrase)
        if problem:
            raise _fail(origin, where, f"{phrase!r}: {problem}")
        if phrase in out:
            raise _fail(origin, where, f"{phrase!r} is listed twice")
        out.append(phrase)
    return tuple(out)


def _phrase_problem(phrase: str) -> str | None:
    """Why a phrase can never match as meant, or None when it is usable."""
    folded = fold(phrase)
    if not any(is_word_char(c) for c in folded):
        return "has no letters or digits"
    for i, c in enumerate(folded):
        if c == "*":
            if i == 0 or not is_word_char(folded[i - 1]):
                return "'*' must follow a word (write 'negotiat*', not '*negotiat' or '*')"
            if i + 1 < len(folded) and is_word_char(folded[i + 1]):
                return "'*' may only end a word ('negotiat*'), not stand inside one"
    return None


def _parse_actor(table: Mapping[str, object], origin: str, path: str) -> Actor:
    _reject_unknown(table, _ACTOR_KEYS, origin, path)
    actor_id = _id(table, origin, path)
    kind = _string(table, "kind", origin, path)
    if kind not in _KINDS:
        raise _fail(origin, f"{path}.kind", f"{kind!r} is not one of {', '.join(_KINDS)}")
    aliases = _phrases(table, "aliases", origin, path)
    exact = _phrases(table, "exact_case_aliases", origin, path)
    if not aliases and not exact:
        raise _fail(origin, path, f"actor {actor_id!r} needs at least one of aliases, exact_case_aliases")
    return Actor(
        id=actor_id,
        name=_string(table, "name", origin, path),
        kind=cast(ActorKind, kind),
        aliases=aliases,
        exact_case_aliases=exact,
        not_near=_phrases(table, "not_near", origin, path),
    )


def _parse_topic(table: Mapping[str, object], origin: str, path: str) -> Topic:
    _reject_unknown(table, _TOPIC_KEYS, origin, path)
    topic_id = _id(table, origin, path)
    any_ = _phrases(table, "any", origin, path)
    if not any_:
        raise _fail(origin, f"{path}.any", f"topic {topic_id!r} needs at least one phrase in 'any'")
    return Topic(
        id=topic_id,
        name=_string(table, "name", origin, path),
        any=any_,
        all=_phrases(table, "all", origin, path),
        none=_phrases(table, "none", origin, path),
    )


def _reject_duplicate_ids(ids: Sequence[str], origin: str, key: str) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(ids):
        if value in seen:
            raise _fail(origin, f"{key}[{i}].id", f"{value!r} is already used by {key}[{seen[value]}]")
        seen[value] = i


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, everything else verbatim."""
    out = []
    for c in value:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _toml_array(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def dump_watchlist(watchlist: Watchlist) -> str:
    """The watchlist as TOML in the schema ``load_watchlist`` reads; empty optional lists are left out."""
    blocks: list[str] = []
    for actor in watchlist.actors:
        lines = [
            "[[actors]]",
            f"id = {_toml_string(actor.id)}",
            f"name = {_toml_string(actor.name)}",
            f"kind = {_toml_string(actor.kind)}",
        ]
        for key, values in (
            ("aliases", actor.aliases),
            ("exact_case_aliases", actor.exact_case_aliases),
            ("not_near", actor.not_near),
        ):
            if values:
                lines.append(f"{key} = {_toml_array(values)}")
        blocks.append("\n".join(lines))
    for topic in watchlist.topics:
        lines = ["[[topics]]", f"id = {_toml_string(topic.id)}", f"name = {_toml_string(topic.name)}"]
        for key, values in (("any", topic.any), ("all", topic.all), ("none", topic.none)):
            if values:
                lines.append(f"{key} = {_toml_array(values)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""
