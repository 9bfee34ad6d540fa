"""The entry point adapters call: run a command (typed or as a text line), and complete names as users type.

Order of checks for every command: the user's cooldown, the command's arguments parsed (text), admin
permission (checked here on every call, whatever the platform was told), the arguments checked and typed,
then the handler. Every failure becomes an ephemeral reply; nothing raises to the adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bot.commands.call import CommandCall, CommandSettings, FeedAddedHook, Repositories
from bot.commands.cooldown import CommandCooldown, cooldown_message
from bot.commands.edit_handlers import EditHandlers, PendingImport
from bot.commands.help import help_reply
from bot.commands.invocation import CommandContext, Invocation, RawArgument
from bot.commands.lookup_handlers import LookupHandlers
from bot.commands.parsing import UsageError, bind, format_invocation, parse_line
from bot.commands.permissions import PermissionDenied, require_admin
from bot.commands.probe import FeedProbe
from bot.commands.replies import NextPage, Reply, ReplyBlock, error_reply
from bot.commands.specs import COMMANDS, CommandSpec, find_command
from bot.commands.tokens import ExpiringTokens
from feeds.errors import CommandError, DiplowatchError
from feeds.models import Watchlist
from storage.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[CommandCall], Awaitable[Reply]]
MAX_COMPLETIONS: Final = 25
_DISCORD_CHOICE_CHARS: Final = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """One autocomplete suggestion: the ``value`` a command accepts and a ``label`` to show."""

    value: str
    label: str


class CommandRunner:
    """Runs chat commands against one database; one instance serves every platform."""

    def __init__(
        self,
        *,
        db: Database,
        probe: FeedProbe,
        clock: Callable[[], datetime],
        settings: CommandSettings | None = None,
        on_feed_added: FeedAddedHook | None = None,
    ) -> None:
        self._settings = settings if settings is not None else CommandSettings()
        self._clock = clock
        self._repos = Repositories.on(db)
        self._cooldown = CommandCooldown(
            clock=clock, capacity=self._settings.cooldown_capacity,
            per_second=self._settings.cooldown_per_second,
        )
        self._pages: ExpiringTokens[Invocation] = ExpiringTokens(clock=clock, ttl=self._settings.page_ttl)
        pending: ExpiringTokens[PendingImport] = ExpiringTokens(clock=clock, ttl=self._settings.confirm_ttl)
        lookups = LookupHandlers(self._repos, self._settings)
        edits = EditHandlers(self._repos, self._settings, probe=probe, on_feed_added=on_feed_added,
                             pending_imports=pending)
        self._handlers: dict[tuple[str, ...], Handler] = {
            ("search",): lookups.search,
            ("actor",): lookups.actor,
            ("topic",): lookups.topic,
            ("digest",): lookups.digest,
            ("feeds", "list"): lookups.feeds,
            ("watchlist",): lookups.watchlist,
            ("status",): lookups.status,
            ("help",): self._help,
            ("more",): self._more,
            ("watch", "add-actor"): edits.add_actor,
            ("watch", "add-alias"): edits.add_alias,
            ("watch", "remove-alias"): edits.remove_alias,
            ("watch", "remove"): edits.remove,
            ("watch", "add-topic"): edits.add_topic,
            ("watch", "edit-topic"): edits.edit_topic,
            ("feeds", "add"): edits.add_feed,
            ("feeds", "remove"): edits.remove_feed,
            ("feeds", "pause"): edits.pause_feed,
            ("feeds", "resume"): edits.resume_feed,
            ("subscribe",): edits.subscribe,
            ("unsubscribe",): edits.unsubscribe,
            ("export",): edits.export,
            ("import", "preview"): edits.import_preview,
            ("import", "confirm"): edits.import_confirm,
            ("import", "cancel"): edits.import_cancel,
            ("audit",): edits.audit,
        }
        missing = [spec.name for spec in COMMANDS if spec.path not in self._handlers]
        if missing:
            raise CommandError(f"commands without a handler: {', '.join(missing)}")
        self._watchlist_cache: tuple[int, Watchlist] | None = None

    @property
    def specs(self) -> tuple[CommandSpec, ...]:
        """Every command, hidden ones included (``more`` serves "more" buttons)."""
        return COMMANDS

    async def run_text(self, context: CommandContext, line: str) -> Reply:
        """Run a Slack-style text line, e.g. ``watch add-actor "Kaja Kallas" person Kallas``."""
        wait = self._cooldown.take(context.platform, context.user_id)
        if wait > 0:
            return _cooldown_reply(wait)
        try:
            invocation = parse_line(line)
        except DiplowatchError as e:
            return _failure_reply(e)
        return await self._dispatch(context, invocation)

    async def run(self, context: CommandContext, invocation: Invocation) -> Reply:
        """Run a typed invocation (Discord options, a button's stored invocation)."""
        wait = self._cooldown.take(context.platform, context.user_id)
        if wait > 0:
            return _cooldown_reply(wait)
        return await self._dispatch(context, invocation)

    async def complete(self, kind: str, prefix: str) -> list[str]:
        """Values for an actor, topic, actor_or_topic or feed argument matching what was typed (max 25)."""
        return [c.value for c in await self.complete_choices(kind, prefix)]

    async def complete_choices(self, kind: str, prefix: str) -> list[Completion]:
        """Like :meth:`complete`, with a label per value (``Sergey Lavrov (lavrov)``, ``#3 Reuters``).

        Ids and display names both match: those starting with the typed text first, then those containing it.
        """
        candidates: list[tuple[Completion, tuple[str, ...]]] = []
        if kind in ("actor", "topic", "actor_or_topic"):
            watchlist = await self._watchlist()
            if kind != "topic":
                candidates += [
                    (Completion(value=a.id, label=f"{a.name} ({a.id})"), (a.id, a.name, *a.aliases))
                    for a in watchlist.actors
                ]
            if kind != "actor":
                candidates += [
                    (Completion(value=t.id, label=f"{t.name} ({t.id})"), (t.id, t.name))
                    for t in watchlist.topics
                ]
        elif kind == "feed":
            feeds = await self._repos.feeds.all()
            names = [f.name.casefold() for f in feeds]
            for feed in feeds:
                unique = names.count(feed.name.casefold()) == 1
                value = feed.name if unique and len(feed.name) <= _DISCORD_CHOICE_CHARS else f"#{feed.id}"
                candidates.append((Completion(value=value, label=f"#{feed.id} {feed.name}"),
                                   (str(feed.id), f"#{feed.id}", feed.name)))
        typed = " ".join(prefix.split()).casefold()
        ranked: list[tuple[int, int, Completion]] = []
        for position, (completion, texts) in enumerate(candidates):
            folded = [t.casefold() for t in texts]
            if not typed or any(t.startswith(typed) for t in folded):
                ranked.append((0, position, completion))
            elif any(typed in t for t in folded):
                ranked.append((1, position, completion))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [
            Completion(value=c.value, label=_cut(c.label, _DISCORD_CHOICE_CHARS))
            for _, _, c in ranked[:MAX_COMPLETIONS]
        ]

    async def _watchlist(self) -> Watchlist:
        version = await self._repos.watchlists.version()
        if self._watchlist_cache is None or self._watchlist_cache[0] != version:
            self._watchlist_cache = (version, await self._repos.watchlists.load())
        return self._watchlist_cache[1]

    async def _dispatch(self, context: CommandContext, invocation: Invocation) -> Reply:
        spec = find_command(invocation.path)
        if spec is None:
            return error_reply(f"unknown command `{invocation.name}`; try `/diplowatch help`")
        try:
            require_admin(context, spec)
            args = bind(spec, invocation)
            call = CommandCall(
                context=context, spec=spec, invocation=invocation, args=args, now=self._clock(),
                page=lambda offset: self._next_page(invocation, offset),
            )
            return await self._handlers[spec.path](call)
        except DiplowatchError as e:
            return _failure_reply(e)
        except Exception:
            # The adapter must always get an answer; the details go to the log, not to the chat.
            log.exception("command %r failed for %s on %s", invocation.name, context.who, context.platform)
            return error_reply(f"Something went wrong running `{invocation.name}`; the error was logged.")

    def _next_page(self, invocation: Invocation, offset: int) -> NextPage:
        following = invocation.with_value("offset", offset)
        token, _ = self._pages.put(following)
        return NextPage(
            token=token,
            offset=offset,
            invocation=following,
            command_line=format_invocation(following),
            more_invocation=Invocation(path=("more",), arguments=(RawArgument(name="token", value=token),)),
        )

    async def _help(self, call: CommandCall) -> Reply:
        return help_reply(call.args.optional_text("command"), public=call.public)

    async def _more(self, call: CommandCall) -> Reply:
        following = self._pages.get(call.args.text("token"))
        if following is None:
            raise CommandError("that page is no longer available; run the command again")
        return await self._dispatch(call.context, following)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cooldown_reply(wait_s: float) -> Reply:
    return error_reply(cooldown_message(wait_s), kind="cooldown", title="Slow down")


def _failure_reply(error: DiplowatchError) -> Reply:
    if isinstance(error, PermissionDenied):
        return error_reply(str(error), kind="denied", title="Admins only")
    if isinstance(error, UsageError):
        return Reply(
            title="Cannot do that",
            blocks=(ReplyBlock(lines=(str(error), f"Usage: /diplowatch {error.usage}")),),
            kind="error",
        )
    if isinstance(error, CommandError):
        return error_reply(str(error))
    return error_reply(f"That did not work: {error}")
