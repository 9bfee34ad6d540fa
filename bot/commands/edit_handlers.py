"""Admin edits: watchlist, feeds, this channel's subscription, import/export and the audit log.

Each edit runs in one transaction that also writes its audit row, so an edit that fails at any step leaves
nothing behind. Watchlist edits go through the WatchlistRepository, which bumps the watchlist version; the
poller rebuilds its classifier from that before its next poll.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import time
from urllib.parse import urlsplit

from bot.commands.call import CommandCall, CommandSettings, FeedAddedHook, Repositories
from bot.commands.formatting import format_interval, format_time, shorten
from bot.commands.invocation import Invocation, RawArgument
from bot.commands.lookup_handlers import describe_settings
from bot.commands.probe import FeedProbe, ProbeResult
from bot.commands.replies import Attachment, Confirmation, Reply, ReplyBlock
from bot.commands.resolve import (
    alias_owner,
    check_name,
    check_phrases,
    check_watchlist,
    make_id,
    resolve_actor,
    resolve_actor_or_topic,
    resolve_feed,
    resolve_topic,
)
from bot.commands.specs import MAX_ALIASES, MAX_NAME_CHARS, MAX_PHRASES
from bot.commands.tokens import ExpiringTokens
from bot.config import check_cron, parse_quiet_hours
from bot.outbox import settings_to_channel
from bot.routing import next_digest_at
from bot.watchlist_sync import WatchlistDiff, diff_watchlists
from feeds.errors import CommandError, ConfigError, FeedError
from feeds.fetch import is_refused_address
from feeds.models import Actor, ActorKind, FeedSource, FeedState, Topic, Watchlist
from feeds.textnorm import fold
from feeds.watchlist_file import dump_watchlist, parse_watchlist
from storage.subscriptions import ChannelSettings, SubscriptionMode

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 30
MAX_INTERVAL_S = 7 * 86400
EMPTY_LIST = "-"
WILDCARD = "*"
EXPORT_FILENAME = "diplowatch-watchlist.toml"
_CODE_FENCE = re.compile(r"\A```[A-Za-z]*\s*\n?(.*?)\n?```\Z", re.DOTALL)
_SUBSCRIBE_OPTIONS = ("actors", "topics", "mode", "min_score", "digest_cron", "timezone", "quiet_hours")


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingImport:
    """A previewed import waiting for confirmation by the user who asked for it."""

    watchlist: Watchlist
    base_version: int
    platform: str
    user_id: str
    diff: WatchlistDiff


class EditHandlers:
    """Handlers that change stored state; each one is one transaction with its audit row."""

    def __init__(
        self,
        repos: Repositories,
        settings: CommandSettings,
        *,
        probe: FeedProbe,
        on_feed_added: FeedAddedHook | None,
        pending_imports: ExpiringTokens[PendingImport],
    ) -> None:
        self._repos = repos
        self._settings = settings
        self._probe = probe
        self._on_feed_added = on_feed_added
        self._pending = pending_imports

    async def _audit(self, call: CommandCall, detail: str) -> None:
        await self._repos.audit.record(
            actor_user=call.context.who, platform=call.context.platform, command=call.spec.name,
            detail=detail, now=call.now,
        )

    # -- watchlist ---------------------------------------------------------------------------------------

    async def add_actor(self, call: CommandCall) -> Reply:
        """Track a new actor; its name is its first alias."""
        args = call.args
        name = check_name(args.text("name"), "the actor's name")
        kind = _actor_kind(args.optional_text("kind") or "person")
        given = [a for a in args.strings("aliases") or () if fold(a) != fold(name)]
        aliases = check_phrases([name, *given], "alias", limit=MAX_ALIASES)
        async with self._repos.db.transaction():
            watchlist = await self._repos.watchlists.load()
            actor_id = make_id(name, args.optional_text("id"), (a.id for a in watchlist.actors), "actor")
            for alias in aliases:
                owner = alias_owner(watchlist, alias, besides=actor_id)
                if owner is not None:
                    raise _alias_taken(alias, owner)
            actor = Actor(id=actor_id, name=name, kind=kind, aliases=aliases)
            check_watchlist(Watchlist(actors=(*watchlist.actors, actor), topics=watchlist.topics))
            await self._repos.watchlists.add_actor(actor)
            await self._audit(call, f"added actor {actor_id} ({name}, {kind}); aliases: {', '.join(aliases)}")
        return _done(f"Now tracking {name} ({actor_id})",
                     f"Kind: {kind}", f"Aliases: {', '.join(aliases)}", _TAKES_EFFECT)

    async def add_alias(self, call: CommandCall) -> Reply:
        """Add one alias (optionally exact-case) to a tracked actor."""
        alias = check_name(call.args.text("alias"), "the alias")
        exact = call.args.flag("exact")
        async with self._repos.db.transaction():
            watchlist = await self._repos.watchlists.load()
            actor = resolve_actor(watchlist, call.args.text("actor"))
            current = (*actor.aliases, *actor.exact_case_aliases)
            if any(fold(a) == fold(alias) for a in current):
                raise CommandError(f"actor {actor.id!r} already has the alias {alias!r}")
            if len(current) >= MAX_ALIASES:
                raise CommandError(f"actor {actor.id!r} already has {MAX_ALIASES} aliases, the most allowed")
            owner = alias_owner(watchlist, alias, besides=actor.id)
            if owner is not None:
                raise _alias_taken(alias, owner)
            changed = (
                dataclasses.replace(actor, exact_case_aliases=(*actor.exact_case_aliases, alias)) if exact
                else dataclasses.replace(actor, aliases=(*actor.aliases, alias))
            )
            check_watchlist(_with_actor(watchlist, changed))
            await self._repos.watchlists.add_alias(actor.id, alias, exact_case=exact)
            what = "exact-case alias" if exact else "alias"
            await self._audit(call, f"actor {actor.id}: added {what} {alias!r}")
        return _done(f"Added alias {alias!r} to {actor.name} ({actor.id})",
                     "It matches only with exactly this capitalisation." if exact else "", _TAKES_EFFECT)

    async def remove_alias(self, call: CommandCall) -> Reply:
        """Remove one alias from a tracked actor (not its last one)."""
        wanted = check_name(call.args.text("alias"), "the alias")
        async with self._repos.db.transaction():
            watchlist = await self._repos.watchlists.load()
            actor = resolve_actor(watchlist, call.args.text("actor"))
            current = (*actor.aliases, *actor.exact_case_aliases)
            stored = next((a for a in current if a == wanted), None) or next(
                (a for a in current if fold(a) == fold(wanted)), None
            )
            if stored is None:
                listed = ", ".join(current) or "none"
                raise CommandError(f"actor {actor.id!r} has no alias {wanted!r} (its aliases: {listed})")
            if len(current) == 1:
                raise CommandError(
                    f"{stored!r} is the last alias of {actor.id!r}; an actor needs one. Add another first, "
                    f"or stop tracking it with `/diplowatch watch remove {actor.id}`"
                )
            await self._repos.watchlists.remove_alias(actor.id, stored)
            await self._audit(call, f"actor {actor.id}: removed alias {stored!r}")
        return _done(f"Removed alias {stored!r} from {actor.name} ({actor.id})", _TAKES_EFFECT)

    async def remove(self, call: CommandCall) -> Reply:
        """Stop tracking an actor or a topic."""
        async with self._repos.db.transaction():
            watchlist = await self._repos.watchlists.load()
            target = resolve_actor_or_topic(watchlist, call.args.text("target"))
            is_actor = isinstance(target, Actor)
            if is_actor:
                await self._repos.watchlists.remove_actor(target.id)
            else:
                await self._repos.watchlists.remove_topic(target.id)
            what = "actor" if is_actor else "topic"
            await self._audit(call, f"removed {what} {target.id} ({target.name})")
            subscriptions = await self._repos.subscriptions.all()
        filtering = [
            f"{s.settings.platform}:{s.settings.channel_id}" for s in subscriptions
            if target.id in (s.settings.actors if is_actor else s.settings.topics)
        ]
        note = (f"Channels still filtering on it (they will get nothing for it): {', '.join(filtering)}"
                if filtering else "")
        return _done(f"Stopped tracking {what} {target.name} ({target.id})", note, _TAKES_EFFECT)

    async def add_topic(self, call: CommandCall) -> Reply:
        """Track a new topic from its any/all/none phrases."""
        args = call.args
        name = check_name(args.text("name"), "the topic's name")
        topic_any = check_phrases(args.strings("phrases") or (), "phrase", limit=MAX_PHRASES)
        topic_all = check_phrases(args.strings("all") or (), "phrase", limit=MAX_PHRASES)
        topic_none = check_phrases(args.strings("none") or (), "phrase", limit=MAX_PHRASES)
        async with self._repos.db.transaction():
            watchlist = await self._repos.watchlists.load()
            topic_id = make_id(name, args.optional_text("id"), (t.id for t in watchlist.topics), "topic")
            topic = Topic(id=topic_id, name=name, any=topic_any, all=topic_all, none=topic_none)
            check_watchlist(Watchlist(actors=watchlist.actors, topics=(*watchlist.topics, topic)))
            await self._repos.watchlists.add_topic(topic)
            await self._audit(call, f"added topic {topic_id} ({name}); {_topic_summary(topic)}")
        return _done(f"Now tracking topic {name} ({topic_id})", _topic_summary(topic), _TAKES_EFFECT)

    async def edit_topic(self, call: CommandCall) -> Reply:
        """Replace the given phrase lists (``-`` empties all/none) or the name of a topic."""
        args = call.args
        if not any(args.given(name) for name in ("any", "all", "none", "name")):
            raise CommandError("nothing to change: give any:, all:, none: or name:")
        async with self._repos.db.transaction():
            watchlist = await self._repos.watchlists.load()
            topic = resolve_topic(watchlist, args.text("topic"))
            new_name = args.optional_text("name")
            changed = Topic(
                id=topic.id,
                name=topic.name if new_name is None else check_name(new_name, "the topic's name"),
                any=_phrase_list(args.strings("any"), topic.any, "any", may_empty=False),
                all=_phrase_list(args.strings("all"), topic.all, "all", may_empty=True),
                none=_phrase_list(args.strings("none"), topic.none, "none", may_empty=True),
            )
            if changed == topic:
                return _done(f"Topic {topic.name} ({topic.id}) already reads so; nothing changed")
            check_watchlist(_with_topic(watchlist, changed))
            await self._repos.watchlists.update_topic(changed)
            await self._audit(call, f"edited topic {topic.id}: {_topic_summary(changed)}"
                              + (f"; renamed from {topic.name!r}" if changed.name != topic.name else ""))
        return _done(f"Updated topic {changed.name} ({changed.id})", _topic_summary(changed), _TAKES_EFFECT)

    # -- feeds -------------------------------------------------------------------------------------------

    async def add_feed(self, call: CommandCall) -> Reply:
        """Fetch the feed once to check it, then start polling it (and poll it at once)."""
        args = call.args
        url = args.text("url")
        self._refuse_private_host(url)
        interval = args.optional_int("interval")
        interval_s = self._settings.default_interval_s if interval is None else interval
        if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
            raise CommandError(f"interval must be between {MIN_INTERVAL_S} s and 7 d, not {interval_s} s")
        every = format_interval(interval_s)
        existing = await self._repos.feeds.by_url(url)
        if existing is not None:
            raise CommandError(f"that feed is already tracked as #{existing.id} {existing.name}")
        try:
            probed = await self._probe(url)
        except FeedError as e:
            raise CommandError(f"{url} cannot be used as a feed: {e}") from e
        given_name = args.optional_text("name")
        # A feed's own title is not the admin's to fix, so it is shortened rather than refused.
        found_name = shorten(probed.title or urlsplit(url).hostname or url, MAX_NAME_CHARS)
        name = check_name(given_name or found_name, "the feed's name")
        async with self._repos.db.transaction():
            if await self._repos.feeds.by_url(url) is not None:
                raise CommandError("that feed was just added by someone else")
            feed = await self._repos.feeds.add(
                FeedSource(url=url, name=name, interval_s=interval_s), call.now, origin="chat"
            )
            await self._audit(call, f"added feed #{feed.id} {name} <{url}> every {every}")
        first_poll = await self._first_poll(feed)
        lines = _probe_lines(probed)
        return _done(f"Added feed #{feed.id} {name}", f"Polled every {every}; {first_poll}", *lines)

    async def _first_poll(self, feed: FeedState) -> str:
        if self._on_feed_added is None:
            return "first poll with the next round."
        try:
            await self._on_feed_added(feed)
        except Exception:
            # The feed is stored and will be polled on schedule; the admin needs no stack trace.
            log.exception("polling newly added feed %s failed", feed.url)
            return "the first poll failed to start, so it waits for the next round."
        return "first poll now."

    def _refuse_private_host(self, url: str) -> None:
        if self._settings.allow_private_networks:
            return
        host = (urlsplit(url).hostname or "").strip("[]").casefold()
        if host == "localhost" or host.endswith(".localhost"):
            raise CommandError(f"{url} points at this machine; only public feeds can be added")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return  # a host name: the fetcher checks every address it resolves to
        if is_refused_address(address):
            raise CommandError(
                f"{url} points at a private or loopback address ({address}); only public feeds can be added "
                "(set fetch.allow_private_networks = true to allow them)"
            )

    async def remove_feed(self, call: CommandCall) -> Reply:
        """Stop polling a feed and delete its items."""
        async with self._repos.db.transaction():
            health = await self._repos.feeds.health(call.now)
            feed = resolve_feed([h.feed for h in health], call.args.text("feed"))
            origin = next(h.origin for h in health if h.feed.id == feed.id)
            await self._repos.feeds.remove(feed.id)
            await self._audit(call, f"removed feed #{feed.id} {feed.name} <{feed.url}>")
        note = ("It comes from the config file and will be back at the next restart unless it is removed "
                "there too." if origin == "config" else "")
        return _done(f"Removed feed #{feed.id} {feed.name} and its items", note)

    async def pause_feed(self, call: CommandCall) -> Reply:
        """Stop polling a feed for now."""
        return await self._set_paused(call, paused=True)

    async def resume_feed(self, call: CommandCall) -> Reply:
        """Poll a paused feed again."""
        return await self._set_paused(call, paused=False)

    async def _set_paused(self, call: CommandCall, *, paused: bool) -> Reply:
        verb = "paused" if paused else "resumed"
        async with self._repos.db.transaction():
            feed = resolve_feed(await self._repos.feeds.all(), call.args.text("feed"))
            if feed.paused == paused:
                state = "paused" if paused else "being polled"
                return _done(f"Feed #{feed.id} {feed.name} is already {state}")
            await self._repos.feeds.set_paused(feed.id, paused)
            await self._audit(call, f"{verb} feed #{feed.id} {feed.name}")
        return _done(f"Feed #{feed.id} {feed.name} {verb}")

    # -- this channel ------------------------------------------------------------------------------------

    async def subscribe(self, call: CommandCall) -> Reply:
        """Create or change this channel's subscription; options not given keep their value."""
        context = call.context
        async with self._repos.db.transaction():
            subscriptions = await self._repos.subscriptions.all()
            mine = next(
                (s for s in subscriptions
                 if s.settings.platform == context.platform and s.settings.channel_id == context.channel_id),
                None,
            )
            base = mine.settings if mine is not None else ChannelSettings(
                platform=context.platform, channel_id=context.channel_id
            )
            watchlist = await self._repos.watchlists.load()
            settings = _apply_subscription(call, base, watchlist)
            if mine is not None and settings == mine.settings:
                return _done("This channel's subscription already reads so; nothing changed",
                             *describe_settings(settings))
            await self._repos.subscriptions.upsert(settings, "chat", call.now)
            given = [name for name in _SUBSCRIBE_OPTIONS if call.args.given(name)]
            verb = "changed" if mine is not None else "subscribed"
            await self._audit(call, f"{verb} {context.platform}:{context.channel_id} "
                              f"({', '.join(given) or 'defaults'}): {'; '.join(describe_settings(settings))}")
        lines = list(describe_settings(settings))
        if settings.mode != "alert":
            upcoming = next_digest_at(settings_to_channel(settings), call.now)
            lines.append(f"Next digest: {format_time(upcoming, settings.timezone)}")
        title = "Subscription updated" if mine is not None else "This channel is now subscribed"
        return _done(title, *lines)

    async def unsubscribe(self, call: CommandCall) -> Reply:
        """Remove this channel's subscription."""
        context = call.context
        async with self._repos.db.transaction():
            if not await self._repos.subscriptions.remove(context.platform, context.channel_id):
                raise CommandError("this channel is not subscribed")
            await self._audit(call, f"unsubscribed {context.platform}:{context.channel_id}")
        return _done("This channel is unsubscribed", "It gets no more alerts or digests.")

    # -- import / export / audit -------------------------------------------------------------------------

    async def export(self, call: CommandCall) -> Reply:
        """The stored watchlist as a TOML file in the schema ``import`` reads."""
        watchlist = await self._repos.watchlists.load()
        text = dump_watchlist(watchlist)
        return Reply(
            title=f"Watchlist export: {len(watchlist.actors)} actors, {len(watchlist.topics)} topics",
            blocks=(ReplyBlock(lines=(f"Attached as {EXPORT_FILENAME}; edit it and send it back with "
                                      "`/diplowatch import`.",)),),
            attachment=Attachment(filename=EXPORT_FILENAME, content=text.encode("utf-8"),
                                  media_type="application/toml"),
        )

    async def import_preview(self, call: CommandCall) -> Reply:
        """Check a TOML watchlist and show what importing it would change; applying it waits for a confirm."""
        watchlist = _read_watchlist_toml(call.args.text("toml"))
        current = await self._repos.watchlists.load()
        version = await self._repos.watchlists.version()
        diff = diff_watchlists(current, watchlist)
        if diff.is_empty:
            return _done("Nothing to import", "The TOML holds exactly the current watchlist.")
        pending = PendingImport(watchlist=watchlist, base_version=version, platform=call.context.platform,
                                user_id=call.context.user_id, diff=diff)
        token, expires_at = self._pending.put(pending)
        confirm = Invocation(path=("import", "confirm"), arguments=(RawArgument(name="token", value=token),))
        minutes = int(self._pending.ttl.total_seconds() // 60)
        return Reply(
            title=f"Import preview: {_diff_counts(diff)}",
            blocks=_diff_blocks(current, diff),
            confirmation=Confirmation(
                prompt=(f"Apply these changes? The imported file replaces the whole watchlist. This preview "
                        f"expires in {minutes} min."),
                token=token,
                invocation=confirm,
                command_line=f"import confirm {token}",
                expires_at=expires_at,
                cancel_command_line=f"import cancel {token}",
            ),
        )

    async def import_confirm(self, call: CommandCall) -> Reply:
        """Apply a previewed import if it is fresh, the same user confirms, and nothing changed meanwhile."""
        token = call.args.text("token")
        pending = self._pending_for(call, token, "confirm")
        async with self._repos.db.transaction():
            if await self._repos.watchlists.version() != pending.base_version:
                self._pending.discard(token)
                raise CommandError("the watchlist changed since the preview; run `/diplowatch import` again "
                                   "to see the changes against the current watchlist")
            await self._repos.watchlists.replace(pending.watchlist)
            await self._audit(call, f"imported a watchlist: {_diff_counts(pending.diff)}; "
                              + "; ".join(pending.diff.describe()))
        self._pending.discard(token)
        return _done(f"Imported: {_diff_counts(pending.diff)}", _TAKES_EFFECT)

    async def import_cancel(self, call: CommandCall) -> Reply:
        """Drop a previewed import so it can no longer be confirmed; only the admin who previewed it may."""
        token = call.args.text("token")
        self._pending_for(call, token, "cancel")
        self._pending.discard(token)
        return Reply(title="Import cancelled — nothing was changed")

    def _pending_for(self, call: CommandCall, token: str, verb: str) -> PendingImport:
        """The fresh import previewed under ``token`` by the user making ``call``."""
        pending = self._pending.get(token)
        if pending is None:
            minutes = int(self._pending.ttl.total_seconds() // 60)
            raise CommandError(f"no import is waiting under that token (previews expire after {minutes} "
                               "min); run `/diplowatch import` again")
        if (pending.platform, pending.user_id) != (call.context.platform, call.context.user_id):
            raise CommandError(f"only the admin who previewed this import can {verb} it")
        return pending

    async def audit(self, call: CommandCall) -> Reply:
        """The latest edits, newest first, a page at a time."""
        size = self._settings.page_size
        offset = call.args.optional_int("offset") or 0
        entries = await self._repos.audit.recent(size + 1, offset=offset)
        lines = tuple(
            f"{format_time(e.at)} · {e.platform} · {e.actor_user} · {e.command} · {shorten(e.detail, 300)}"
            for e in entries[:size]
        ) or (("No edits recorded yet.",) if offset == 0 else ("No more entries.",))
        return Reply(title="Audit log (newest first)", blocks=(ReplyBlock(lines=lines),),
                     next_page=call.page(offset + size) if len(entries) > size else None)


_TAKES_EFFECT = "Takes effect from the next poll."


def _done(title: str, *lines: str) -> Reply:
    return Reply(title=title, blocks=(ReplyBlock(lines=tuple(line for line in lines if line)),))


def _alias_taken(alias: str, owner: Actor) -> CommandError:
    return CommandError(f"alias {alias!r} already belongs to actor {owner.id!r} ({owner.name})")


def _actor_kind(text: str) -> ActorKind:
    for kind in ("person", "state", "org", "place"):
        if text == kind:
            return kind
    raise CommandError(f"actor kind {text!r} is not one of person, state, org, place")


def _with_actor(watchlist: Watchlist, actor: Actor) -> Watchlist:
    return Watchlist(actors=tuple(actor if a.id == actor.id else a for a in watchlist.actors),
                     topics=watchlist.topics)


def _with_topic(watchlist: Watchlist, topic: Topic) -> Watchlist:
    return Watchlist(actors=watchlist.actors,
                     topics=tuple(topic if t.id == topic.id else t for t in watchlist.topics))


def _phrase_list(given: Sequence[str] | None, current: tuple[str, ...], role: str, *, may_empty: bool
                 ) -> tuple[str, ...]:
    if given is None:
        return current
    if list(given) == [EMPTY_LIST]:
        if not may_empty:
            raise CommandError(f"a topic needs at least one '{role}' phrase")
        return ()
    return check_phrases(given, "phrase", limit=MAX_PHRASES)


def _topic_summary(topic: Topic) -> str:
    parts = [f"any: {', '.join(topic.any)}"]
    if topic.all:
        parts.append(f"all: {', '.join(topic.all)}")
    if topic.none:
        parts.append(f"none: {', '.join(topic.none)}")
    return "; ".join(parts)


def _probe_lines(probed: ProbeResult) -> list[str]:
    if probed.item_count == 0:
        lines = ["It parses as a feed but has no items right now."]
    else:
        noun = "item" if probed.item_count == 1 else "items"
        lines = [f"It has {probed.item_count} {noun}; the first:"]
        lines += [f"• {shorten(title)}" for title in probed.first_titles]
    if probed.final_url != probed.url:
        lines.append(f"(It redirects to {probed.final_url}.)")
    if probed.warning:
        lines.append(f"Warning: {shorten(probed.warning, 200)}")
    return lines


def _apply_subscription(call: CommandCall, base: ChannelSettings, watchlist: Watchlist) -> ChannelSettings:
    args = call.args
    actors = base.actors
    given_actors = args.strings("actors")
    if given_actors is not None:
        actors = _filter_ids(given_actors, "actor", lambda text: resolve_actor(watchlist, text).id)
    topics = base.topics
    given_topics = args.strings("topics")
    if given_topics is not None:
        topics = _filter_ids(given_topics, "topic", lambda text: resolve_topic(watchlist, text).id)
    mode_text = args.optional_text("mode")
    mode: SubscriptionMode = base.mode
    if mode_text is not None:
        mode = "digest" if mode_text == "digest" else "both" if mode_text == "both" else "alert"
    min_score = args.optional_float("min_score")
    timezone = args.optional_text("timezone") or base.timezone
    cron = args.optional_text("digest_cron") or base.digest_cron
    try:
        check_cron(cron, timezone, key="digest_cron")
    except ConfigError as e:
        raise CommandError(str(e)) from e
    quiet = base.quiet_hours
    quiet_text = args.optional_text("quiet_hours")
    if quiet_text is not None:
        quiet = _quiet_hours(quiet_text)
    return dataclasses.replace(
        base, actors=actors, topics=topics, mode=mode,
        min_score=base.min_score if min_score is None else min_score,
        digest_cron=cron, timezone=timezone, quiet_hours=quiet,
    )


def _filter_ids(given: Sequence[str], what: str, resolve: Callable[[str], str]) -> tuple[str, ...]:
    if WILDCARD in given:
        if len(given) > 1:
            raise CommandError(f"'*' already means every {what}; give ids or '*' alone")
        return (WILDCARD,)
    return tuple(dict.fromkeys(resolve(text) for text in given))


def _quiet_hours(text: str) -> tuple[time, time] | None:
    if text.casefold() in ("off", "none", EMPTY_LIST):
        return None
    try:
        window = parse_quiet_hours(text, key="quiet_hours")
    except ConfigError as e:
        raise CommandError(str(e)) from e
    return (window.start, window.end)


def _read_watchlist_toml(text: str) -> Watchlist:
    fenced = _CODE_FENCE.match(text.strip())
    body = fenced[1] if fenced else text
    try:
        data = tomllib.loads(body)
    except tomllib.TOMLDecodeError as e:
        raise CommandError(f"the import is not valid TOML: {e}") from e
    try:
        watchlist = parse_watchlist(data, origin="import")
    except ConfigError as e:
        raise CommandError(str(e)) from e
    for actor in watchlist.actors:
        check_name(actor.name, f"the name of actor {actor.id!r}")
        aliases = (*actor.aliases, *actor.exact_case_aliases)
        if len(aliases) > MAX_ALIASES:
            raise CommandError(
                f"actor {actor.id!r} has {len(aliases)} aliases; at most {MAX_ALIASES} are allowed"
            )
        for phrase in (*aliases, *actor.not_near):
            check_name(phrase, f"a phrase of actor {actor.id!r}")
    for topic in watchlist.topics:
        check_name(topic.name, f"the name of topic {topic.id!r}")
        for phrase in (*topic.any, *topic.all, *topic.none):
            check_name(phrase, f"a phrase of topic {topic.id!r}")
    return watchlist


def _diff_counts(diff: WatchlistDiff) -> str:
    parts = [
        f"{len(values)} {what} {verb}"
        for values, what, verb in (
            (diff.added_actors, "actors", "added"), (diff.changed_actors, "actors", "changed"),
            (diff.removed_actors, "actors", "removed"), (diff.added_topics, "topics", "added"),
            (diff.changed_topics, "topics", "changed"), (diff.removed_topics, "topics", "removed"),
        )
        if values
    ]
    return ", ".join(parts) or "no changes"


def _list_change(label: str, old: Sequence[str], new: Sequence[str]) -> str:
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    parts = [f"+{v}" for v in added] + [f"−{v}" for v in removed]
    return f"{label} {' '.join(parts)}" if parts else ""


def _diff_blocks(current: Watchlist, diff: WatchlistDiff) -> tuple[ReplyBlock, ...]:
    blocks: list[ReplyBlock] = []
    if diff.added_actors:
        blocks.append(ReplyBlock(heading="Actors added", lines=tuple(
            f"+ {a.name} ({a.id}, {a.kind}): {', '.join((*a.aliases, *a.exact_case_aliases))}"
            for a in diff.added_actors)))
    if diff.changed_actors:
        lines = []
        for actor in diff.changed_actors:
            old = current.actor(actor.id)
            changes = [] if old is None else [
                f"name {old.name!r} → {actor.name!r}" if old.name != actor.name else "",
                f"kind {old.kind} → {actor.kind}" if old.kind != actor.kind else "",
                _list_change("aliases", old.aliases, actor.aliases),
                _list_change("exact-case", old.exact_case_aliases, actor.exact_case_aliases),
                _list_change("not near", old.not_near, actor.not_near),
            ]
            lines.append(f"~ {actor.id}: " + "; ".join(c for c in changes if c))
        blocks.append(ReplyBlock(heading="Actors changed", lines=tuple(lines)))
    if diff.removed_actors:
        blocks.append(ReplyBlock(heading="Actors removed", lines=tuple(
            f"− {_actor_label(current, i)}" for i in diff.removed_actors)))
    if diff.added_topics:
        blocks.append(ReplyBlock(heading="Topics added", lines=tuple(
            f"+ {t.name} ({t.id}): {_topic_summary(t)}" for t in diff.added_topics)))
    if diff.changed_topics:
        lines = []
        for topic in diff.changed_topics:
            before = current.topic(topic.id)
            changes = [] if before is None else [
                f"name {before.name!r} → {topic.name!r}" if before.name != topic.name else "",
                _list_change("any", before.any, topic.any),
                _list_change("all", before.all, topic.all),
                _list_change("none", before.none, topic.none),
            ]
            lines.append(f"~ {topic.id}: " + "; ".join(c for c in changes if c))
        blocks.append(ReplyBlock(heading="Topics changed", lines=tuple(lines)))
    if diff.removed_topics:
        blocks.append(ReplyBlock(heading="Topics removed", lines=tuple(
            f"− {_topic_label(current, i)}" for i in diff.removed_topics)))
    return tuple(blocks)


def _actor_label(watchlist: Watchlist, actor_id: str) -> str:
    actor = watchlist.actor(actor_id)
    return actor_id if actor is None else f"{actor.name} ({actor_id})"


def _topic_label(watchlist: Watchlist, topic_id: str) -> str:
    topic = watchlist.topic(topic_id)
    return topic_id if topic is None else f"{topic.name} ({topic_id})"
