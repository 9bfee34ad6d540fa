"""Discord adapter: renders neutral messages into embeds within Discord's limits and posts them (discord.py).

This is the only module that imports ``discord``. Rendering is pure (``render_message``, ``render_reply``);
``DiscordPlatform`` owns the ``discord.Client`` and maps every discord.py failure onto ``DeliveryError``, and
``install_commands`` binds the platform-neutral chat commands to one ``/diplowatch`` slash command.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import io
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, Self, cast
from urllib.parse import urlsplit

import aiohttp
import discord
from discord import app_commands

from bot.commands import (
    AdminPolicy,
    ArgSpec,
    Attachment,
    CommandContext,
    CommandRunner,
    CommandSpec,
    Invocation,
    RawArgument,
    Reply,
    visible_commands,
)
from bot.commands.replies import ReplyKind, error_reply
from bot.platforms.base import Highlight, Message, RenderedStory, SendReceipt
from feeds.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL_LIMIT = 6000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_PER_EMBED = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_NAME_LIMIT = 256
URL_LIMIT = 2048
# A source name longer than this is cut so the footer never crowds out the snippet.
SOURCE_LIMIT = 256

ELLIPSIS = "…"
UNTITLED = "Untitled story"
DEFAULT_COLOUR = 0x5D6D7E
# Distinct, readable on dark and light themes; a topic keeps its colour across runs (see ``topic_colour``).
TOPIC_PALETTE = (
    0x1F77B4,
    0xFF7F0E,
    0x2CA02C,
    0xD62728,
    0x9467BD,
    0x8C564B,
    0xE377C2,
    0x17BECF,
    0xBCBD22,
    0x3949AB,
    0x00897B,
    0xC2185B,
)

INVALID_TOKEN_MESSAGE = "Discord rejected the bot token (DISCORD_TOKEN)"

# Bidi overrides/isolates and zero-width characters (can reorder or hide text), plus C0/C1 controls
# other than tab and newline.
_HIDDEN_CHARACTERS = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060\ufeff\x00-\x08\x0b-\x1f\x7f-\x9f]"
)
# Private-use sentinels marking highlight bounds while the text is escaped; stripped from input first.
_BOLD_OPEN = "\ue000"
_BOLD_CLOSE = "\ue001"
_SENTINELS = re.compile(f"[{_BOLD_OPEN}{_BOLD_CLOSE}]")
_MASKED_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?([^\s()<>]*)>?[^()\n]*\)")
_LINE_INDENT = re.compile(r"(?m)^[ ]+")
# Discord's autolink runs up to the next space or "<", swallowing backslashes; see ``_neutralise``.
_URL_BEFORE_ANGLE = re.compile(r"(?i)((?:https?|steam)://[^\s<]+)<")
_BLANK_LINES = re.compile(r"\n{3,}")


def discord_length(text: str) -> int:
    """Length as Discord's limits count it; UTF-16 code units, which never undercounts."""
    return len(text.encode("utf-16-le")) // 2


