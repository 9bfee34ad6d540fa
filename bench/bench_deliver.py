"""deliver: alerts rendered and queued in the outbox, and a new feed item's way to a (fake) Slack channel.

1. render+queue: ``bot.delivery.Dispatcher.queue_alerts`` over N stories stored with the real repositories
   in a temporary SQLite database, for a Slack, a Discord and a console channel (nothing is sent).
2. end to end: the production service (``bot.service.open_service`` on a ``parse_config`` config) polls
   generated feeds served by ``bench.feedserver`` from another process, queues alerts and posts them with
   the real slack-sdk client to ``tests.fakes.slack_api.FakeSlackApi`` on 127.0.0.1. Each round adds items to
   some feeds, then runs ``Service.poll_and_dispatch`` once; a new item's latency runs from the start of the
   poll that sees it to the fake's receipt of the chat.postMessage carrying its story.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.bench_poll import SteppedClock
from bench.corpus import Language, article_item, reference_watchlist, write_article
from bench.feedserver import EPOCH, NEW_ITEMS_PER_ADVANCE, FeedServerProcess
from bench.report import Figure, ParamValue, Section, at_most, percentile, progress
from bot.config import ChannelConfig, parse_config
from bot.delivery import Dispatcher
from bot.outbox import DeliveryOutbox, message_to_json
from bot.poller import FeedPollResult, NewItem
from bot.render import lead_source, render_alert
from bot.service import open_service
from feeds.classify import compile_watchlist, match_watchlist
from feeds.models import FeedSource, Item, Match, Story, Watchlist
from feeds.stories import encode_fingerprint, fingerprint_item, new_story_key
from storage.db import Database, open_database
from storage.feeds import FeedRepository
from storage.items import ItemRepository
from storage.matches import MatchRepository
from storage.outbox import OutboxRepository
from storage.stories import Membership, StoryRepository
from storage.subscriptions import SubscriptionRepository
from tests.fakes.slack_api import FakeSlackApi, PostedMessage, SlackCall, SlackReply

SLACK_CHANNEL = "C0BENCH0001"
DISCORD_CHANNEL = "123456789012345678"
CONSOLE_CHANNEL = "bench-console"
CHANNELS: tuple[ChannelConfig, ...] = (
    ChannelConfig(platform="slack", id=SLACK_CHANNEL),
    ChannelConfig(platform="discord", id=DISCORD_CHANNEL),
    ChannelConfig(platform="console", id=CONSOLE_CHANNEL),
)
STORED_FEEDS = 50
STORIES_PER_CALL = 50  # new stories per queue_alerts call: one busy poll round
RUSSIAN_SHARE = 0.2
QUEUE_NOW = EPOCH + timedelta(hours=1)

E2E_ITEMS_PER_FEED = 50
E2E_INTERVAL = timedelta(minutes=15)
E2E_START = EPOCH + timedelta(hours=3)  # after every initial item, so none is "from the future"
LATENCY_TARGET_MS = 1000.0

# ---------------------------------------------------------------------------------------------------------
# 1. render + queue
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedStory:
    """One generated event as its outlets reported it: the first report starts the story."""

    reports: tuple[tuple[int, Item, Match], ...]  # (feed index, item, match), first report first


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRun:
    """What the render+queue measurement saw."""

    stories: int
    sources: int
    calls: int
    messages: int
    queue_s: float
    render_s: float  # render_alert + JSON for one channel per story, alone


def generate_stories(count: int, *, seed: int, watchlist: Watchlist) -> list[GeneratedStory]:
    """``count`` diplomatic stories that match ``watchlist``, each told by one to three outlets."""
    compiled = compile_watchlist(watchlist)
    stories: list[GeneratedStory] = []
    number = 0
    while len(stories) < count:
        rng = random.Random(f"{seed}:deliver:story:{number}")
        language: Language = "ru" if rng.random() < RUSSIAN_SHARE else "en"
        article = write_article(rng, kind="diplomatic", language=language, paragraphs=3)
        feeds = rng.sample(range(STORED_FEEDS), 1 + rng.randrange(3))
        published = QUEUE_NOW - timedelta(minutes=1 + rng.randrange(50))
        reports = []
        for copy, feed in enumerate(feeds):
            item = article_item(
                article,
                url=f"https://www.outlet{feed}.example/news/{number}-{copy}",
                source=f"Outlet {feed}",
                published=published + timedelta(minutes=copy),
            )
            reports.append((feed, item, match_watchlist(item, compiled)))
        number += 1
        if reports[0][2].is_empty:
            continue  # no channel would hear of it
        stories.append(GeneratedStory(reports=tuple(reports)))
    return stories


async def store_stories(db: Database, stories: Sequence[GeneratedStory]) -> list[list[FeedPollResult]]:
    """Store items, matches and stories as a poll would; the poll results to alert on, per call."""
    feeds_repo = FeedRepository(db)
    items_repo = ItemRepository(db)
    sources = [
        FeedSource(url=f"https://www.outlet{i}.example/rss", name=f"Outlet {i}", interval_s=900)
        for i in range(STORED_FEEDS)
    ]
    async with db.transaction():
        states = await feeds_repo.sync_configured(sources, QUEUE_NOW)
        # A feed's first poll is history and queues nothing: these feeds have been polled before.
        for state in states:
            await feeds_repo.record_success(
                state.id,
                now=QUEUE_NOW,
                etag=None,
                last_modified=None,
                body_hash=None,
                next_poll_at=QUEUE_NOW + timedelta(minutes=15),
            )
    feeds = {state.url: state for state in await feeds_repo.all()}
    by_index = [feeds[source.url] for source in sources]

    per_feed: dict[int, list[Item]] = {}
    for story in stories:
        for feed, item, _match in story.reports:
            per_feed.setdefault(feed, []).append(item)
    stored_by_identity = {}
    async with db.transaction():
        for feed, items in per_feed.items():
            for stored in await items_repo.add_items(by_index[feed].id, items, fetched_at=QUEUE_NOW):
                stored_by_identity[stored.item.identity] = stored
        members: list[Membership] = []
        matches: list[tuple[int, Match]] = []
        for story in stories:
            _feed, first, first_match = story.reports[0]
            key = new_story_key(first)
            for position, (_feed, item, match) in enumerate(story.reports):
                stored = stored_by_identity[item.identity]
                members.append(
                    Membership(
                        item_id=stored.id,
                        story_key=key,
                        fingerprint=encode_fingerprint(fingerprint_item(item, match)),
                        new_story=position == 0,
                        title=first.title,
                        score=first_match.score,
                    )
                )
                matches.append((stored.id, match))
        story_ids = await StoryRepository(db).add_members(members, seen_at=QUEUE_NOW)
        await MatchRepository(db).save_many(matches)

    calls: list[list[FeedPollResult]] = []
    for start in range(0, len(stories), STORIES_PER_CALL):
        new_by_feed: dict[int, list[NewItem]] = {}
        for story in stories[start : start + STORIES_PER_CALL]:
            feed, first, first_match = story.reports[0]
            new_by_feed.setdefault(feed, []).append(
                NewItem(
                    stored=stored_by_identity[first.identity],
                    match=first_match,
                    story_id=story_ids[new_story_key(first)],
                    new_story=True,
                )
            )
        calls.append(
            [
                FeedPollResult(
                    feed=by_index[feed], status="new", parsed=len(new), new_items=tuple(new), http_status=200
                )
                for feed, new in new_by_feed.items()
            ]
        )
    return calls


async def _queue_run(*, stories: int, seed: int) -> QueueRun:
    watchlist = reference_watchlist()
    generated = generate_stories(stories, seed=seed, watchlist=watchlist)
    with tempfile.TemporaryDirectory(prefix="diplowatch-deliver-") as tmp:
        db = await open_database(Path(tmp) / "deliver.db")
        try:
            calls = await store_stories(db, generated)
            subscriptions = SubscriptionRepository(db)
            story_repo = StoryRepository(db)
            # Nothing is sent here, so no platform adapters: queueing never touches them.
            outbox = DeliveryOutbox(outbox=OutboxRepository(db), subscriptions=subscriptions, platforms={})
            dispatcher = Dispatcher(
                db=db, configured=CHANNELS, outbox=outbox, stories=story_repo, subscriptions=subscriptions
            )
            await dispatcher.sync_channels(now=QUEUE_NOW, watchlist=watchlist)
            progress(f"deliver: queueing alerts for {len(generated):,} stories x {len(CHANNELS)} channels")
            queued = 0
            started = time.perf_counter()
            for results in calls:
                queued += await dispatcher.queue_alerts(results, now=QUEUE_NOW, watchlist=watchlist)
            queue_s = time.perf_counter() - started
            # The CPU half alone, on the same stories as the dispatcher read them back.
            alerts: list[tuple[Story, NewItem]] = []
            for results in calls:
                for result in results:
                    for new in result.new_items:
                        if new.story_id is not None:
                            alerts.append((await story_repo.get(new.story_id), new))
            started = time.perf_counter()
            for story, new in alerts:
                spans = [s for s in new.match.spans if s.field == "summary"]
                message_to_json(
                    render_alert(
                        story, item_snippet=new.stored.item.summary, spans=spans, watchlist=watchlist
                    )
                )
            render_s = time.perf_counter() - started
        finally:
            await db.close()
    return QueueRun(
        stories=len(generated),
        sources=sum(len(s.reports) for s in generated),
        calls=len(calls),
        messages=queued,
        queue_s=queue_s,
        render_s=render_s,
    )


def queue_figures(run: QueueRun) -> list[Figure]:
    """messages/s through queue_alerts, and what rendering alone costs per message."""
    params: tuple[tuple[str, ParamValue], ...] = (
        ("stories", run.stories),
        ("channels", len(CHANNELS)),
    )
    expected = run.stories * len(CHANNELS)
    return [
        Figure(
            bench="deliver",
            name="render+queue",
            value=run.messages / run.queue_s if run.queue_s > 0 else None,
            unit="messages/s",
            params=params,
            note=f"{run.messages:,} of {expected:,} alerts queued in {run.queue_s:.2f} s over {run.calls} "
            f"queue_alerts calls of {STORIES_PER_CALL} stories ({run.sources:,} stored sources)",
        ),
        Figure(
            bench="deliver",
            name="render+queue mean",
            value=run.queue_s / run.messages * 1e6 if run.messages else None,
            unit="µs/message",
            params=params,
        ),
        Figure(
            bench="deliver",
            name="render_alert + JSON alone",
            value=run.render_s / run.stories * 1e6 if run.stories else None,
            unit="µs/message",
            params=(("stories", run.stories),),
            note="the CPU part of queueing one alert; the rest is reading the story back and the outbox "
            "INSERT (aiosqlite thread hops)",
        ),
    ]


# ---------------------------------------------------------------------------------------------------------
# 2. end to end: feed server → poll → outbox → slack-sdk → fake Slack
# ---------------------------------------------------------------------------------------------------------


class TimedSlackApi(FakeSlackApi):
    """The fake Slack Web API, noting when each accepted chat.postMessage arrived (by its ``ts``)."""

    arrived_at: dict[str, float]

    def __init__(self) -> None:
        super().__init__()
        self.arrived_at = {}

    async def _post_message(self, call: SlackCall) -> SlackReply:
        arrived = time.perf_counter()  # the request has been read; the fake has not answered yet
        reply = await super()._post_message(call)
        ts = reply.body.get("ts")
        if reply.body.get("ok") and isinstance(ts, str):
            self.arrived_at[ts] = arrived
        return reply


@dataclass(frozen=True, slots=True, kw_only=True)
class EndToEndSpec:
    """The size of the end-to-end run."""

    feeds: int
    fraction: float  # of the feeds that publish new items before each round
    rounds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundTrace:
    """One round's new items followed to the fake: which alert carried each, and when it arrived."""

    latencies_ms: tuple[float, ...]  # per new item whose story's alert was posted in this round
    wall_ms: float  # poll_and_dispatch, start to return
    new_items: int
    tracked_items: int  # new items that name something tracked (so belong to a story)
    joined_earlier: int  # tracked items joining a story alerted in an earlier round: no new message
    not_delivered: int  # tracked items whose story's alert did not reach the fake in the round
    messages: int
    untraced_messages: int  # messages carrying no story of their round
    alerted: frozenset[int]  # stories whose alert arrived in this round


