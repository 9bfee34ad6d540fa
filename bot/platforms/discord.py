"""Discord adapter: renders neutral messages into embeds within Discord's limits and posts them (discord.py).

This is the only module that imports ``discord``. Rendering is pure (``render_message``); ``DiscordPlatform``
owns the ``discord.Client`` and maps every discord.py failure onto ``DeliveryError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
import discord

from bot.platforms.base import Highlight, Message, RenderedStory, SendReceipt
from feeds.errors import DeliveryError

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

    def __repr__(self) -> str:
        return f"DiscordPlatform(logged_in={self._logged_in}, closed={self._closed})"

    @property
    def client(self) -> discord.Client:
        """The discord.py client (for attaching an app command tree)."""
        return self._client

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
