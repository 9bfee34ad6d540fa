"""Wires storage, fetching and the poller from a Config: the one place that knows the concrete classes."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import TextIO

from bot.commands import AdminPolicy, CommandRunner, CommandSettings, fetcher_probe
from bot.config import Config
from bot.delivery import Dispatcher, collect_alert_candidates
from bot.outbox import DeliveryOutbox
from bot.parse_pool import ParsePool
from bot.platforms.base import ChatPlatform, CommandPlatform
from bot.platforms.console import ConsolePlatform
from bot.poller import FeedPollResult, NewItem, Poller, PollRound, ResultHandler
from bot.watchlist_sync import sync_config_watchlist
from feeds.compiled import COMPILED_MODULES, compiled_modules, stale_compiled_modules
from feeds.errors import ConfigError, DiplowatchError
from feeds.fetch import Fetcher, FetchPolicy
from feeds.heap import collect_cycles_less_often, map_large_blocks
from feeds.models import FeedState
from storage.db import Database, open_database
from storage.outbox import OutboxRepository
from storage.subscriptions import SubscriptionRepository

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock (aware UTC); everything else takes a clock as a parameter."""
    return datetime.now(UTC)


class Service:
    """An opened diplowatch instance: database, fetcher, poller and delivery, closed together."""

    def __init__(
        self,
        config: Config,
        db: Database,
        fetcher: Fetcher,
        poller: Poller,
        dispatcher: Dispatcher,
        platforms: Mapping[str, ChatPlatform],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.db = db
        self.fetcher = fetcher
        self.poller = poller
        self.dispatcher = dispatcher
        self.platforms = dict(platforms)
        self.clock = clock
        self.commands: CommandRunner | None = None

    async def serve_slack(self) -> None:
        """Start receiving Slack slash commands (HTTP events endpoint or Socket Mode, as configured)."""
        slack = self.platforms.get("slack")
        if slack is None:
            return
        from bot.platforms.slack import SlackPlatform  # loaded already: a Slack platform is in use

        if not isinstance(slack, SlackPlatform):
            return
        if self.config.slack.mode == "http":
            await slack.serve_http(self.config.slack.http_host, self.config.slack.http_port)
        else:
            if not self.config.secrets.slack_app_token:
                raise ConfigError("SLACK_APP_TOKEN is not set, but slack.mode is 'socket'")
            await slack.serve_socket(self.config.secrets.slack_app_token)

    async def start_platforms(self) -> None:
        """Connect every chat platform a channel uses; a rejected token is a clear error."""
        for platform in self.platforms.values():
            await platform.start()

    async def poll_and_dispatch(self, on_result: ResultHandler | None = None) -> PollRound:
        """One poll round of the due feeds, then alerts queued and the outbox flushed; the round's tally.

        Results stream through: only the items that may alert are kept until the round ends
        (``on_result`` also sees each feed's result, for observers such as benchmarks).
        """
        tally = PollRound()
        candidates: dict[int, NewItem] = {}

        def handle(result: FeedPollResult) -> None:
            tally.count(result)
            collect_alert_candidates(result, candidates)
            if on_result is not None:
                on_result(result)

        await self.poller.stream_due(handle)
        now = self.clock()
        await self.dispatcher.queue_candidate_alerts(
            candidates, now=now, watchlist=self.poller.classifier.watchlist
        )
        await self.dispatcher.deliver(now)
        return tally

    async def __aenter__(self) -> Service:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect chat platforms, release the HTTP session and the database."""
        for platform in self.platforms.values():
            try:
                await platform.close()
            except DiplowatchError as e:
                log.warning("closing %s: %s", platform.name, e)
        await self.fetcher.close()
        await self.db.close()
        executor = self.poller.executor  # the pool in use: the poller replaces one whose worker died
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        # What open_service froze is collectable again: a process may open services one after another.
        gc.unfreeze()


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


# The event loop thread shares the GIL with the SQLite thread, which holds it only briefly but waits up
# to the switch interval to get it back whenever the loop runs Python.
# At CPython's 5 ms they wait most of a poll; at 0.2 ms a 1,000-feed first poll ran ~11% faster.
_GIL_SWITCH_INTERVAL_S = 0.0002


def tune_main_process() -> None:
    """Settings for the process that polls: a short GIL switch interval, large blocks mapped on their own,
    fewer collections of young objects."""
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL_S)
    collect_cycles_less_often()
    # Feed bodies then leave no holes in the heap behind them (feeds.heap): a flatter peak over a long run.
    map_large_blocks()


def _log_compiled_modules() -> None:
    compiled = compiled_modules()
    if len(compiled) < len(COMPILED_MODULES):
        log.info(
            "running %d of %d parse and match modules as plain Python (slower): no C compiler at install, "
            "or DIPLOWATCH_PURE_PYTHON=1",
            len(COMPILED_MODULES) - len(compiled),
            len(COMPILED_MODULES),
        )
    for name in stale_compiled_modules():
        log.warning("%s changed after it was compiled and runs its old code: reinstall (make demo)", name)


def freeze_startup_objects() -> None:
    """Leave everything allocated so far (modules, chat clients, config) out of later garbage collections."""
    # A poll allocates fast, so the collector runs often, and each full pass would walk every object the
    # imports left behind for nothing: ~10% of the main process's CPU in the poll benchmark. Objects made
    # later are collected as usual; frozen ones are still freed by reference counting.
    gc.collect()
    gc.freeze()


def parse_worker_count(workers: int) -> int:
    """How many parse worker processes the configured ``workers`` asks for; 0 means parsing in this process.

    ``workers`` 0 is automatic: a process per CPU but one, none on a single CPU; 1 is this process.
    """
    if workers == 1:
        return 0
    if workers > 1:
        return workers
    # This process fetches, places items in stories and writes them all: in the poll benchmark it takes as
    # much CPU as the parse workers together. On 2 CPUs one worker polls as fast as two (1,000 and 10,000
    # feeds) and the second would only cost ~40 MB.
    return (os.cpu_count() or 1) - 1


def parse_executor(workers: int) -> ParsePool | None:
    """The parse worker processes, or None to parse in a thread of this process."""
    count = parse_worker_count(workers)
    if count == 0:
        return None
    # Started under a bare __main__: a spawned child re-runs the parent's main script first (for the
    # `diplowatch` console script: the whole application, chat clients included), which would cost every
    # worker tens of MB.
    with _bare_main():
        return ParsePool(count)


@contextmanager
def _bare_main() -> Iterator[None]:
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def build_platforms(config: Config, *, console: TextIO | None = None) -> dict[str, ChatPlatform]:
    """One adapter per platform the channels use; a missing token names its environment variable."""
    used = {c.platform for c in config.channels}
    platforms: dict[str, ChatPlatform] = {}
    # Each chat library is imported only for a platform in use: discord.py and slack-bolt take tens of MB
    # and most of the start-up time, which a Slack-only team, or `diplowatch poll`, need not pay.
    secrets = config.secrets
    # A platform with a token is connected even without configured channels: its slash commands serve.
    if "discord" in used or secrets.discord_token:
        if not secrets.discord_token:
            raise ConfigError("DISCORD_TOKEN is not set, but a channel in the config uses platform 'discord'")
        from bot.platforms.discord import DiscordPlatform

        platforms["discord"] = DiscordPlatform(token=secrets.discord_token)
    if "slack" in used or secrets.slack_bot_token:
        if not secrets.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set, but a channel in the config uses platform 'slack'")
        from bot.platforms.slack import SlackPlatform

        platforms["slack"] = SlackPlatform(
            token=secrets.slack_bot_token,
            signing_secret=secrets.slack_signing_secret or "",
            api_base_url=config.slack.api_base_url,
        )
    if "console" in used:
        platforms["console"] = ConsolePlatform(console)
    return platforms


async def open_service(
    config: Config,
    *,
    clock: Callable[[], datetime] = utc_now,
    platforms: Mapping[str, ChatPlatform] | None = None,
    rng: random.Random | None = None,
) -> Service:
    """Open the database (migrating it), sync feeds, watchlist and channels, build poller and delivery."""
    tune_main_process()
    _log_compiled_modules()
    chat = dict(platforms) if platforms is not None else build_platforms(config)
    db = await open_database(config.storage.path)
    poller: Poller | None = None
    fetcher: Fetcher | None = None
    try:
        fetcher = Fetcher(fetch_policy(config))
        executor = parse_executor(config.fetch.workers)
        poller = Poller(
            db=db,
            fetcher=fetcher,
            executor=executor,
            executor_factory=partial(parse_executor, config.fetch.workers),
            clock=clock,
            rng=rng,
            max_in_flight=config.fetch.concurrency,
        )
        now = clock()
        async with db.transaction():
            await poller.feeds.sync_configured(config.feeds, now)
            changes = await sync_config_watchlist(poller.watchlists, config.watchlist, now=now)
        for line in changes:
            log.info("watchlist: %s", line)
        await poller.classifier.refresh(poller.watchlists)
        await poller.start_workers(parse_worker_count(config.fetch.workers))
        subscriptions = SubscriptionRepository(db)
        outbox = DeliveryOutbox(
            outbox=OutboxRepository(db), subscriptions=subscriptions, platforms=chat, rng=rng
        )
        dispatcher = Dispatcher(
            db=db,
            configured=config.channels,
            outbox=outbox,
            stories=poller.stories,
            subscriptions=subscriptions,
        )
        for line in await dispatcher.sync_channels(now=now, watchlist=poller.classifier.watchlist):
            log.info("%s", line)
        commands = install_commands(
            config, db=db, fetcher=fetcher, poller=poller, platforms=chat, clock=clock
        )
    except BaseException:
        # Nothing opened here may outlive a failed start: worker processes, the HTTP session, the database.
        if poller is not None and poller.executor is not None:
            poller.executor.shutdown(wait=False, cancel_futures=True)
        if fetcher is not None:
            await fetcher.close()
        await db.close()
        raise
    service = Service(config, db, fetcher, poller, dispatcher, chat, clock)
    service.commands = commands
    freeze_startup_objects()
    return service


def install_commands(
    config: Config,
    *,
    db: Database,
    fetcher: Fetcher,
    poller: Poller,
    platforms: Mapping[str, ChatPlatform],
    clock: Callable[[], datetime],
) -> CommandRunner:
    """The platform-neutral command runner, bound to every chat platform that carries commands."""
    background: set[asyncio.Task[object]] = set()

    async def poll_new_feed(feed: FeedState) -> None:
        # A feed added from chat is polled at once (its history is stored, not alerted).
        task: asyncio.Task[object] = asyncio.create_task(poller.poll_feeds([feed]))
        background.add(task)
        task.add_done_callback(background.discard)

    runner = CommandRunner(
        db=db,
        probe=fetcher_probe(fetcher, clock=clock),
        clock=clock,
        settings=CommandSettings.from_config(config),
        on_feed_added=poll_new_feed,
    )
    policy = AdminPolicy.from_config(config)
    for platform in platforms.values():
        if isinstance(platform, CommandPlatform):
            platform.install_commands(runner, policy)
    return runner