@dataclass(frozen=True, slots=True, kw_only=True)
class EndToEndRun:
    """What the end-to-end rounds saw."""

    spec: EndToEndSpec
    rounds: tuple[RoundTrace, ...]
    history_messages: int  # posted after the first (history) poll: should be none

    @property
    def latencies_ms(self) -> list[float]:
        return [value for r in self.rounds for value in r.latencies_ms]


def message_text(message: PostedMessage) -> str:
    """Everything a posted message says, to look a story's link up in."""
    return json.dumps(list(message.blocks), ensure_ascii=False) + "\n" + message.text


async def trace_round(
    results: Sequence[FeedPollResult],
    posted: Sequence[PostedMessage],
    *,
    started: float,
    wall_ms: float,
    arrived_at: Mapping[str, float],
    alerted_before: AbstractSet[int],
    stories: StoryRepository,
) -> RoundTrace:
    """Match the round's new items to the messages ``posted`` in it, by the link of their story's lead."""
    texts = [message_text(m) for m in posted]
    traced = [False] * len(posted)
    carrier: dict[int, int | None] = {}  # story id → position of the message that carried it
    latencies: list[float] = []
    new_items = tracked = joined_earlier = not_delivered = 0
    for new in (n for result in results for n in result.new_items):
        new_items += 1
        if new.story_id is None or new.match.is_empty:
            continue
        tracked += 1
        if new.story_id not in carrier:
            carrier[new.story_id] = None
            if new.story_id not in alerted_before:
                lead = lead_source(await stories.get(new.story_id))
                url = None if lead is None else lead.url
                for position, text in enumerate(texts):
                    if url and (url in text or url.replace("&", "&amp;") in text):
                        carrier[new.story_id] = position
                        traced[position] = True
                        break
        carried_by = carrier[new.story_id]
        if carried_by is not None:
            latencies.append((arrived_at[posted[carried_by].ts] - started) * 1000)
        elif new.story_id in alerted_before:
            joined_earlier += 1
        else:
            not_delivered += 1
    return RoundTrace(
        latencies_ms=tuple(latencies),
        wall_ms=wall_ms,
        new_items=new_items,
        tracked_items=tracked,
        joined_earlier=joined_earlier,
        not_delivered=not_delivered,
        messages=len(posted),
        untraced_messages=traced.count(False),
        alerted=frozenset(story for story, position in carrier.items() if position is not None),
    )


