"""Wires storage, fetching and the poller from a Config: the one place that knows the concrete classes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from bot.config import Config
from bot.poller import Poller
from bot.watchlist_sync import sync_config_watchlist
from feeds.fetch import Fetcher, FetchPolicy
from storage.db import Database, open_database

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock (aware UTC); everything else takes a clock as a parameter."""
    return datetime.now(UTC)


class Service:
    """An opened diplowatch instance: database, fetcher and poller, closed together."""

    def __init__(self, config: Config, db: Database, fetcher: Fetcher, poller: Poller) -> None:
        self.config = config
        self.db = db
        self.fetcher = fetcher
        self.poller = poller

    async def __aenter__(self) -> Service:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the HTTP session and the database."""
        await self.fetcher.close()
        await self.db.close()


def fetch_policy(config: Config) -> FetchPolicy:
    """The fetch limits the config asks for."""
    f = config.fetch
    return FetchPolicy(
        timeout_s=f.timeout_s,
        max_body_bytes=f.max_body_bytes,
        allow_private_networks=f.allow_private_networks,
        concurrency=f.concurrency,
        per_host=f.per_host,
    )


async def open_service(config: Config, *, clock: Callable[[], datetime] = utc_now) -> Service:
    """Open the database (migrating it), sync configured feeds and watchlist, and build the poller."""
    db = await open_database(config.storage.path)
    try:
        fetcher = Fetcher(fetch_policy(config))
        poller = Poller(db=db, fetcher=fetcher, clock=clock)
        now = clock()
        async with db.transaction():
            await poller.feeds.sync_configured(config.feeds, now)
            changes = await sync_config_watchlist(poller.watchlists, config.watchlist, now=now)
        for line in changes:
            log.info("watchlist: %s", line)
        await poller.classifier.refresh(poller.watchlists)
    except BaseException:
        await db.close()
        raise
    return Service(config, db, fetcher, poller)
