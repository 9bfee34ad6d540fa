"""Frozen domain values passed between layers: feeds, items, watchlists, matches and stories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

ActorKind = Literal["person", "state", "org", "place"]
TextField = Literal["title", "summary"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSource:
    """A feed as configured: where it lives, what to call it, how often to poll it."""

    url: str
    name: str
    interval_s: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedState:
    """A stored feed with its fetch state (validators, health, schedule)."""

    id: int
    url: str
    name: str
    interval_s: int
    paused: bool = False
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One normalised feed entry.

    ``identity`` is stable across polls: ``guid:<feed guid>``, else ``url:<canonical link>``,
    else ``hash:<content_hash>``. ``content_hash`` is over the normalised title and summary.
    """

    identity: str
    guid: str | None
    url: str | None
    title: str
    summary: str
    published: datetime
    published_estimated: bool
    content_hash: str
    source: str = ""
    language: str | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """An official, state or organisation a team tracks."""

    id: str
    name: str
    kind: ActorKind
    aliases: tuple[str, ...] = ()
    exact_case_aliases: tuple[str, ...] = ()
    not_near: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    """A subject a team tracks: ``any`` phrase required, every ``all`` phrase too, no ``none`` phrase."""

    id: str
    name: str
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Watchlist:
    """The actors and topics a team tracks."""

    actors: tuple[Actor, ...] = ()
    topics: tuple[Topic, ...] = ()

    def actor(self, actor_id: str) -> Actor | None:
        """The actor with this id, if tracked."""
        return next((a for a in self.actors if a.id == actor_id), None)

    def topic(self, topic_id: str) -> Topic | None:
        """The topic with this id, if tracked."""
        return next((t for t in self.topics if t.id == topic_id), None)


class Span(NamedTuple):
    """Where a kept alias or phrase hit lies in an item's title or summary (character offsets)."""

    # A named tuple, not a frozen dataclass like the other values: a poll round makes one for every hit of
    # every matched item, twice (in the parse worker and again in the polling process), hundreds of
    # thousands, and a tuple is built ~4 times faster than a frozen dataclass sets its fields.

    field: TextField
    start: int
    end: int
    target: str  # actor or topic id
    phrase: str  # the watchlist alias or phrase that matched


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """What an item is about, as far as the watchlist can tell."""

    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    score: float = 0.0
    spans: tuple[Span, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the item names no tracked actor and no tracked topic."""
        return not self.actors and not self.topics


@dataclass(frozen=True, slots=True, kw_only=True)
class StorySource:
    """One outlet's report within a story."""

    source: str
    title: str
    url: str | None
    published: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """One event, possibly reported by several feeds."""

    id: int
    key: str
    title: str
    first_seen: datetime
    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    score: float = 0.0
    sources: tuple[StorySource, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredItem:
    """An item as stored: its row id, its feed and the story it belongs to (if assigned)."""

    id: int
    feed_id: int
    item: Item
    fetched_at: datetime
    story_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryCandidate:
    """A stored item inside the story window, with the opaque fingerprint ``feeds.stories`` compares."""

    item_id: int
    story_id: int
    story_key: str
    published: datetime
    fingerprint: bytes