async def _end_to_end(spec: EndToEndSpec, *, seed: int, tmp: Path) -> EndToEndRun:
    progress(f"deliver: starting a feed server of {spec.feeds} feeds in another process")
    with FeedServerProcess(feeds=spec.feeds, items_per_feed=E2E_ITEMS_PER_FEED, seed=seed) as control:
        async with TimedSlackApi() as slack:
            config = parse_config(
                {
                    "storage": {"path": str(tmp / "e2e.db")},
                    # All feeds share 127.0.0.1: per_host raised to the global limit, as in the poll bench.
                    "fetch": {"allow_private_networks": True, "per_host": 50},
                    "feeds": [
                        {"url": url, "name": f"Outlet {i}", "interval": "15m"}
                        for i, url in enumerate(control.urls())
                    ],
                    "channels": [{"platform": "slack", "id": SLACK_CHANNEL, "mode": "alert"}],
                    "slack": {"api_base_url": slack.base_url},
                },
                base_dir=tmp,
                # The fake's own token, passed as the environment would; the process env is left alone.
                environ={"SLACK_BOT_TOKEN": slack.token},
            )
            config = dataclasses.replace(config, watchlist=reference_watchlist())
            clock = SteppedClock(E2E_START)
            async with await open_service(config, clock=clock, rng=random.Random(seed)) as service:
                await service.start_platforms()
                progress("deliver: first poll (history: stored, not alerted; starts the parse workers)")
                await service.poll_and_dispatch()
                history_messages = len(slack.messages)
                alerted: set[int] = set()
                rounds: list[RoundTrace] = []
                progress(f"deliver: {spec.rounds} rounds of new items on {spec.fraction:.0%} of the feeds")
                for _ in range(spec.rounds):
                    clock.now += E2E_INTERVAL
                    await asyncio.to_thread(control.advance, spec.fraction)
                    seen = len(slack.messages)
                    started = time.perf_counter()
                    results: list[FeedPollResult] = []
                    await service.poll_and_dispatch(on_result=results.append)
                    wall_ms = (time.perf_counter() - started) * 1000
                    trace = await trace_round(
                        results,
                        slack.messages[seen:],
                        started=started,
                        wall_ms=wall_ms,
                        arrived_at=slack.arrived_at,
                        alerted_before=alerted,
                        stories=service.poller.stories,
                    )
                    alerted |= trace.alerted
                    rounds.append(trace)
    return EndToEndRun(spec=spec, rounds=tuple(rounds), history_messages=history_messages)


