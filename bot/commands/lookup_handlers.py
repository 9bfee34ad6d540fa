"""Look-ups anyone may run: search, actor, topic, digest preview, feeds, watchlist and status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.commands.call import CommandCall, CommandSettings, Repositories
from bot.commands.formatting import (
    format_age,
    format_interval,
    format_time,
    shorten,
    sparkline,
    story_line,
)
from bot.commands.replies import Reply, ReplyBlock
from bot.commands.resolve import resolve_actor, resolve_topic
from bot.outbox import settings_to_channel
from bot.render import render_digest
from bot.routing import channel_wants, digest_period, next_digest_at
from feeds.errors import CommandError
from feeds.models import Actor, Story, StorySource, Topic
from storage.feeds import FeedHealth
from storage.items import SearchHit, fts_query
from storage.lookups import TargetKind
from storage.subscriptions import ChannelSettings

ACTIVITY_DAYS = 14
RECENT_STORIES = 5
SEARCH_BATCH = 100
SEARCH_MAX_HITS = 500
DIGEST_PREVIEW_STORIES = 25
DIGEST_SCAN_STORIES = 1000
FEEDS_PAGE = 15
WATCHLIST_PAGE = 20


class LookupHandlers:
    """Read-only answers; none of them writes to the database."""

    def __init__(self, repos: Repositories, settings: CommandSettings) -> None:
        self._repos = repos
        self._settings = settings

    async def search(self, call: CommandCall) -> Reply:
        """Stories whose items match the words, best first, one line each, a page at a time."""
        args = call.args
        query = args.text("query")
        if fts_query(query) is None:
            raise CommandError("search needs at least one word with letters or digits")
        watchlist = await self._repos.watchlists.load()
        actor = args.optional_text("actor")
        topic = args.optional_text("topic")
        actor_id = None if actor is None else resolve_actor(watchlist, actor).id
        topic_id = None if topic is None else resolve_topic(watchlist, topic).id
        since_s = args.optional_int("since")
        since = None if since_s is None else call.now - timedelta(seconds=since_s)
        offset = args.optional_int("offset") or 0
        size = self._settings.page_size
        groups = await self._grouped_hits(
            query,
            wanted=offset + size + 1,
            since=since,
            source=args.optional_text("source"),
            actor=actor_id,
            topic=topic_id,
        )
        page = groups[offset : offset + size]
        filters = [
            f"{name}:{value}"
            for name, value in (
                ("actor", actor_id),
                ("topic", topic_id),
                ("source", args.optional_text("source")),
            )
            if value
        ]
        if since is not None:
            filters.append(f"since {format_time(since)}")
        described = f"“{shorten(query, 80)}”" + (f" ({', '.join(filters)})" if filters else "")
        if not page:
            nothing = "No stored item matches" if offset == 0 else "No more results for"
            return Reply(
                title=f"Search {described}",
                ephemeral=not call.public,
                blocks=(ReplyBlock(lines=(f"{nothing} {described}.",)),),
            )
        lines = []
        for hits in page:
            story_id = hits[0].item.story_id
            story = None if story_id is None else await self._repos.stories.get(story_id)
            lines.append(story_line(story if story is not None else _lone_item_story(hits[0])))
        more = len(groups) > offset + size
        return Reply(
            title=f"Search {described}: stories {offset + 1}–{offset + len(page)}",
            blocks=(ReplyBlock(lines=tuple(lines)),),
            ephemeral=not call.public,
            next_page=call.page(offset + size) if more else None,
        )

    async def _grouped_hits(
        self,
        query: str,
        *,
        wanted: int,
        since: datetime | None,
        source: str | None,
        actor: str | None,
        topic: str | None,
    ) -> list[list[SearchHit]]:
        # Hits come ranked per item; a story is placed where its best item ranks, and the scan goes on until
        # enough distinct stories are known, so pages never repeat a story.
        groups: dict[tuple[str, int], list[SearchHit]] = {}
        scanned = 0
        while len(groups) < wanted and scanned < SEARCH_MAX_HITS:
            batch = await self._repos.items.search(
                query,
                limit=SEARCH_BATCH,
                offset=scanned,
                since=since,
                source=source,
                actor=actor,
                topic=topic,
            )
            for hit in batch:
                story_id = hit.item.story_id
                key = ("story", story_id) if story_id is not None else ("item", hit.item.id)
                groups.setdefault(key, []).append(hit)
            scanned += len(batch)
            if len(batch) < SEARCH_BATCH:
                break
        return list(groups.values())

    async def actor(self, call: CommandCall) -> Reply:
        """An actor: what it is, how often it was mentioned per day, and its latest stories."""
        watchlist = await self._repos.watchlists.load()
        actor = resolve_actor(watchlist, call.args.text("name"))
        about = [f"Kind: {actor.kind}"]
        aliases = (*actor.aliases, *actor.exact_case_aliases)
        if aliases:
            about.append(f"Aliases: {', '.join(aliases)}")
        return await self._activity(call, "actor", actor, about)

    async def topic(self, call: CommandCall) -> Reply:
        """A topic: its phrases, how often it was mentioned per day, and its latest stories."""
        watchlist = await self._repos.watchlists.load()
        topic = resolve_topic(watchlist, call.args.text("name"))
        return await self._activity(call, "topic", topic, _topic_rules(topic))

    async def _activity(
        self, call: CommandCall, kind: TargetKind, target: Actor | Topic, about: Sequence[str]
    ) -> Reply:
        counts = await self._repos.lookups.mentions_per_day(kind, target.id, now=call.now, days=ACTIVITY_DAYS)
        total = sum(counts)
        noun = "mention" if total == 1 else "mentions"
        activity = [f"Last {ACTIVITY_DAYS} days: {sparkline(counts)}  {total} {noun}"]
        if total:
            busiest = max(range(len(counts)), key=lambda i: (counts[i], i))
            day = call.now - timedelta(days=len(counts) - 1 - busiest)
            activity.append(f"Per day (oldest first): {' '.join(str(c) for c in counts)}")
            activity.append(f"Busiest: {counts[busiest]} in the 24 h up to {format_time(day)}")
        story_ids = await self._repos.lookups.story_ids_for(kind, target.id, limit=RECENT_STORIES)
        stories = [await self._repos.stories.get(story_id) for story_id in story_ids]
        recent = tuple(story_line(s) for s in stories) or ("No stored story names it yet.",)
        return Reply(
            title=f"{target.name} ({target.id})",
            blocks=(
                ReplyBlock(lines=tuple(about)),
                ReplyBlock(heading="Activity", lines=tuple(activity)),
                ReplyBlock(heading="Recent stories", lines=recent),
            ),
            ephemeral=not call.public,
        )

    async def digest(self, call: CommandCall) -> Reply:
        """What this channel's next digest would hold if it went out now."""
        context = call.context
        subscription = await self._repos.subscriptions.get(context.platform, context.channel_id)
        if subscription is None:
            raise CommandError("this channel is not subscribed; an admin can run `/diplowatch subscribe`")
        channel = settings_to_channel(subscription.settings)
        if channel.mode == "alert":
            note = (
                "This channel gets alerts only (mode alert), so it has no digest. "
                "An admin can change that with `/diplowatch subscribe mode:both`."
            )
            return Reply(
                title="Digest preview", blocks=(ReplyBlock(lines=(note,)),), ephemeral=not call.public
            )
        period = digest_period(channel, call.now, last_end=subscription.last_digest_end)
        stories = [
            s
            for s in await self._repos.stories.recent(period.start, limit=DIGEST_SCAN_STORIES)
            if s.first_seen < period.end and channel_wants(channel, s.actors, s.topics, s.score)
        ]
        watchlist = await self._repos.watchlists.load()
        message = render_digest(
            stories,
            period_start=period.start,
            period_end=period.end,
            timezone=channel.timezone,
            watchlist=watchlist,
            channel_actors=channel.actors,
            channel_topics=channel.topics,
            max_stories=DIGEST_PREVIEW_STORIES,
        )
        upcoming = f"Next digest: {format_time(next_digest_at(channel, call.now), channel.timezone)}"
        if message is None:
            since = format_time(period.start, channel.timezone)
            nothing = f"Nothing for the next digest yet (since {since})."
            return Reply(
                title="Digest preview",
                blocks=(ReplyBlock(lines=(nothing, upcoming)),),
                ephemeral=not call.public,
            )
        blocks = [ReplyBlock(lines=(upcoming,))]
        for section in message.sections:
            lines = tuple(
                f"• {shorten(s.title)}"
                + (f" — {s.source}" if s.source else "")
                + (f" · {s.url}" if s.url else "")
                for s in section.stories
            )
            blocks.append(ReplyBlock(heading=section.heading, lines=lines))
        if message.note:
            blocks.append(ReplyBlock(lines=(message.note,)))
        return Reply(title=f"Preview — {message.heading}", blocks=tuple(blocks), ephemeral=not call.public)

    async def feeds(self, call: CommandCall) -> Reply:
        """Every feed with its health, a page at a time."""
        health = await self._repos.feeds.health(call.now)
        offset = call.args.optional_int("offset") or 0
        page = health[offset : offset + FEEDS_PAGE]
        if not health:
            lines: tuple[str, ...] = ("No feeds yet. An admin can add one: `/diplowatch feeds add <url>`.",)
        else:
            lines = tuple(_feed_line(h, call) for h in page) or ("No more feeds.",)
        paused = sum(1 for h in health if h.feed.paused)
        failing = sum(1 for h in health if h.feed.consecutive_failures > 0)
        title = f"Feeds: {len(health)} ({paused} paused, {failing} failing)"
        more = len(health) > offset + FEEDS_PAGE
        return Reply(
            title=title,
            blocks=(ReplyBlock(lines=lines),),
            ephemeral=not call.public,
            next_page=call.page(offset + FEEDS_PAGE) if more else None,
        )

    async def watchlist(self, call: CommandCall) -> Reply:
        """Tracked actors with aliases and topics with phrases, a page at a time."""
        watchlist = await self._repos.watchlists.load()
        entries = [("Actors", _actor_line(a)) for a in watchlist.actors]
        entries += [("Topics", _topic_line(t)) for t in watchlist.topics]
        offset = call.args.optional_int("offset") or 0
        page = entries[offset : offset + WATCHLIST_PAGE]
        blocks: list[ReplyBlock] = []
        for heading, line in page:
            if blocks and blocks[-1].heading == heading:
                blocks[-1] = ReplyBlock(heading=heading, lines=(*blocks[-1].lines, line))
            else:
                blocks.append(ReplyBlock(heading=heading, lines=(line,)))
        if not entries:
            blocks = [
                ReplyBlock(
                    lines=(
                        "The watchlist is empty. An admin can add to it with "
                        "`/diplowatch watch add-actor` or `watch add-topic`.",
                    )
                )
            ]
        more = len(entries) > offset + WATCHLIST_PAGE
        title = f"Watchlist: {len(watchlist.actors)} actors, {len(watchlist.topics)} topics"
        return Reply(
            title=title,
            blocks=tuple(blocks),
            ephemeral=not call.public,
            next_page=call.page(offset + WATCHLIST_PAGE) if more else None,
        )

    async def status(self, call: CommandCall) -> Reply:
        """Counts of what is tracked and stored, delivery backlog and this channel's subscription."""
        counts = await self._repos.lookups.status_counts(call.now)
        watchlist = await self._repos.watchlists.load()
        version = await self._repos.watchlists.version()
        last = "never" if counts.last_success_at is None else format_age(counts.last_success_at, call.now)
        lines = [
            f"Feeds: {counts.feeds} ({counts.paused_feeds} paused, {counts.failing_feeds} failing); "
            f"last successful fetch {last}",
            f"Items: {counts.items} ({counts.items_last_day} published in the last 24 h); "
            f"stories: {counts.stories}",
            f"Watchlist: {len(watchlist.actors)} actors, {len(watchlist.topics)} topics (version {version})",
            f"Outbox: {counts.outbox_pending} pending, {counts.outbox_failed} failed",
        ]
        subscription = await self._repos.subscriptions.get(call.context.platform, call.context.channel_id)
        channel = ["Not subscribed."]
        if subscription is not None:
            channel = list(describe_settings(subscription.settings))
        if subscription is not None and subscription.failing:
            channel.append(f"Delivery is failing: {subscription.last_error or 'unknown error'}")
        return Reply(
            title="diplowatch status",
            blocks=(ReplyBlock(lines=tuple(lines)), ReplyBlock(heading="This channel", lines=tuple(channel))),
            ephemeral=not call.public,
        )