def _strip_hidden(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _SENTINELS.sub("", _HIDDEN_CHARACTERS.sub("", text))


def _neutralise(text: str) -> str:
    """Escape text that may carry highlight sentinels; the sentinels survive untouched."""
    # `[text](url)` would show `text` while linking anywhere; keep both visible. Discord only recognises
    # a masked link when `](` is adjacent, so splitting any leftover pair disarms nested or odd forms too.
    text = _MASKED_LINK.sub(r"\1 (\2)", text).replace("](", "] (")
    # discord.py escapes an indented list marker as "\  -" (a stray backslash shows); news needs no indent.
    text = _LINE_INDENT.sub("", text)
    # A URL keeps its characters unescaped and would absorb the backslash that escapes a following "<",
    # turning "http://x\<@1>" into a link plus a live mention; a space ends the URL first.
    text = _URL_BEFORE_ANGLE.sub(r"\1 <", text)
    text = discord.utils.escape_markdown(text)
    text = discord.utils.escape_mentions(text)
    # `<@1>`, `<@&1>`, `<#1>`, `<t:1>`, `</cmd:1>`, `<:emoji:1>` all start with `<`; `\<` renders as `<`.
    return text.replace("<", "\\<")


def escape_feed_text(text: str) -> str:
    """Make feed text inert in a markdown slot: no pings, markup, masked links or hidden characters."""
    return _neutralise(_strip_hidden(text))


def plain_feed_text(text: str) -> str:
    """Make feed text inert in a plain-text slot (footer, author name: Discord renders no markdown there)."""
    return discord.utils.escape_mentions(_one_line(text))


def _one_line(text: str) -> str:
    return " ".join(_strip_hidden(text).split())


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL Discord accepts, else None."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_LIMIT or _HIDDEN_CHARACTERS.search(url) or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def topic_colour(topic_id: str | None) -> int:
    """A stable colour for a topic id (the same on every run and machine)."""
    if not topic_id:
        return DEFAULT_COLOUR
    digest = hashlib.sha256(topic_id.encode("utf-8")).digest()
    return TOPIC_PALETTE[int.from_bytes(digest[:4], "big") % len(TOPIC_PALETTE)]


def _longest_fitting(render: Callable[[int], str], full_length: int, limit: int) -> int:
    """The largest cut in [0, full_length] whose rendering fits ``limit`` (0 always qualifies)."""
    # A prefix over four times the limit fits only if most of it is invisible: not worth escaping it all.
    search_limit = 4 * limit
    if full_length <= search_limit and discord_length(render(full_length)) <= limit:
        return full_length
    low, high = 0, min(full_length - 1, search_limit)
    while low < high:
        middle = (low + high + 1) // 2
        if discord_length(render(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _word_boundary(raw: str, cut: int) -> int:
    """Move ``cut`` back to the last whitespace if one is near, so words are not split."""
    if cut >= len(raw) or cut == 0:
        return cut
    space = max(raw.rfind(" ", 0, cut), raw.rfind("\n", 0, cut))
    return space if space > 0 and cut - space <= 40 else cut


def _best_cut(render: Callable[[int], str], raw: str, limit: int) -> int:
    """The cut of ``raw`` to render: the longest that fits, moved back to a word end when that still fits."""
    cut = _longest_fitting(render, len(raw), limit)
    boundary = _word_boundary(raw, cut)
    return boundary if boundary != cut and discord_length(render(boundary)) <= limit else cut


def _fit(raw: str, limit: int, escape: Callable[[str], str]) -> str:
    """``escape(raw)``, or the longest escaped prefix plus an ellipsis that fits ``limit``."""

    def render(cut: int) -> str:
        if cut >= len(raw):
            return escape(raw)
        return escape(raw[:cut]).rstrip() + ELLIPSIS

    return render(_best_cut(render, raw, limit))


def _spans(highlights: Sequence[Highlight], text: str) -> list[tuple[int, int]]:
    """Highlight ranges clamped to ``text``, trimmed of whitespace, merged when they overlap or touch."""
    spans: list[tuple[int, int]] = []
    for highlight in sorted(highlights, key=lambda h: (h.start, h.end)):
        start, end = max(0, highlight.start), min(len(text), highlight.end)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def render_snippet(snippet: str, highlights: Sequence[Highlight], limit: int) -> str:
    """The escaped snippet with highlighted names in bold, truncated with an ellipsis to ``limit``."""

    def render(cut: int) -> str:
        text = snippet[:cut]
        pieces: list[str] = []
        position = 0
        for start, end in _spans(highlights, text):
            pieces += [_strip_hidden(text[position:start]), _BOLD_OPEN]
            pieces += [_strip_hidden(text[start:end]), _BOLD_CLOSE]
            position = end
        pieces.append(_strip_hidden(text[position:]))
        marked = _BLANK_LINES.sub("\n\n", "".join(pieces))
        # An empty highlight (its text was all hidden characters) would leave a bare "****".
        marked = marked.replace(_BOLD_OPEN + _BOLD_CLOSE, "")
        rendered = _neutralise(marked).replace(_BOLD_OPEN, "**").replace(_BOLD_CLOSE, "**").strip()
        return rendered if cut >= len(snippet) else rendered + ELLIPSIS

    return render(_best_cut(render, snippet, limit))


def _name_list(names: Sequence[str], limit: int) -> str:
    """Escaped names joined by commas; names that do not fit become "and N more"."""
    escaped = [_fit(_one_line(name), limit // 2, _neutralise) for name in names if _one_line(name)]
    shown = len(escaped)
    text = ", ".join(escaped)
    while discord_length(text) > limit:
        shown -= 1
        text = f"{', '.join(escaped[:shown])} and {len(escaped) - shown} more"
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbedField:
    """One embed field, already escaped and within limits."""

    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordEmbed:
    """One embed, already escaped and within Discord's per-embed limits."""

    title: str = ""
    url: str | None = None
    description: str = ""
    author: str = ""
    fields: tuple[EmbedField, ...] = ()
    footer: str = ""
    timestamp: datetime | None = None
    colour: int = DEFAULT_COLOUR

    def char_count(self) -> int:
        """The characters this embed adds to a message's 6,000 total."""
        texts = [self.title, self.description, self.author, self.footer]
        texts += [part for field in self.fields for part in (field.name, field.value)]
        return sum(discord_length(text) for text in texts)

    def to_discord(self) -> discord.Embed:
        """The discord.py embed to send."""
        embed = discord.Embed(
            title=self.title or None,
            url=self.url,
            description=self.description or None,
            colour=self.colour,
            timestamp=self.timestamp,
        )
        if self.author:
            embed.set_author(name=self.author)
        for field in self.fields:
            embed.add_field(name=field.name, value=field.value, inline=field.inline)
        if self.footer:
            embed.set_footer(text=self.footer)
        return embed


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordMessagePart:
    """One Discord message of a rendered neutral message."""

    content: str
    embeds: tuple[DiscordEmbed, ...]


def _footer(story: RenderedStory) -> str:
    published = story.published.astimezone(UTC) if story.published.tzinfo else story.published
    when = published.strftime("%Y-%m-%d %H:%M UTC")
    source = _fit(plain_feed_text(story.source), SOURCE_LIMIT, str)
    return f"{source} · {when}" if source else when


def render_story(story: RenderedStory, *, section: str = "") -> DiscordEmbed:
    """One story as one embed; a story too long for one embed is shortened, never split."""
    fields: list[EmbedField] = []
    for name, values, inline in (
        ("Actors", story.actors, True),
        ("Topics", story.topics, True),
        ("Also reported by", story.also_reported_by, False),
    ):
        value = _name_list(values, FIELD_VALUE_LIMIT)
        if value:
            fields.append(EmbedField(name=name, value=value, inline=inline))
    embed = DiscordEmbed(
        title=_fit(_one_line(story.title), TITLE_LIMIT, _neutralise) or UNTITLED,
        url=safe_url(story.url),
        author=_fit(plain_feed_text(section), AUTHOR_NAME_LIMIT, str),
        fields=tuple(fields[:FIELDS_PER_EMBED]),
        footer=_fit(_footer(story), FOOTER_LIMIT, str),
        timestamp=story.published,
        colour=topic_colour(story.topic_ids[0] if story.topic_ids else None),
    )
    budget = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - embed.char_count())
    return replace(embed, description=render_snippet(story.snippet, story.highlights, budget))


def _split_note(note: str, limit: int) -> list[str]:
    """Escaped chunks of ``note`` each within ``limit``, cut at line ends, else spaces, never mid-escape."""
    chunks: list[str] = []
    rest = _BLANK_LINES.sub("\n\n", _strip_hidden(note)).strip()
    while rest:
        cut = _note_cut(rest, limit)
        chunks.append(_neutralise(rest[:cut]).strip())
        rest = rest[cut:].strip()
    return chunks


def _note_cut(text: str, limit: int) -> int:
    """Where the next note chunk ends: the last line end, else space, in the longest prefix that fits."""
    # Every character escapes to at most a few, so a cut of at least one always fits Discord's limits.
    cut = max(1, _longest_fitting(lambda n: _neutralise(text[:n]), len(text), limit))
    if cut < len(text):
        line_end = text.rfind("\n", 0, cut)
        space = text.rfind(" ", 0, cut)
        cut = line_end if line_end > cut // 2 else space if space > cut // 2 else cut
    return cut


def _pack(content: str, embeds: Sequence[DiscordEmbed]) -> tuple[DiscordMessagePart, ...]:
    """Fill messages in order up to 10 embeds and 6,000 characters; only the first carries the content."""
    groups: list[list[DiscordEmbed]] = []
    total = 0
    for embed in embeds:
        size = embed.char_count()
        if not groups or len(groups[-1]) == EMBEDS_PER_MESSAGE or total + size > EMBED_TOTAL_LIMIT:
            groups.append([])
            total = 0
        groups[-1].append(embed)
        total += size
    if not groups:
        return (DiscordMessagePart(content=content, embeds=()),) if content else ()
    return tuple(
        DiscordMessagePart(content=content if index == 0 else "", embeds=tuple(group))
        for index, group in enumerate(groups)
    )


def render_message(message: Message) -> tuple[DiscordMessagePart, ...]:
    """Split a neutral message into Discord messages within every limit; () if it has nothing to show."""
    content = _fit(_one_line(message.heading), CONTENT_LIMIT, _neutralise)
    embeds = [
        DiscordEmbed(description=chunk, colour=DEFAULT_COLOUR)
        for chunk in _split_note(message.note, DESCRIPTION_LIMIT)
    ]
    for section in message.sections:
        heading = section.heading if message.kind == "digest" else ""
        embeds += [render_story(story, section=heading) for story in section.stories]
    return _pack(content, embeds)


def message_nonce(idempotency_key: str, part_index: int) -> int:
    """The nonce of one part: stable across retries, distinct per part, under Discord's 25 characters."""
    digest = hashlib.sha256(f"{idempotency_key}\x00{part_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


# --- command replies --------------------------------------------------------------------------------------

REPLY_COLOURS: Final[Mapping[ReplyKind, int]] = {
    "result": 0x2E86C1,
    "help": 0x5D6D7E,
    "error": 0xC0392B,
    "denied": 0xD35400,
    "cooldown": 0xB7950B,
}
BUTTON_ID_PREFIX: Final = "diplowatch"
# A button's custom_id names what it does and the runner's token (Discord allows 100 characters).
BUTTON_ID: Final = re.compile(r"diplowatch:(?P<action>more|confirm|cancel):(?P<token>[A-Za-z0-9_-]{1,80})")
ButtonAction = Literal["more", "confirm", "cancel"]
# Room kept at the end of a reply for the line saying how many lines did not fit.
_OVERFLOW_ROOM = 80

COMMAND_NAME: Final = "diplowatch"
COMMAND_DESCRIPTION: Final = "Diplomatic news: look-ups for everyone, changes for admins"
GROUP_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "watch": "Change the tracked actors and topics (admins)",
    "feeds": "List the feeds; add, pause, resume or remove one (admins)",
    "import": "Replace the watchlist with a TOML one (admins)",
}
# Discord's limits for command definitions.
NAME_DESCRIPTION_LIMIT: Final = 100
CHOICE_LIMIT: Final = 25
STRING_OPTION_LIMIT: Final = 6000
PUBLIC_OPTION: Final = "public"
FILE_OPTION: Final = "file"
# Discord wants an answer within 3 s; a command still running after this long is deferred ("thinking…").
DEFER_AFTER_S: Final = 2.0
# Registering the command waits at most this long (discord.py may sit out a rate limit), then start() goes on.
SYNC_TIMEOUT_S: Final = 30.0
# An attached TOML bigger than this is refused before it is downloaded.
MAX_ATTACHMENT_BYTES: Final = 1_000_000
FAILURE_MESSAGE: Final = "Something went wrong answering that command; the error was logged."


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyButton:
    """A button under a reply: "More" (next page) or an import's Confirm/Cancel, with the runner's token."""

    action: ButtonAction
    token: str
    label: str

    @property
    def custom_id(self) -> str:
        """What Discord sends back when the button is pressed (matches ``BUTTON_ID``)."""
        return f"{BUTTON_ID_PREFIX}:{self.action}:{self.token}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordReply:
    """A command reply as Discord shows it: embeds within limits, buttons, an optional file."""

    embeds: tuple[DiscordEmbed, ...]
    ephemeral: bool
    buttons: tuple[ReplyButton, ...] = ()
    attachment: Attachment | None = None


def _reply_lines(reply: Reply) -> list[str]:
    """The reply's escaped description lines, with a blank line between blocks."""
    lines: list[str] = []
    blocks = list(reply.blocks)
    for block in blocks:
        if lines:
            lines.append("")
        if block.heading:
            lines.append(f"**{_fit(_one_line(block.heading), TITLE_LIMIT, _neutralise)}**")
        lines += [_fit(line, DESCRIPTION_LIMIT - _OVERFLOW_ROOM, escape_feed_text) for line in block.lines]
    confirmation = reply.confirmation
    if confirmation is not None:
        if lines:
            lines.append("")
        lines.append(_fit(confirmation.prompt, DESCRIPTION_LIMIT - _OVERFLOW_ROOM, escape_feed_text))
        # Discord shows <t:…:R> as a live "in 9 minutes" in each reader's own time.
        lines.append(f"Expires <t:{int(confirmation.expires_at.timestamp())}:R>.")
    return lines


def _pack_reply_lines(lines: Sequence[str], title_length: int) -> list[str]:
    """Descriptions of up to 10 embeds within 4,096 each and 6,000 in all; the lines that do not fit are
    counted in a last line."""
    chunks: list[list[str]] = [[]]
    sizes = [0]
    total_budget = EMBED_TOTAL_LIMIT - title_length - _OVERFLOW_ROOM
    used = 0
    for index, line in enumerate(lines):
        size = discord_length(line) + 1
        if used + size > total_budget:
            left = sum(1 for rest in lines[index:] if rest)
            chunks[-1].append(f"… {left} more line{'s' if left != 1 else ''} not shown.")
            break
        if sizes[-1] + size > DESCRIPTION_LIMIT - _OVERFLOW_ROOM:
            if len(chunks) == EMBEDS_PER_MESSAGE:
                left = sum(1 for rest in lines[index:] if rest)
                chunks[-1].append(f"… {left} more line{'s' if left != 1 else ''} not shown.")
                break
            chunks.append([])
            sizes.append(0)
        chunks[-1].append(line)
        sizes[-1] += size
        used += size
    return ["\n".join(chunk).strip("\n") for chunk in chunks if any(chunk)]


def render_reply(reply: Reply) -> DiscordReply:
    """A command reply as Discord embeds (escaped, within limits) with its buttons and file."""
    title = _fit(_one_line(reply.title), TITLE_LIMIT, _neutralise) or "diplowatch"
    colour = REPLY_COLOURS[reply.kind]
    descriptions = _pack_reply_lines(_reply_lines(reply), discord_length(title)) or [""]
    embeds = tuple(
        DiscordEmbed(title=title if index == 0 else "", description=description, colour=colour)
        for index, description in enumerate(descriptions)
    )
    buttons: list[ReplyButton] = []
    if reply.next_page is not None:
        buttons.append(ReplyButton(action="more", token=reply.next_page.token,
                                   label=_cut_label(reply.next_page.label)))
    if reply.confirmation is not None:
        buttons.append(ReplyButton(action="confirm", token=reply.confirmation.token,
                                   label=_cut_label(reply.confirmation.label)))
        buttons.append(ReplyButton(action="cancel", token=reply.confirmation.token, label="Cancel"))
    return DiscordReply(
        embeds=embeds, ephemeral=reply.ephemeral, buttons=tuple(buttons), attachment=reply.attachment
    )


def _cut_label(label: str) -> str:
    # Discord's button labels hold 80 characters.
    text = _one_line(label)
    return text if len(text) <= 80 else text[:79] + ELLIPSIS


def _discord_error(error: discord.HTTPException) -> str:
    reason = error.text.splitlines()[0] if error.text else (error.response.reason or "error")
    return f"{reason} (Discord error {error.code}, HTTP {error.status})"


def _retry_after(error: discord.HTTPException) -> float | None:
    for header in ("Retry-After", "X-RateLimit-Reset-After"):
        value = error.response.headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return None


def _delivery_error(channel_id: str, error: discord.HTTPException) -> DeliveryError:
    where = f"Discord channel {channel_id}"
    detail = _discord_error(error)
    if error.status == 429:
        return DeliveryError(f"{where}: rate limited by Discord: {detail}", retry_after_s=_retry_after(error))
    if error.status >= 500:
        return DeliveryError(f"{where}: Discord is failing: {detail}; will retry")
    if error.status == 401:
        return DeliveryError(f"{INVALID_TOKEN_MESSAGE}: {detail}", permanent=True)
    if isinstance(error, discord.NotFound):
        return DeliveryError(
            f"{where}: {detail}; check the channel id and that the bot was added to its server",
            permanent=True,
        )
    if isinstance(error, discord.Forbidden):
        return DeliveryError(
            f"{where}: {detail}; the bot needs View Channel, Send Messages and Embed Links there",
            permanent=True,
        )
    return DeliveryError(f"{where}: Discord refused the message: {detail}", permanent=True)


class DiscordPlatform:
    """Posts neutral messages to Discord channels through one discord.py client.

    ``client`` is exposed so slash commands can be attached to the same connection before ``start()``.
    """

    def __init__(
        self,
        *,
        token: str,
        ready_timeout_s: float = 60.0,
        guild_ready_timeout_s: float = 2.0,
        send_timeout_s: float = 60.0,
    ) -> None:
        self.name = "discord"
        self._token = token
        self._ready_timeout_s = ready_timeout_s
        self._send_timeout_s = send_timeout_s
        intents = discord.Intents.none()
        intents.guilds = True
        self._client = discord.Client(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout_s,
            # A wait longer than this is reported as retry_after_s instead of holding the send open.
            max_ratelimit_timeout=30.0,
        )
        self._logged_in = False
        self._closed = False
        self._gateway: asyncio.Task[None] | None = None
        self._commands: DiscordCommands | None = None
        self._commands_synced = False

    def __repr__(self) -> str:
        return f"DiscordPlatform(logged_in={self._logged_in}, closed={self._closed})"

    @property
    def client(self) -> discord.Client:
        """The discord.py client (for attaching an app command tree)."""
        return self._client

    @property
    def commands(self) -> DiscordCommands | None:
        """The installed ``/diplowatch`` command (its tree and last sync error), if any."""
        return self._commands

    def install_commands(
        self,
        runner: CommandRunner,
        admin_policy: AdminPolicy,
        *,
        guild_ids: Sequence[int] = (),
        defer_after_s: float = DEFER_AFTER_S,
    ) -> None:
        """Answer ``/diplowatch …`` with ``runner``; the command is registered with Discord by ``start()``.

        ``guild_ids`` registers it in those servers only (at once) instead of globally. Call before start().
        """
        if self._commands is not None:
            raise ConfigError("the Discord slash commands are already installed")
        if self._logged_in:
            raise ConfigError("install the Discord slash commands before starting the Discord connection")
        self._commands = DiscordCommands(
            self._client, runner, admin_policy, guild_ids=guild_ids, defer_after_s=defer_after_s
        )

    async def start(self) -> None:
        """Log in, connect the gateway in the background and wait until Discord reports ready.

        A retryable failure may be retried by calling ``start()`` again; a permanent one closes the client.
        """
        if self._closed:
            message = "This Discord connection was closed; build a new DiscordPlatform"
            raise DeliveryError(message, permanent=True)
        if self._client.is_ready():
            return
        try:
            if not self._logged_in:
                await self._login()
                self._logged_in = True
            if self._gateway is None:
                gateway = self._client.connect(reconnect=True)
                self._gateway = asyncio.create_task(gateway, name="discord-gateway")
                self._gateway.add_done_callback(_report_gateway_end)
            await self._wait_until_ready(self._gateway)
        except DeliveryError as e:
            # A gateway still connecting is left running, so the next start() only waits for it.
            if e.permanent:
                await self.close()
            raise
        except BaseException:
            await self.close()
            raise
        user = self._client.user
        servers = len(self._client.guilds)
        log.info("Connected to Discord as %s (%d servers)", user.name if user else "?", servers)
        if self._commands is not None and not self._commands_synced:
            # A failed sync is logged by the commands; a later start() (a new process) tries again.
            self._commands_synced = await self._commands.sync()

    async def _login(self) -> None:
        if not self._token.strip():
            raise DeliveryError(f"{INVALID_TOKEN_MESSAGE}: the token is empty", permanent=True)
        try:
            await self._client.login(self._token)
        except discord.LoginFailure as e:
            raise DeliveryError(INVALID_TOKEN_MESSAGE, permanent=True) from e
        except discord.HTTPException as e:
            await self._release_login_session()
            permanent = e.status < 500 and e.status != 429
            raise DeliveryError(f"Discord login failed: {_discord_error(e)}", permanent=permanent) from e
        except (aiohttp.ClientError, OSError) as e:
            await self._release_login_session()
            raise DeliveryError(f"Could not reach Discord to log in: {e!r}") from e

    async def _release_login_session(self) -> None:
        # Each login opens a new HTTP session on the client's connector, and closing the session closes the
        # connector too; forgetting the connector makes the next login create one, so start() can be retried.
        await self._client.http.close()
        self._client.http.connector = discord.utils.MISSING

    async def _wait_until_ready(self, gateway: asyncio.Task[None]) -> None:
        ready = asyncio.create_task(self._client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {ready, gateway}, timeout=self._ready_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if ready in done:
            return
        if gateway in done:
            # With reconnect=True discord.py only gives up on errors reconnecting cannot fix.
            error = gateway.exception()
            if isinstance(error, discord.ConnectionClosed) and error.code == 4004:
                raise DeliveryError(INVALID_TOKEN_MESSAGE, permanent=True) from error
            message = f"Discord closed the gateway connection before ready: {error!r}"
            raise DeliveryError(message, permanent=True) from error
        raise DeliveryError(f"Discord gateway was not ready within {self._ready_timeout_s:g} s")

    async def send(self, channel_id: str, message: Message, *, idempotency_key: str) -> SendReceipt:
        """Post ``message`` to ``channel_id``; a retry with the same key does not post a part twice."""
        parts = render_message(message)
        if not parts:
            raise DeliveryError("The message has no heading, note or story to post", permanent=True)
        try:
            snowflake = int(channel_id)
        except ValueError:
            message_text = f"{channel_id!r} is not a Discord channel id (a number)"
            raise DeliveryError(message_text, permanent=True) from None
        if not self._logged_in or self._closed:
            raise DeliveryError("Discord is not connected (start() has not succeeded, or close() has run)")
        channel = self._client.get_partial_messageable(snowflake)
        message_ids: list[str] = []
        for index, part in enumerate(parts):
            try:
                async with asyncio.timeout(self._send_timeout_s):
                    sent = await channel.send(
                        content=part.content or None,
                        embeds=[embed.to_discord() for embed in part.embeds],
                        # Discord returns the earlier message for a repeated nonce (enforce_nonce, set by
                        # discord.py whenever a nonce is given), so a retried entry never posts a part twice.
                        nonce=message_nonce(idempotency_key, index),
                        allowed_mentions=discord.AllowedMentions.none(),
                    )
            except discord.RateLimited as e:
                raise DeliveryError(
                    f"Discord channel {channel_id}: rate limited for {e.retry_after:.1f} s",
                    retry_after_s=e.retry_after,
                ) from e
            except discord.HTTPException as e:
                raise _delivery_error(channel_id, e) from e
            except TimeoutError as e:
                raise DeliveryError(
                    f"Discord channel {channel_id}: no answer within {self._send_timeout_s:g} s"
                ) from e
            except (aiohttp.ClientError, OSError) as e:
                raise DeliveryError(f"Discord channel {channel_id}: could not reach Discord: {e!r}") from e
            message_ids.append(str(sent.id))
        return SendReceipt(message_ids=tuple(message_ids))

    async def close(self) -> None:
        """Disconnect the gateway and close the HTTP session."""
        self._closed = True
        if not self._client.is_closed():
            await self._client.close()
        gateway, self._gateway = self._gateway, None
        if gateway is not None and not gateway.done():
            gateway.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await gateway


def _report_gateway_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("Discord gateway stopped: %r", error)


# --- slash commands ---------------------------------------------------------------------------------------


_Choices = list[app_commands.Choice[str]]
_Completer = Callable[[discord.Interaction, str], Coroutine[Any, Any, _Choices]]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Option:
    """One option of a slash command: the Python parameter discord.py fills and the argument it gives."""

    parameter: str
    arg: ArgSpec
    attachment: bool = False


def _short(text: str, limit: int = NAME_DESCRIPTION_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + ELLIPSIS


def _option_annotation(arg: ArgSpec) -> Any:
    """The type discord.py declares the option with (integer, number, boolean or string with its limits)."""
    range_type = cast(Any, app_commands.Range)
    if arg.option_type == "boolean":
        return bool
    if arg.option_type in ("integer", "number"):
        number: type[int] | type[float] = int if arg.option_type == "integer" else float
        low, high = arg.min_value, arg.max_value
        if low is None and high is None:
            return number
        return range_type[
            number, None if low is None else number(low), None if high is None else number(high)
        ]
    # A list or a pasted document is checked item by item by the runner; Discord caps one option at 6,000.
    many = arg.variadic or arg.kind == "text"
    return range_type[str, None, STRING_OPTION_LIMIT if many else min(arg.max_length, STRING_OPTION_LIMIT)]


class DiscordCommands:
    """The ``/diplowatch`` slash command built from the command specs, answering through a CommandRunner."""

    def __init__(
        self,
        client: discord.Client,
        runner: CommandRunner,
        admin_policy: AdminPolicy,
        *,
        guild_ids: Sequence[int] = (),
        defer_after_s: float = DEFER_AFTER_S,
    ) -> None:
        self._runner = runner
        self._admin_policy = admin_policy
        self._guild_ids = tuple(guild_ids)
        self._defer_after_s = defer_after_s
        self.sync_error: str | None = None
        self.tree = _CommandTree(client, on_failure=self._answer_failure)
        root = self._root_group()
        if self._guild_ids:
            self.tree.add_command(root, guilds=[discord.Object(id=g) for g in self._guild_ids])
        else:
            self.tree.add_command(root)
        self._button_type = _button_type(self)
        client.add_dynamic_items(self._button_type)

    # -- building the command ----------------------------------------------------------------------------

    def _root_group(self) -> app_commands.Group:
        root = app_commands.Group(name=COMMAND_NAME, description=COMMAND_DESCRIPTION)
        groups: dict[str, app_commands.Group] = {}
        for spec in visible_commands():
            command = self._command(spec)
            if len(spec.path) == 1:
                root.add_command(command)
                continue
            group = groups.get(spec.path[0])
            if group is None:
                description = GROUP_DESCRIPTIONS.get(spec.path[0], f"/{COMMAND_NAME} {spec.path[0]} …")
                group = app_commands.Group(name=spec.path[0], description=description)
                groups[spec.path[0]] = group
                root.add_command(group)
            group.add_command(command)
        return root

    def _command(self, spec: CommandSpec) -> app_commands.Command[Any, ..., None]:
        """One subcommand whose options are the spec's arguments (typed, described, with choices or
        autocomplete); discord.py reads them from the callback's signature."""
        parameters = [inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )]
        options: list[_Option] = []
        descriptions: dict[str, str] = {}
        names: dict[str, str] = {}
        choices: dict[str, list[app_commands.Choice[str]]] = {}
        completers: dict[str, _Completer] = {}

        def add(name: str, annotation: Any, *, required: bool, description: str) -> str:
            # Parameters get neutral Python names, renamed to the option names Discord shows.
            parameter = f"option_{len(parameters)}"
            parameters.append(inspect.Parameter(
                parameter, inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation if required else annotation | None,
                default=inspect.Parameter.empty if required else None,
            ))
            descriptions[parameter] = _short(description)
            names[parameter] = name
            return parameter

        for arg in spec.args:
            if arg.hidden:
                continue
            # A pasted document may also come as a file, so neither of the two options is required.
            required = arg.required and arg.kind != "text"
            parameter = add(arg.name, _option_annotation(arg), required=required, description=arg.help)
            options.append(_Option(parameter=parameter, arg=arg))
            if arg.choices:
                choices[parameter] = [
                    app_commands.Choice(name=c, value=c) for c in arg.choices[:CHOICE_LIMIT]
                ]
            elif arg.autocomplete:
                completers[parameter] = self._completer(arg.kind, many=arg.variadic)
            if arg.kind == "text":
                file_parameter = add(FILE_OPTION, discord.Attachment, required=False,
                                     description=f"{arg.help}, as a file instead of pasted text")
                options.append(_Option(parameter=file_parameter, arg=arg, attachment=True))
        public_parameter = None
        if spec.lookup:
            public_parameter = add(PUBLIC_OPTION, bool, required=False,
                                   description="show the answer to the whole channel (default: only you)")

        async def callback(interaction: discord.Interaction, **values: Any) -> None:
            public = public_parameter is not None and values.get(public_parameter) is True
            await self._run_command(interaction, spec, options, values, public=public)

        callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        decorated: Any = callback
        decorated = app_commands.describe(**descriptions)(decorated)
        decorated = app_commands.rename(**names)(decorated)
        if choices:
            decorated = app_commands.choices(**choices)(decorated)
        if completers:
            decorated = app_commands.autocomplete(**completers)(decorated)
        return app_commands.Command(name=spec.path[-1], description=_short(spec.summary), callback=decorated)

    def _completer(self, kind: str, *, many: bool) -> _Completer:
        async def complete(interaction: discord.Interaction, current: str) -> _Choices:
            # A list option ("lavrov,u") completes its last item and keeps the ones before it.
            head, _, typed = current.rpartition(",") if many else ("", "", current)
            head = head.strip()
            try:
                found = await self._runner.complete_choices(kind, typed.strip())
            except Exception:
                log.exception("autocomplete for %s failed", kind)
                return []
            chosen = {item.strip() for item in head.split(",")}
            choices: _Choices = []
            for completion in found:
                if completion.value in chosen:
                    continue
                value = f"{head},{completion.value}" if head else completion.value
                if len(value) <= NAME_DESCRIPTION_LIMIT:
                    choices.append(app_commands.Choice(name=_short(value if head else completion.label),
                                                       value=value))
            return choices[:CHOICE_LIMIT]

        return complete

    # -- running commands and buttons -----------------------------------------------------------------------

    async def _run_command(
        self,
        interaction: discord.Interaction,
        spec: CommandSpec,
        options: Sequence[_Option],
        values: Mapping[str, Any],
        *,
        public: bool,
    ) -> None:
        if spec.admin and interaction.guild_id is None:
            # Admin rights are a server's (Manage Server, roles): there are none in direct messages.
            await self._send(interaction, error_reply(
                f"`{spec.name}` works only in a server channel, not in direct messages."
            ))
            return
        try:
            arguments = await self._arguments(options, values)
        except _OptionProblem as problem:
            await self._send(interaction, error_reply(str(problem)))
            return
        invocation = Invocation(path=spec.path, arguments=arguments, public=public)
        work = self._runner.run(self.context(interaction), invocation)
        await self._answer(interaction, work, public=public)

    async def _arguments(
        self, options: Sequence[_Option], values: Mapping[str, Any]
    ) -> tuple[RawArgument, ...]:
        arguments: list[RawArgument] = []
        for option in options:
            value = values.get(option.parameter)
            if value is None:
                continue
            if option.attachment:
                if any(a.name == option.arg.name for a in arguments):
                    raise _OptionProblem(f"give {option.arg.name} as text or as a file, not both")
                value = await _attachment_text(value, option.arg.name)
            if isinstance(value, str | int | float | bool):
                arguments.append(RawArgument(name=option.arg.name, value=value))
        return tuple(arguments)

    async def press(self, interaction: discord.Interaction, action: str, token: str) -> None:
        """A reply's button was pressed: show the next page, apply a previewed import, or cancel it."""
        path = ("more",) if action == "more" else ("import", "cancel" if action == "cancel" else "confirm")
        invocation = Invocation(path=path, arguments=(RawArgument(name="token", value=token),))
        work = self._runner.run(self.context(interaction), invocation)
        if action == "cancel":
            await self._replace(interaction, work)
            return
        await self._answer(interaction, work, public=False)

    def context(self, interaction: discord.Interaction) -> CommandContext:
        """Who runs the command where, and whether they are an admin (Manage Server or an admin role)."""
        user = interaction.user
        role_ids = tuple(str(role.id) for role in user.roles) if isinstance(user, discord.Member) else ()
        permissions = interaction.permissions
        in_server = interaction.guild_id is not None
        platform_admin = in_server and (permissions.administrator or permissions.manage_guild)
        user_id = str(user.id)
        return CommandContext(
            platform="discord",
            channel_id=str(interaction.channel_id),
            user_id=user_id,
            user_name=user.name,
            is_admin=in_server and self._admin_policy.is_admin(
                platform="discord", user_id=user_id, role_ids=role_ids, platform_admin=platform_admin
            ),
        )

    async def _answer(
        self, interaction: discord.Interaction, work: Awaitable[Reply], *, public: bool
    ) -> None:
        """Send ``work``'s reply; one that takes long is deferred first, so Discord does not give up."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self._defer_after_s)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            try:
                await interaction.response.defer(ephemeral=not public, thinking=True)
            except (discord.HTTPException, aiohttp.ClientError, OSError) as e:
                log.warning("Discord: could not defer the answer to %s: %s", _describe(interaction), e)
        try:
            reply = await task
        except Exception:
            log.exception("Discord: answering %s failed", _describe(interaction))
            reply = error_reply(FAILURE_MESSAGE)
        await self._send(interaction, reply)

    async def _replace(self, interaction: discord.Interaction, work: Awaitable[Reply]) -> None:
        """Show ``work``'s reply in place of the message whose button was pressed (its buttons go too)."""
        try:
            reply = await work
        except Exception:
            log.exception("Discord: answering %s failed", _describe(interaction))
            reply = error_reply(FAILURE_MESSAGE)
        rendered = render_reply(reply)
        try:
            await interaction.response.edit_message(
                embeds=[embed.to_discord() for embed in rendered.embeds], view=self._view(rendered.buttons),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except (discord.HTTPException, aiohttp.ClientError, OSError) as e:
            log.warning("Discord: could not replace the message of %s: %s", _describe(interaction), e)

    def _view(self, buttons: Sequence[ReplyButton]) -> discord.ui.View | None:
        if not buttons:
            return None
        view = discord.ui.View(timeout=None)
        for button in buttons:
            view.add_item(_button_item(self._button_type, button))
        return view

    async def _send(self, interaction: discord.Interaction, reply: Reply) -> None:
        rendered = render_reply(reply)
        embeds = [embed.to_discord() for embed in rendered.embeds]
        view: Any = self._view(rendered.buttons) or discord.utils.MISSING
        file: Any = discord.utils.MISSING
        if rendered.attachment is not None:
            attachment = rendered.attachment
            file = discord.File(io.BytesIO(attachment.content), filename=attachment.filename)
        mentions = discord.AllowedMentions.none()
        private = rendered.ephemeral
        try:
            if interaction.response.is_done():
                await interaction.followup.send(
                    embeds=embeds, view=view, file=file, ephemeral=private, allowed_mentions=mentions
                )
            else:
                await interaction.response.send_message(
                    embeds=embeds, view=view, file=file, ephemeral=private, allowed_mentions=mentions
                )
        except (discord.HTTPException, aiohttp.ClientError, OSError) as e:
            log.warning("Discord: could not answer %s: %s", _describe(interaction), e)

    async def _answer_failure(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            log.error("Discord: %s; the registered /%s is out of date and is synced at the next start",
                      error, COMMAND_NAME)
            reply = error_reply(f"This /{COMMAND_NAME} command is out of date; try again in a minute.")
        else:
            log.error("Discord: /%s failed for %s", COMMAND_NAME, _describe(interaction), exc_info=error)
            reply = error_reply(FAILURE_MESSAGE)
        if interaction.type is discord.InteractionType.autocomplete:
            return
        await self._send(interaction, reply)

    # -- registering ---------------------------------------------------------------------------------------

    async def sync(self) -> bool:
        """Register the command with Discord (globally, or per guild when guild ids are given).

        A failure is logged with what to do about it and kept in ``sync_error``; it never raises.
        """
        try:
            async with asyncio.timeout(SYNC_TIMEOUT_S):
                if self._guild_ids:
                    for guild_id in self._guild_ids:
                        await self.tree.sync(guild=discord.Object(id=guild_id))
                else:
                    await self.tree.sync()
        except TimeoutError:
            self.sync_error = f"Discord did not register /{COMMAND_NAME}: no answer in {SYNC_TIMEOUT_S:g} s"
        except discord.HTTPException as e:
            hint = (
                "invite the bot with the applications.commands scope"
                if e.status == 403 else "Discord refused the command definitions"
            )
            self.sync_error = f"Discord did not register /{COMMAND_NAME}: {_discord_error(e)}; {hint}"
        except (app_commands.AppCommandError, aiohttp.ClientError, OSError) as e:
            self.sync_error = f"Discord did not register /{COMMAND_NAME}: {e}"
        else:
            self.sync_error = None
            return True
        log.error("%s (alerts still go out; slash commands may be missing or stale)", self.sync_error)
        return False


class _OptionProblem(Exception):
    """An option value that cannot be passed on (an unreadable attachment); its text is shown to the user."""


async def _attachment_text(value: object, name: str) -> str:
    if not isinstance(value, discord.Attachment):
        raise _OptionProblem(f"{name}: expected a file")
    if value.size > MAX_ATTACHMENT_BYTES:
        raise _OptionProblem(f"{name}: the file is larger than {MAX_ATTACHMENT_BYTES // 1000} kB")
    try:
        content = await value.read()
    except (discord.HTTPException, aiohttp.ClientError, OSError) as e:
        raise _OptionProblem(f"{name}: could not download the attached file ({e})") from e
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _OptionProblem(f"{name}: the attached file is not UTF-8 text") from e


def _describe(interaction: discord.Interaction) -> str:
    return f"interaction {interaction.id} of user {interaction.user.id if interaction.user else '?'}"


class _CommandTree(app_commands.CommandTree[discord.Client]):
    """A command tree that answers errors discord.py raises around a command instead of only logging them."""

    def __init__(
        self,
        client: discord.Client,
        *,
        on_failure: Callable[[discord.Interaction, app_commands.AppCommandError], Awaitable[None]],
    ) -> None:
        super().__init__(client)
        self._on_failure = on_failure

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await self._on_failure(interaction, error)


_ButtonBase = discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]]


def _button_item(item_type: type[_ButtonBase], button: ReplyButton) -> _ButtonBase:
    style = discord.ButtonStyle.success if button.action == "confirm" else discord.ButtonStyle.secondary
    inner: discord.ui.Button[discord.ui.View] = discord.ui.Button(
        label=button.label, style=style, custom_id=button.custom_id
    )
    return item_type(inner)


def _button_type(commands: DiscordCommands) -> type[_ButtonBase]:
    """The dynamic button class whose presses ``commands`` answers, also on messages sent before a restart."""

    class CommandButton(_ButtonBase, template=BUTTON_ID):
        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
        ) -> Self:
            del interaction, match
            if not isinstance(item, discord.ui.Button):
                raise TypeError("diplowatch buttons are buttons")
            return cls(item)

        async def callback(self, interaction: discord.Interaction) -> None:
            match = BUTTON_ID.fullmatch(self.custom_id)
            if match is not None:
                await commands.press(interaction, match["action"], match["token"])

    return CommandButton