def end_to_end_figures(run: EndToEndRun) -> list[Figure]:
    """p50 / p95 / max from poll start to the fake's receipt, and the per-round wall time."""
    spec = run.spec
    params: tuple[tuple[str, ParamValue], ...] = (
        ("feeds", spec.feeds),
        ("rounds", spec.rounds),
        ("changed", f"{spec.fraction:.0%}"),
    )
    values = run.latencies_ms
    rounds = run.rounds
    health = (
        f"{len(values):,} delivered items of {sum(r.new_items for r in rounds):,} new "
        f"({sum(r.tracked_items for r in rounds):,} tracked; {sum(r.joined_earlier for r in rounds)} joined "
        f"stories alerted earlier; {sum(r.not_delivered for r in rounds)} not delivered in their round); "
        f"{sum(r.messages for r in rounds):,} messages, {sum(r.untraced_messages for r in rounds)} "
        f"untraced, {run.history_messages} after the history poll"
    )
    p95 = percentile(values, 0.95)
    return [
        Figure(
            bench="deliver",
            name="new item → fake Slack p50",
            value=percentile(values, 0.5),
            unit="ms",
            params=params,
        ),
        Figure(
            bench="deliver",
            name="new item → fake Slack p95",
            value=p95,
            unit="ms",
            params=params,
            target=at_most(LATENCY_TARGET_MS, f"<= {LATENCY_TARGET_MS:,.0f} ms"),
            note=health,
        ),
        Figure(
            bench="deliver",
            name="new item → fake Slack max",
            value=max(values) if values else None,
            unit="ms",
            params=params,
        ),
        Figure(
            bench="deliver",
            name="poll_and_dispatch round p50",
            value=percentile([r.wall_ms for r in run.rounds], 0.5),
            unit="ms",
            params=params,
        ),
    ]