def describe_settings(settings: ChannelSettings) -> tuple[str, ...]:
    """A channel's subscription in a few lines."""
    quiet = settings.quiet_hours
    lines = [
        f"Mode: {settings.mode}; min score {settings.min_score:g}",
        f"Actors: {', '.join(settings.actors)}; topics: {', '.join(settings.topics)}",
    ]
    if settings.mode != "alert":
        lines.append(f"Digest: cron '{settings.digest_cron}' in {settings.timezone}")
    else:
        lines.append(f"Timezone: {settings.timezone}")
    if quiet is not None:
        lines.append(f"Quiet hours: {quiet[0]:%H:%M}–{quiet[1]:%H:%M}")
    return tuple(lines)


def _feed_line(health: FeedHealth, call: CommandCall) -> str:
    feed = health.feed
    if feed.paused:
        state = "paused"
    elif feed.consecutive_failures > 0:
        when = "" if feed.last_error_at is None else f" {format_age(feed.last_error_at, call.now)}"
        error = shorten(feed.last_error or "unknown error", 120)
        state = f"failing ×{feed.consecutive_failures}{when}: {error}"
    elif feed.last_success_at is not None:
        state = f"ok, last success {format_age(feed.last_success_at, call.now)}"
    else:
        state = "not polled yet"
    origin = " · added from chat" if health.origin == "chat" else ""
    return (
        f"#{feed.id} {shorten(feed.name, 80)} — {state} · {health.average_per_day:.1f} items/day · "
        f"every {format_interval(feed.interval_s)}{origin}"
    )


