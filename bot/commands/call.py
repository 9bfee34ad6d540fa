"""What every handler receives: the call (context, spec, checked arguments, time) and the storage it uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.commands.invocation import CommandContext, Invocation
from bot.commands.parsing import BoundArguments
from bot.commands.replies import NextPage
from bot.commands.specs import CommandSpec
from bot.config import Config
from feeds.models import FeedState
from storage.audit import AuditRepository
from storage.db import Database
from storage.feeds import FeedRepository
from storage.items import ItemRepository
from storage.lookups import LookupQueries
from storage.stories import StoryRepository
from storage.subscriptions import SubscriptionRepository
from storage.watchlists import WatchlistRepository

# Called after a feed added from chat is committed, so it is polled at once; it should return quickly.
FeedAddedHook = Callable[[FeedState], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSettings:
    """Limits and defaults of the chat commands."""

    default_interval_s: int = 600
    allow_private_networks: bool = False
    page_size: int = 10
    confirm_ttl: timedelta = timedelta(minutes=10)
    page_ttl: timedelta = timedelta(hours=1)
    cooldown_capacity: int = 5
    cooldown_per_second: float = 0.5

    @classmethod
    def from_config(cls, config: Config) -> CommandSettings:
        """The defaults the config implies (feed interval, private-address policy)."""
        return cls(
            default_interval_s=config.fetch.default_interval_s,
            allow_private_networks=config.fetch.allow_private_networks,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Repositories:
    """The storage a command may read or change, all on one database (so one transaction covers an edit)."""

    db: Database
    feeds: FeedRepository
    items: ItemRepository
    stories: StoryRepository
    watchlists: WatchlistRepository
    subscriptions: SubscriptionRepository
    audit: AuditRepository
    lookups: LookupQueries

    @classmethod
    def on(cls, db: Database) -> Repositories:
        """Every repository over ``db``."""
        return cls(
            db=db,
            feeds=FeedRepository(db),
            items=ItemRepository(db),
            stories=StoryRepository(db),
            watchlists=WatchlistRepository(db),
            subscriptions=SubscriptionRepository(db),
            audit=AuditRepository(db),
            lookups=LookupQueries(db),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandCall:
    """One command being run: who, where, what, with which checked arguments, at which moment.

    ``page`` makes the "next page" of a paginated answer from the offset it should start at.
    """

    context: CommandContext
    spec: CommandSpec
    invocation: Invocation
    args: BoundArguments
    now: datetime
    page: Callable[[int], NextPage]

    @property
    def public(self) -> bool:
        """True when a look-up was asked to answer visibly (``public:true``)."""
        return self.spec.lookup and self.invocation.public