def end_to_end(spec: EndToEndSpec, *, seed: int) -> EndToEndRun:
    """The end-to-end rounds in a temporary directory."""

    async def measure() -> EndToEndRun:
        with tempfile.TemporaryDirectory(prefix="diplowatch-deliver-e2e-") as tmp:
            return await _end_to_end(spec, seed=seed, tmp=Path(tmp))

    return asyncio.run(measure())


def run(*, quick: bool, seed: int) -> Section:
    """The deliver benchmark."""
    stories = 1_000 if quick else 10_000
    progress(f"deliver: generating and storing {stories:,} stories")
    queued = asyncio.run(_queue_run(stories=stories, seed=seed))
    spec = (
        EndToEndSpec(feeds=20, fraction=0.2, rounds=20)
        if quick
        else EndToEndSpec(feeds=100, fraction=0.1, rounds=100)
    )
    e2e = end_to_end(spec, seed=seed)
    return Section(
        title="deliver: Dispatcher.queue_alerts (render → outbox) and new item → fake Slack end to end",
        figures=(*queue_figures(queued), *end_to_end_figures(e2e)),
        notes=(
            "render+queue: generated diplomatic stories (20% Russian) of 1-3 sources each, stored with "
            "ItemRepository.add_items, StoryRepository.add_members and MatchRepository.save_many in a "
            f"temporary SQLite file; every story is new and wanted by all {len(CHANNELS)} channels "
            "(Slack, Discord, console; '*' filters), so each queues one alert per channel.",
            "end to end: bot.service.open_service with the production defaults (parse workers: one process "
            "per CPU but one, outbox batch 100) except per_host=50 and allow_private_networks=true; one "
            "Slack alert channel; the real slack-sdk client posts to tests/fakes/slack_api.py on 127.0.0.1. "
            f"The feed server ({E2E_ITEMS_PER_FEED} items/feed, {NEW_ITEMS_PER_ADVANCE} new items on each "
            "changed feed per round) runs in another process; the bot, its outbox and the fake Slack share "
            "one event loop.",
            "Latency is per new item from the start of the poll_and_dispatch that fetches it (the poll "
            "interval is excluded: the injected clock makes every feed due at once) to the moment the fake "
            "reads the chat.postMessage carrying its story; items joining a story already alerted in an "
            "earlier round send nothing and are not counted. The first poll is history and alerts nothing.",
            "Timings vary with the machine's load: compare within one run.",
        ),
    )