def _actor_line(actor: Actor) -> str:
    parts = [f"{actor.name} ({actor.id}, {actor.kind})"]
    if actor.aliases:
        parts.append(f"aliases: {', '.join(actor.aliases)}")
    if actor.exact_case_aliases:
        parts.append(f"exact case: {', '.join(actor.exact_case_aliases)}")
    if actor.not_near:
        parts.append(f"not near: {', '.join(actor.not_near)}")
    return shorten(" · ".join(parts), 400)


def _topic_rules(topic: Topic, *, capital: bool = True) -> list[str]:
    labels = ("Any of", "All of", "None of") if capital else ("any of", "all of", "none of")
    return [
        f"{label}: {', '.join(phrases)}"
        for label, phrases in zip(labels, (topic.any, topic.all, topic.none), strict=True)
        if phrases
    ]


def _topic_line(topic: Topic) -> str:
    return shorten(" · ".join([f"{topic.name} ({topic.id})", *_topic_rules(topic, capital=False)]), 400)


def _lone_item_story(hit: SearchHit) -> Story:
    item = hit.item.item
    return Story(
        id=0,
        key=item.identity,
        title=item.title,
        first_seen=item.published,
        sources=(StorySource(source=item.source, title=item.title, url=item.url, published=item.published),),
    )
