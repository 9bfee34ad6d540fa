"""The stored watchlist (actors with aliases, topics with phrases) and its version counter.

Every change bumps the version by one, so a classifier holding a compiled watchlist can tell cheaply that it
must rebuild. Each method is atomic and joins the caller's transaction when one is open.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import get_args

from feeds.errors import StorageError
from feeds.models import Actor, ActorKind, Topic, Watchlist
from storage.db import Database, encode_time

_ACTOR_KINDS: tuple[ActorKind, ...] = get_args(ActorKind)


def _check_text(value: str, what: str) -> None:
    if not value.strip():
        raise StorageError(f"{what} must not be empty")


def _check_unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise StorageError(f"{what} {value!r} is listed twice")
        seen.add(value)


def _check_actor(actor: Actor) -> None:
    _check_text(actor.id, "an actor id")
    _check_text(actor.name, f"the name of actor {actor.id!r}")
    if actor.kind not in _ACTOR_KINDS:
        kinds = ", ".join(_ACTOR_KINDS)
        raise StorageError(f"actor {actor.id!r} has kind {actor.kind!r}; use one of {kinds}")
    for alias in (*actor.aliases, *actor.exact_case_aliases):
        _check_text(alias, f"an alias of actor {actor.id!r}")
    for phrase in actor.not_near:
        _check_text(phrase, f"a not_near phrase of actor {actor.id!r}")
    _check_unique((*actor.aliases, *actor.exact_case_aliases), f"actor {actor.id!r}: alias")
    _check_unique(actor.not_near, f"actor {actor.id!r}: not_near phrase")


def _check_topic(topic: Topic) -> None:
    _check_text(topic.id, "a topic id")
    _check_text(topic.name, f"the name of topic {topic.id!r}")
    for role, phrases in (("any", topic.any), ("all", topic.all), ("none", topic.none)):
        for phrase in phrases:
            _check_text(phrase, f"an {role!r} phrase of topic {topic.id!r}")
        _check_unique(phrases, f"topic {topic.id!r}: {role!r} phrase")


class WatchlistRepository:
    """Actors, aliases, topics and phrases as edited from the config file or from chat."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def version(self) -> int:
        """The watchlist version; it grows by one with every change."""
        value = await self._db.fetch_value("SELECT version FROM watchlist_version WHERE singleton = 1")
        if not isinstance(value, int):
            raise StorageError("the stored watchlist has no version counter; the database is damaged")
        return value

    async def load(self) -> Watchlist:
        """The whole watchlist, in the order it was given."""
        aliases: dict[str, list[str]] = {}
        exact: dict[str, list[str]] = {}
        for row in await self._db.fetch_all(
            "SELECT actor_id, alias, exact_case FROM actor_aliases ORDER BY actor_id, position"
        ):
            by_actor = exact if row["exact_case"] else aliases
            by_actor.setdefault(str(row["actor_id"]), []).append(str(row["alias"]))
        not_near: dict[str, list[str]] = {}
        for row in await self._db.fetch_all(
            "SELECT actor_id, phrase FROM actor_not_near ORDER BY actor_id, position"
        ):
            not_near.setdefault(str(row["actor_id"]), []).append(str(row["phrase"]))
        actors = []
        for row in await self._db.fetch_all("SELECT id, name, kind FROM actors ORDER BY position, id"):
            actor_id = str(row["id"])
            actors.append(
                Actor(
                    id=actor_id,
                    name=str(row["name"]),
                    kind=self._kind(row["kind"], actor_id),
                    aliases=tuple(aliases.get(actor_id, ())),
                    exact_case_aliases=tuple(exact.get(actor_id, ())),
                    not_near=tuple(not_near.get(actor_id, ())),
                )
            )
        phrases: dict[tuple[str, str], list[str]] = {}
        for row in await self._db.fetch_all(
            "SELECT topic_id, role, phrase FROM topic_phrases ORDER BY topic_id, position"
        ):
            phrases.setdefault((str(row["topic_id"]), str(row["role"])), []).append(str(row["phrase"]))
        topics = []
        for row in await self._db.fetch_all("SELECT id, name FROM topics ORDER BY position, id"):
            topic_id = str(row["id"])
            topics.append(
                Topic(
                    id=topic_id,
                    name=str(row["name"]),
                    any=tuple(phrases.get((topic_id, "any"), ())),
                    all=tuple(phrases.get((topic_id, "all"), ())),
                    none=tuple(phrases.get((topic_id, "none"), ())),
                )
            )
        return Watchlist(actors=tuple(actors), topics=tuple(topics))

    async def replace(self, watchlist: Watchlist) -> None:
        """Make the stored watchlist exactly this one."""
        _check_unique((actor.id for actor in watchlist.actors), "actor id")
        _check_unique((topic.id for topic in watchlist.topics), "topic id")
        for actor in watchlist.actors:
            _check_actor(actor)
        for topic in watchlist.topics:
            _check_topic(topic)
        async with self._db.transaction():
            await self._db.execute("DELETE FROM actors")
            await self._db.execute("DELETE FROM topics")
            await self._db.executemany(
                "INSERT INTO actors (id, name, kind, position) VALUES (?, ?, ?, ?)",
                [(a.id, a.name, a.kind, position) for position, a in enumerate(watchlist.actors)],
            )
            for actor in watchlist.actors:
                await self._insert_actor_phrases(actor)
            await self._db.executemany(
                "INSERT INTO topics (id, name, position) VALUES (?, ?, ?)",
                [(t.id, t.name, position) for position, t in enumerate(watchlist.topics)],
            )
            for topic in watchlist.topics:
                await self._insert_topic_phrases(topic)
            await self._bump()

    async def add_actor(self, actor: Actor) -> None:
        """Track a new actor (after the others); an id already tracked is a StorageError."""
        _check_actor(actor)
        async with self._db.transaction():
            if await self._actor_exists(actor.id):
                raise StorageError(f"actor {actor.id!r} is already in the watchlist")
            await self._db.execute(
                "INSERT INTO actors (id, name, kind, position) "
                "VALUES (?, ?, ?, (SELECT coalesce(max(position) + 1, 0) FROM actors))",
                (actor.id, actor.name, actor.kind),
            )
            await self._insert_actor_phrases(actor)
            await self._bump()

    async def update_actor(self, actor: Actor) -> None:
        """Replace a tracked actor's name, kind, aliases and not_near phrases (it keeps its place)."""
        _check_actor(actor)
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE actors SET name = ?, kind = ? WHERE id = ?", (actor.name, actor.kind, actor.id)
            )
            if changed == 0:
                raise StorageError(f"no actor {actor.id!r} in the watchlist")
            await self._db.execute("DELETE FROM actor_aliases WHERE actor_id = ?", (actor.id,))
            await self._db.execute("DELETE FROM actor_not_near WHERE actor_id = ?", (actor.id,))
            await self._insert_actor_phrases(actor)
            await self._bump()

    async def remove_actor(self, actor_id: str) -> None:
        """Stop tracking an actor, with its aliases."""
        async with self._db.transaction():
            if await self._db.execute("DELETE FROM actors WHERE id = ?", (actor_id,)) == 0:
                raise StorageError(f"no actor {actor_id!r} in the watchlist")
            await self._bump()

    async def add_alias(self, actor_id: str, alias: str, *, exact_case: bool = False) -> None:
        """Add an alias to a tracked actor (``exact_case``: it only matches with this capitalisation)."""
        _check_text(alias, f"an alias of actor {actor_id!r}")
        async with self._db.transaction():
            if not await self._actor_exists(actor_id):
                raise StorageError(f"no actor {actor_id!r} in the watchlist")
            existing = await self._db.fetch_value(
                "SELECT 1 FROM actor_aliases WHERE actor_id = ? AND alias = ?", (actor_id, alias)
            )
            if existing is not None:
                raise StorageError(f"actor {actor_id!r} already has the alias {alias!r}")
            await self._db.execute(
                "INSERT INTO actor_aliases (actor_id, alias, exact_case, position) VALUES (?, ?, ?, "
                "(SELECT coalesce(max(position) + 1, 0) FROM actor_aliases WHERE actor_id = ?))",
                (actor_id, alias, int(exact_case), actor_id),
            )
            await self._bump()

    async def remove_alias(self, actor_id: str, alias: str) -> None:
        """Remove one alias (plain or exact-case) from a tracked actor."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "DELETE FROM actor_aliases WHERE actor_id = ? AND alias = ?", (actor_id, alias)
            )
            if changed == 0:
                if not await self._actor_exists(actor_id):
                    raise StorageError(f"no actor {actor_id!r} in the watchlist")
                raise StorageError(f"actor {actor_id!r} has no alias {alias!r}")
            await self._bump()

    async def add_topic(self, topic: Topic) -> None:
        """Track a new topic (after the others); an id already tracked is a StorageError."""
        _check_topic(topic)
        async with self._db.transaction():
            if await self._topic_exists(topic.id):
                raise StorageError(f"topic {topic.id!r} is already in the watchlist")
            await self._db.execute(
                "INSERT INTO topics (id, name, position) "
                "VALUES (?, ?, (SELECT coalesce(max(position) + 1, 0) FROM topics))",
                (topic.id, topic.name),
            )
            await self._insert_topic_phrases(topic)
            await self._bump()

    async def update_topic(self, topic: Topic) -> None:
        """Replace a tracked topic's name and phrases (it keeps its place)."""
        _check_topic(topic)
        async with self._db.transaction():
            if await self._db.execute("UPDATE topics SET name = ? WHERE id = ?", (topic.name, topic.id)) == 0:
                raise StorageError(f"no topic {topic.id!r} in the watchlist")
            await self._db.execute("DELETE FROM topic_phrases WHERE topic_id = ?", (topic.id,))
            await self._insert_topic_phrases(topic)
            await self._bump()

    async def remove_topic(self, topic_id: str) -> None:
        """Stop tracking a topic, with its phrases."""
        async with self._db.transaction():
            if await self._db.execute("DELETE FROM topics WHERE id = ?", (topic_id,)) == 0:
                raise StorageError(f"no topic {topic_id!r} in the watchlist")
            await self._bump()

    async def _insert_actor_phrases(self, actor: Actor) -> None:
        aliases = [(alias, 0) for alias in actor.aliases] + [(alias, 1) for alias in actor.exact_case_aliases]
        await self._db.executemany(
            "INSERT INTO actor_aliases (actor_id, alias, exact_case, position) VALUES (?, ?, ?, ?)",
            [(actor.id, alias, exact, position) for position, (alias, exact) in enumerate(aliases)],
        )
        await self._db.executemany(
            "INSERT INTO actor_not_near (actor_id, phrase, position) VALUES (?, ?, ?)",
            [(actor.id, phrase, position) for position, phrase in enumerate(actor.not_near)],
        )

    async def _insert_topic_phrases(self, topic: Topic) -> None:
        rows = [
            (topic.id, role, phrase, position)
            for role, phrases in (("any", topic.any), ("all", topic.all), ("none", topic.none))
            for position, phrase in enumerate(phrases)
        ]
        await self._db.executemany(
            "INSERT INTO topic_phrases (topic_id, role, phrase, position) VALUES (?, ?, ?, ?)", rows
        )

    async def _actor_exists(self, actor_id: str) -> bool:
        return await self._db.fetch_value("SELECT 1 FROM actors WHERE id = ?", (actor_id,)) is not None

    async def _topic_exists(self, topic_id: str) -> bool:
        return await self._db.fetch_value("SELECT 1 FROM topics WHERE id = ?", (topic_id,)) is not None

    async def _bump(self) -> None:
        await self._db.execute("UPDATE watchlist_version SET version = version + 1 WHERE singleton = 1")

    @staticmethod
    def _kind(value: object, actor_id: str) -> ActorKind:
        for kind in _ACTOR_KINDS:
            if value == kind:
                return kind
        raise StorageError(f"stored actor {actor_id!r} has an unknown kind {value!r}")

    async def config_snapshot(self) -> str | None:
        """The watchlist TOML the config files gave at the last start, or None before the first."""
        value = await self._db.fetch_value("SELECT toml FROM watchlist_config_snapshot WHERE singleton = 1")
        return value if isinstance(value, str) else None

    async def save_config_snapshot(self, toml: str, *, now: datetime) -> None:
        """Remember what the config files gave, to diff against at the next start."""
        await self._db.execute(
            "INSERT INTO watchlist_config_snapshot (singleton, toml, saved_at) VALUES (1, ?, ?) "
            "ON CONFLICT (singleton) DO UPDATE SET toml = excluded.toml, saved_at = excluded.saved_at",
            (toml, encode_time(now)),
        )
