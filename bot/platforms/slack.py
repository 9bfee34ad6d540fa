"""Slack delivery: neutral messages rendered to Block Kit and posted with slack-sdk on a slack-bolt app.

With bot/platforms/discord.py, the only module that imports a chat library. Feed text never pings or spoofs:
every feed-derived string loses its invisible controls, is entity-escaped and has its mrkdwn formatting
characters replaced by look-alikes, and every mrkdwn object is ``verbatim`` so Slack links nothing itself.

``SlackPlatform.install_commands`` answers ``/diplowatch`` and its buttons through a ``CommandRunner``;
requests arrive over HTTP (``serve_http``: bolt's aiohttp adapter, signatures checked) or Socket Mode
(``serve_socket``).
"""

from __future__ import annotations

import errno
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.commands import (
    AdminPolicy,
    CommandContext,
    CommandRunner,
    Invocation,
    RawArgument,
    Reply,
    find_command,
    parse_line,
)
from bot.commands.replies import error_reply
from bot.platforms.base import Highlight, Message, MessageSection, RenderedStory, SendReceipt
from feeds.errors import ConfigError, DeliveryError, DiplowatchError

DEFAULT_API_BASE_URL: Final = "https://slack.com/api/"

HEADER_TEXT_LIMIT: Final = 150
SECTION_TEXT_LIMIT: Final = 3000
MESSAGE_BLOCK_LIMIT: Final = 50
# Slack rejects messages whose block texts add up to roughly 12-13k characters (msg_blocks_too_long); the
# limit is undocumented, so keep a margin below it.
MESSAGE_TEXT_BUDGET: Final = 10_000
TITLE_LIMIT: Final = 300
SECTION_HEADING_LIMIT: Final = 300
SOURCE_LIMIT: Final = 200
NAMES_LIMIT: Final = 450
CONTEXT_TEXT_LIMIT: Final = 1000
FALLBACK_TEXT_LIMIT: Final = 500
URL_LIMIT: Final = 1500
ELLIPSIS: Final = "…"

Block = dict[str, Any]

_AUTH_ERRORS: Final = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
_TRANSIENT_ERRORS: Final = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "rate_limited"}
)
_ERROR_HINTS: Final[Mapping[str, str]] = {
    "channel_not_found": "the channel does not exist or the bot cannot see it; check the channel id",
    "not_in_channel": "the bot is not a member of the channel; invite it with /invite",
    "is_archived": "the channel is archived; unarchive it or move the subscription to another channel",
    "missing_scope": "the Slack app lacks a permission; add the scope and reinstall the app",
    "restricted_action": "a workspace setting forbids the bot to post in this channel",
    "invalid_blocks": "Slack refused the message layout",
    "msg_blocks_too_long": "Slack refused the message as too long",
    "msg_too_long": "Slack refused the message as too long",
}
_PARTIAL_SENDS_KEPT: Final = 256

# Invisible characters that reorder or hide text (bidi overrides and isolates, zero-width characters), and
# C0/C1 controls other than newline.
_INVISIBLE: Final[frozenset[int]] = frozenset(
    [
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        *range(0x200B, 0x2010),
        0x2060,
        0xFEFF,
        0x061C,
        *(c for c in range(0x00, 0x20) if c not in (0x09, 0x0A)),
        0x7F,
        *range(0x80, 0xA0),
    ]
)
_CLEAN_TABLE: Final[dict[int, str | None]] = {
    **dict.fromkeys(_INVISIBLE),
    0x09: " ",
    0x2028: "\n",
    0x2029: "\n",
}
# Slack mrkdwn has no escape for its formatting characters; look-alikes keep feed text readable and inert.
_DEFORMAT_TABLE: Final = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
_URL_SAFE: Final = "!#$%&'()*+,/:;=?@[]"
_SPACES: Final = re.compile(r"[^\S\n]+")
_BLANK_LINES: Final = re.compile(r"\n\s*\n\s*")
_ZERO_WIDTH_SPACE: Final = "\u200b"


# ---------------------------------------------------------------------------------------------------------
# Rendering: pure functions from the neutral Message to chat.postMessage payloads


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackPost:
    """One chat.postMessage payload: notification text, Block Kit blocks and whether links unfurl."""

    text: str
    blocks: tuple[Block, ...]
    unfurl: bool


def _clean(feed_text: str) -> str:
    return feed_text.translate(_CLEAN_TABLE)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert_mrkdwn(feed_text: str) -> str:
    """Feed text as one line of mrkdwn that cannot mention, link or format anything."""
    return _escape(" ".join(_clean(feed_text).translate(_DEFORMAT_TABLE).split()))


def inert_plain_text(feed_text: str) -> str:
    """Feed text as one line for a ``plain_text`` object (escaped, invisible controls removed)."""
    return _escape(" ".join(_clean(feed_text).split()))


def _inert_mrkdwn_lines(feed_text: str) -> str:
    collapsed = _SPACES.sub(" ", _clean(feed_text).translate(_DEFORMAT_TABLE))
    lines = "\n".join(line.strip() for line in collapsed.split("\n"))
    return _escape(_BLANK_LINES.sub("\n\n", lines).strip())


def _fit(raw: str, render: Callable[[str], str], limit: int) -> str:
    """``render(raw)`` if it fits in ``limit`` chars, else a rendered prefix cut at a word plus an ellipsis.

    Truncating the raw text (never the rendered one) keeps entities and formatting marks whole.
    """
    whole = render(raw)
    if len(whole) <= limit:
        return whole
    low, high = 0, len(raw)
    while low < high:
        middle = (low + high + 1) // 2
        if len(render(raw[:middle].rstrip())) + len(ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle - 1
    cut = raw[:low]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    if boundary > 0 and low - boundary <= 40:
        cut = cut[:boundary]
    cut = cut.rstrip()
    while cut and len(render(cut)) + len(ELLIPSIS) > limit:
        cut = cut[:-1].rstrip()
    return render(cut) + ELLIPSIS if cut else ELLIPSIS[:limit]


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _header_block(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def _section_block(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _context_block(texts: Iterable[str]) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text) for text in texts]}


def _divider_block() -> Block:
    return {"type": "divider"}


def link_target(url: str | None) -> str | None:
    """The URL made safe inside ``<url|text>``, or None when it is not a usable http(s) URL."""
    if not url:
        return None
    cleaned = _clean(url).strip()
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    # Percent-encoding `|`, `<`, `>`, spaces and quotes keeps the URL from ending the link early.
    quoted = _escape(quote(cleaned, safe=_URL_SAFE))
    return quoted if len(quoted) <= URL_LIMIT else None


def _merged_ranges(highlights: Iterable[Highlight], length: int) -> list[tuple[int, int]]:
    ranges = sorted((max(0, h.start), min(length, h.end)) for h in highlights)
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def render_snippet(snippet: str, highlights: Iterable[Highlight] = ()) -> str:
    """The snippet as inert mrkdwn on one line, with the highlighted ranges in bold."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for start, end in _merged_ranges(highlights, len(snippet)):
        pieces.append((snippet[position:start], False))
        pieces.append((snippet[start:end], True))
        position = end
    pieces.append((snippet[position:], False))
    rendered = [
        (_escape(_SPACES.sub(" ", _clean(text).translate(_DEFORMAT_TABLE)).replace("\n", " ")), bold)
        for text, bold in pieces
        if text
    ]
    out = ""
    for index, (text, bold) in enumerate(rendered):
        if out.endswith(" ") and text.startswith(" "):
            text = text[1:]
        core = text.strip()
        if not bold or not core:
            out += text
            continue
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()) :]
        following = rendered[index + 1][0] if index + 1 < len(rendered) else ""
        # Slack only honours `*` at a word boundary; a zero-width space makes one inside a word.
        before = _ZERO_WIDTH_SPACE if not lead and out[-1:].isalnum() else ""
        after = _ZERO_WIDTH_SPACE if not trail and following[:1].isalnum() else ""
        out += f"{lead}{before}*{core}*{after}{trail}"
    return out.strip()


def _story_section_text(story: RenderedStory) -> str:
    label = _fit(story.title, inert_mrkdwn, TITLE_LIMIT) or "(untitled)"
    target = link_target(story.url)
    title = f"*<{target}|{label}>*" if target else f"*{label}*"
    if not story.snippet.strip():
        return title
    budget = SECTION_TEXT_LIMIT - len(title) - 1
    body = _fit(story.snippet, lambda raw: render_snippet(raw, story.highlights), budget)
    return f"{title}\n{body}" if body.strip(ELLIPSIS) else title


def slack_date(moment: datetime) -> str:
    """A Slack date token: shown in each reader's own time zone, with a UTC fallback."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    fallback = aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _names(label: str, names: tuple[str, ...]) -> str | None:
    listed = _fit(", ".join(n for n in names if n.strip()), inert_mrkdwn, NAMES_LIMIT)
    return f"{label}: {listed}" if listed else None


def _story_context_texts(story: RenderedStory) -> list[str]:
    source = _fit(story.source, inert_mrkdwn, SOURCE_LIMIT)
    when = slack_date(story.published)
    texts = [f"{source} · {when}" if source else when]
    tags = [t for t in (_names("Actors", story.actors), _names("Topics", story.topics)) if t]
    if tags:
        texts.append(" · ".join(tags))
    if story.also_reported_by:
        also = _fit(", ".join(story.also_reported_by), inert_mrkdwn, CONTEXT_TEXT_LIMIT - 20)
        if also:
            texts.append(f"Also reported by {also}")
    return texts


def render_story(story: RenderedStory) -> tuple[Block, ...]:
    """One story as a section (linked title, snippet with highlights) and a context line; never split."""
    return _section_block(_story_section_text(story)), _context_block(_story_context_texts(story))


def _section_heading(section: MessageSection, *, continued: bool) -> Block | None:
    heading = _fit(section.heading, inert_mrkdwn, SECTION_HEADING_LIMIT)
    if not heading:
        return None
    return _section_block(f"*{heading}* (continued)" if continued else f"*{heading}*")


def _note_chunks(note: str) -> list[str]:
    chunks: list[str] = []
    rest = note.strip()
    while rest:
        rendered = _inert_mrkdwn_lines(rest)
        if len(rendered) <= SECTION_TEXT_LIMIT:
            chunks.append(rendered)
            break
        # A note is not a story: it may continue in the next section, cut at a line or word boundary.
        size = _longest_fitting_prefix(rest)
        chunks.append(_inert_mrkdwn_lines(rest[:size]))
        rest = rest[size:].strip()
    return [chunk for chunk in chunks if chunk]


def _longest_fitting_prefix(raw: str) -> int:
    low, high = 1, len(raw)
    while low < high:
        middle = (low + high + 1) // 2
        if len(_inert_mrkdwn_lines(raw[:middle])) <= SECTION_TEXT_LIMIT:
            low = middle
        else:
            high = middle - 1
    boundary = max(raw.rfind("\n", 0, low + 1), raw.rfind(" ", 0, low + 1))
    return boundary if boundary > low // 2 else low


def _text_length(blocks: Iterable[Block]) -> int:
    total = 0
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            total += len(str(text.get("text", "")))
        for element in block.get("elements", ()):
            total += len(str(element.get("text", "")))
    return total


@dataclass(frozen=True, slots=True, kw_only=True)
class _Unit:
    """Blocks that stay in one Slack message: a story (with its section heading when it opens the section)."""

    blocks: tuple[Block, ...]
    opens_section: bool = False
    continued_heading: Block | None = None
    title: str | None = None


@dataclass(slots=True)
class _Part:
    blocks: list[Block]
    titles: list[str]


def _units(message: Message) -> list[_Unit]:
    units = [_Unit(blocks=(_section_block(chunk),)) for chunk in _note_chunks(message.note)]
    for section in message.sections:
        heading = _section_heading(section, continued=False)
        continued = _section_heading(section, continued=True)
        if not section.stories:
            if heading is not None:
                units.append(_Unit(blocks=(heading,), opens_section=True))
            continue
        for index, story in enumerate(section.stories):
            lead = (heading,) if index == 0 and heading is not None else ()
            units.append(
                _Unit(
                    blocks=(*lead, *render_story(story)),
                    opens_section=index == 0,
                    continued_heading=None if index == 0 else continued,
                    title=story.title,
                )
            )
    return units


def _pack(units: list[_Unit]) -> list[_Part]:
    """Greedy packing under the block and text limits, leaving room for each part's header."""
    block_budget = MESSAGE_BLOCK_LIMIT - 1
    text_budget = MESSAGE_TEXT_BUDGET - HEADER_TEXT_LIMIT
    parts: list[_Part] = []
    current = _Part(blocks=[], titles=[])
    for unit in units:
        lead = [_divider_block()] if unit.opens_section and current.blocks else []
        candidate = [*current.blocks, *lead, *unit.blocks]
        if current.blocks and (len(candidate) > block_budget or _text_length(candidate) > text_budget):
            parts.append(current)
            current = _Part(blocks=[], titles=[])
            lead = [unit.continued_heading] if unit.continued_heading is not None else []
        current.blocks.extend([*lead, *unit.blocks])
        if unit.title is not None:
            current.titles.append(unit.title)
    parts.append(current)
    return parts


def render_message(message: Message) -> tuple[SlackPost, ...]:
    """The neutral message as one or more chat.postMessage payloads within Slack's limits.

    A split happens only when the 50-block or the text limit forces it, between stories, never inside one.
    """
    parts = _pack(_units(message))
    unfurl = message.kind == "alert"
    posts: list[SlackPost] = []
    for number, part in enumerate(parts, start=1):
        suffix = f" ({number}/{len(parts)})" if len(parts) > 1 else ""
        header = _fit(message.heading, inert_plain_text, HEADER_TEXT_LIMIT - len(suffix))
        header_text = f"{header}{suffix}" if header else ""
        blocks = ([_header_block(header_text)] if header_text else []) + part.blocks
        summary = "; ".join(part.titles) if part.titles else message.note
        raw_fallback = f"{message.heading}{suffix}" + (f": {summary}" if summary.strip() else "")
        text = _fit(raw_fallback, inert_mrkdwn, FALLBACK_TEXT_LIMIT) or message.kind
        posts.append(SlackPost(text=text, blocks=tuple(blocks), unfurl=unfurl))
    return tuple(posts)


# ---------------------------------------------------------------------------------------------------------
# Command replies: pure functions from a neutral Reply to response_url messages

SLASH_COMMAND: Final = "/diplowatch"
ACTION_MORE: Final = "diplowatch_more"
ACTION_CONFIRM: Final = "diplowatch_confirm"
ACTION_CANCEL: Final = "diplowatch_cancel"
EVENTS_PATH: Final = "/slack/events"
# Slack accepts five messages per response_url (within 30 minutes).
RESPONSES_PER_URL: Final = 5
CODE_CHUNK_LIMIT: Final = SECTION_TEXT_LIMIT - 10
BUTTON_LABEL_LIMIT: Final = 75
# Room left in a message for the "… more lines not shown" note and the buttons.
_REPLY_ROOM_BLOCKS: Final = 3
_REPLY_ROOM_TEXT: Final = 400
_FENCE: Final = "```"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackReplyMessage:
    """One message answering a command through its response_url."""

    text: str
    blocks: tuple[Block, ...]
    in_channel: bool


def _plain_section(text: str) -> Block:
    return {"type": "section", "text": {"type": "plain_text", "text": text, "emoji": False}}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": _fit(text, inert_plain_text, BUTTON_LABEL_LIMIT),
                 "emoji": False},
        "action_id": action_id,
        "value": value,
    }
    if style is not None:
        button["style"] = style
    return button


def _reply_line_sections(reply: Reply) -> list[tuple[Block, int]]:
    """The reply's blocks as sections, each with how many text lines it holds."""
    sections: list[tuple[Block, int]] = []
    for block in reply.blocks:
        if block.heading:
            heading = _fit(block.heading, inert_mrkdwn, SECTION_HEADING_LIMIT)
            sections.append((_section_block(f"*{heading}*"), 0))
        chunk: list[str] = []
        size = 0
        for raw in block.lines:
            # Replies are shown as plain text: exactly what was typed or stored, nothing formatted or linked.
            line = _fit(raw, inert_plain_text, SECTION_TEXT_LIMIT) or " "
            if chunk and size + len(line) + 1 > SECTION_TEXT_LIMIT:
                sections.append((_plain_section("\n".join(chunk)), len(chunk)))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        if chunk:
            sections.append((_plain_section("\n".join(chunk)), len(chunk)))
    return sections


def _code_sections(content: bytes) -> list[Block]:
    """An attached file as mrkdwn code blocks, cut at line ends."""
    text = content.decode("utf-8", errors="replace").replace("\r\n", "\n").strip("\n")
    # A fence inside the file would end the code block early; a zero-width space keeps it apart.
    text = text.replace(_FENCE, "``" + _ZERO_WIDTH_SPACE + "`")
    sections: list[Block] = []
    chunk: list[str] = []
    size = 0
    for raw in text.split("\n"):
        line = _escape(raw.translate(_CLEAN_TABLE))
        while len(line) > CODE_CHUNK_LIMIT:
            sections.append(_section_block(f"{_FENCE}\n{line[:CODE_CHUNK_LIMIT]}\n{_FENCE}"))
            line = line[CODE_CHUNK_LIMIT:]
        if chunk and size + len(line) + 1 > CODE_CHUNK_LIMIT:
            sections.append(_section_block(f"{_FENCE}\n" + "\n".join(chunk) + f"\n{_FENCE}"))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        sections.append(_section_block(f"{_FENCE}\n" + "\n".join(chunk) + f"\n{_FENCE}"))
    return sections


def _reply_buttons(reply: Reply) -> list[Block]:
    blocks: list[Block] = []
    confirmation = reply.confirmation
    if confirmation is not None:
        prompt = _fit(confirmation.prompt, inert_plain_text, SECTION_TEXT_LIMIT)
        blocks.append(_plain_section(prompt))
        blocks.append(_context_block([f"Expires {slack_date(confirmation.expires_at)}"]))
        blocks.append({"type": "actions", "elements": [
            _button(confirmation.label, ACTION_CONFIRM, confirmation.token, style="primary"),
            _button("Cancel", ACTION_CANCEL, confirmation.token),
        ]})
    if reply.next_page is not None:
        blocks.append({"type": "actions", "elements": [
            _button(reply.next_page.label, ACTION_MORE, reply.next_page.token),
        ]})
    return blocks


def render_reply(reply: Reply) -> tuple[SlackReplyMessage, ...]:
    """A command reply as response_url messages within Slack's limits (usually one).

    Text lines are plain text; lines beyond the limits are counted in a last line. An attachment (the export)
    follows as code blocks, over up to five messages, since a file shared from a slash command would not be
    private to the admin who asked.
    """
    title = _fit(reply.title, inert_plain_text, HEADER_TEXT_LIMIT) or "diplowatch"
    fallback = _fit(reply.title, inert_mrkdwn, FALLBACK_TEXT_LIMIT) or "diplowatch"
    in_channel = not reply.ephemeral
    buttons = _reply_buttons(reply)
    block_budget = MESSAGE_BLOCK_LIMIT - _REPLY_ROOM_BLOCKS - len(buttons)
    text_budget = MESSAGE_TEXT_BUDGET - _REPLY_ROOM_TEXT - _text_length(buttons)
    blocks: list[Block] = [_header_block(title)]
    sections = _reply_line_sections(reply)
    for index, (section, _) in enumerate(sections):
        if len(blocks) + 1 > block_budget or _text_length([*blocks, section]) > text_budget:
            left = sum(lines for _, lines in sections[index:])
            blocks.append(_plain_section(f"… {left} more line{'s' if left != 1 else ''} not shown."))
            break
        blocks.append(section)
    messages = [blocks]
    if reply.attachment is not None:
        attachment = reply.attachment
        messages[0].append(_context_block([f"{inert_mrkdwn(attachment.filename)} "
                                           f"({len(attachment.content)} bytes):"]))
        for code in _code_sections(attachment.content):
            current = messages[-1]
            if len(current) + 1 > block_budget or _text_length([*current, code]) > text_budget:
                if len(messages) == RESPONSES_PER_URL:
                    current.append(_plain_section(
                        f"… {attachment.filename} is too long to show in full here; run `diplowatch export` "
                        "on the bot's server for the whole file."
                    ))
                    break
                messages.append([])
                current = messages[-1]
            current.append(code)
    messages[-1].extend(buttons)
    return tuple(
        SlackReplyMessage(text=fallback, blocks=tuple(message), in_channel=in_channel) for message in messages
    )


def slack_unescape(text: str) -> str:
    """A slash command's text as typed: Slack sends ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")



# ---------------------------------------------------------------------------------------------------------
# The platform


def _header_value(headers: Any, name: str) -> str | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if str(key).lower() == name:
            first = value[0] if isinstance(value, list | tuple) and value else value
            return str(first)
    return None


def _retry_after_s(headers: Any) -> float | None:
    value = _header_value(headers, "retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class SlackPlatform:
    """Posts neutral messages to Slack channels through the Web API.

    ``app`` is the slack-bolt AsyncApp sharing the same Web API client, for slash commands; sending never
    goes through bolt's request handling.
    """

    name = "slack"

    def __init__(
        self,
        *,
        token: str,
        signing_secret: str = "",
        api_base_url: str = DEFAULT_API_BASE_URL,
        request_timeout_s: float = 30.0,
        rate_limit_retries: int = 1,
        logger: logging.Logger | None = None,
    ) -> None:
        if not token.strip():
            raise ConfigError("SLACK_BOT_TOKEN is empty: set it to the bot token (xoxb-…) of the Slack app")
        base = urlsplit(api_base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ConfigError(f"slack.api_base_url: {api_base_url!r} is not an http(s) URL")
        if request_timeout_s <= 0:
            raise ConfigError(f"Slack request timeout must be positive, not {request_timeout_s}")
        self._log = logger or logging.getLogger(__name__)
        self._timeout_s = request_timeout_s
        self._session: aiohttp.ClientSession | None = None
        # Only 429 is retried here: Slack has not acted on a rate-limited call, whereas a post that failed
        # with a 5xx or a dropped connection may have landed, so the outbox decides about those.
        self._client = AsyncWebClient(
            token=token.strip(),
            base_url=api_base_url,
            timeout=max(1, math.ceil(request_timeout_s)),
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)],
        )
        # Passing the client (and a name) keeps construction offline and cheap: bolt calls auth.test only
        # when it handles a request, and `start()` checks the token itself.
        self._app = AsyncApp(client=self._client, signing_secret=signing_secret, name="diplowatch")
        self._signing_secret = signing_secret
        self._partial_sends: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._bot_user_id: str | None = None
        self._commands: SlackCommands | None = None
        self._http: web.AppRunner | None = None
        self._http_address: tuple[str, int] | None = None
        self._socket: AsyncSocketModeHandler | None = None

    @property
    def app(self) -> AsyncApp:
        """The slack-bolt app (same Web API client) on which command handlers are registered."""
        return self._app

    @property
    def api_base_url(self) -> str:
        """The Web API base URL every call goes to (ends with a slash)."""
        return self._client.base_url

    @property
    def bot_user_id(self) -> str | None:
        """The bot's Slack user id, known after ``start()``."""
        return self._bot_user_id

    @property
    def events_url(self) -> str | None:
        """Where ``serve_http`` listens for Slack's requests (``http://host:port/slack/events``), if it is."""
        if self._http_address is None:
            return None
        host, port = self._http_address
        return f"http://{host}:{port}{EVENTS_PATH}"

    def install_commands(
        self,
        runner: CommandRunner,
        admin_policy: AdminPolicy,
        *,
        admin_cache_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Answer ``/diplowatch …`` and its buttons with ``runner``; requests come through ``serve_http`` or
        ``serve_socket``. Workspace admins and owners (users.info) are admins, cached ``admin_cache_s``."""
        if self._commands is not None:
            raise ConfigError("the Slack slash command is already installed")
        self._commands = SlackCommands(
            self._app, self._client, runner, admin_policy, admin_cache_s=admin_cache_s, monotonic=monotonic,
            logger=self._log,
        )

    async def serve_http(self, host: str, port: int) -> None:
        """Listen for Slack's requests on ``http://host:port/slack/events`` (signatures checked by bolt, with
        its 5-minute window) until ``close()``; returns once listening. Port 0 picks a free port."""
        if not self._signing_secret.strip():
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: Slack's HTTP mode needs it to check that requests come "
                "from Slack (or set [slack] mode = \"socket\")"
            )
        if self._http is not None:
            raise ConfigError(f"the Slack HTTP endpoint is already listening at {self.events_url}")
        app = web.Application()
        app.router.add_post(EVENTS_PATH, self._handle_http)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            reason = "address already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
            raise ConfigError(
                f"cannot listen on {host}:{port}: {reason}; set [slack] http_host/http_port to a free address"
            ) from e
        self._http = runner
        bound = runner.addresses[0] if runner.addresses else (host, port)
        self._http_address = (str(bound[0]), int(bound[1]))
        self._log.info("Slack: listening for requests at %s", self.events_url)

    async def _handle_http(self, request: web.Request) -> web.Response:
        bolt_response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def serve_socket(self, app_token: str) -> None:
        """Receive Slack's requests over Socket Mode with the app-level token (``xapp-…``, connections:write);
        returns once connected, reconnects by itself until ``close()``."""
        token = app_token.strip()
        if not token.startswith("xapp-"):
            raise ConfigError(
                "SLACK_APP_TOKEN must be the app-level token (xapp-…) with the connections:write scope"
            )
        if self._socket is not None:
            raise ConfigError("Slack Socket Mode is already connected")
        self._open_session()
        try:
            # One call first, so a bad token is a clear error rather than the client's endless retries.
            opened = await self._client.apps_connections_open(app_token=token)
        except SlackApiError as e:
            code = e.response.get("error") if isinstance(e.response.data, dict) else None
            if code in _AUTH_ERRORS:
                raise ConfigError(f"Slack rejected SLACK_APP_TOKEN: {code}") from e
            raise self._delivery_error(e, channel_id=None) from e
        except (SlackClientError, aiohttp.ClientError, OSError) as e:
            raise self._delivery_error(e, channel_id=None) from e
        url = opened.get("url")
        if not isinstance(url, str) or not url:
            raise DeliveryError("Slack Socket Mode: apps.connections.open returned no URL")
        handler = AsyncSocketModeHandler(self._app, token, logger=self._log, web_client=self._client)
        handler.client.wss_uri = url
        await handler.connect_async()  # type: ignore[no-untyped-call]
        self._socket = handler
        self._log.info("Slack: connected over Socket Mode")

    def _open_session(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))
            self._client.session = self._session

    async def start(self) -> None:
        """Check the token with auth.test against the configured API base URL."""
        self._open_session()
        try:
            response = await self._client.auth_test()
        except (SlackClientError, aiohttp.ClientError, OSError) as e:
            raise self._delivery_error(e, channel_id=None) from e
        user = response.get("user_id")
        self._bot_user_id = user if isinstance(user, str) else None
        self._log.info("Slack: signed in as %s to workspace %s", response.get("user"), response.get("team"))

    async def send(self, channel_id: str, message: Message, *, idempotency_key: str) -> SendReceipt:
        """Post ``message`` to ``channel_id``, one chat.postMessage per part; returns each part's ``ts``.

        Slack has no idempotency key, so parts already posted by an earlier failed attempt with the same key
        (in this process) are not posted again.
        """
        posts = render_message(message)
        posted = list(self._partial_sends.pop(idempotency_key, ()))
        self._open_session()
        for post in posts[len(posted) :]:
            try:
                response = await self._client.chat_postMessage(
                    channel=channel_id,
                    text=post.text,
                    blocks=list(post.blocks) or None,
                    unfurl_links=post.unfurl,
                    unfurl_media=post.unfurl,
                    link_names=False,
                    parse="none",
                )
            except (SlackClientError, aiohttp.ClientError, OSError) as e:
                self._remember_partial_send(idempotency_key, posted)
                raise self._delivery_error(e, channel_id=channel_id) from e
            ts = response.get("ts")
            if not isinstance(ts, str) or not ts:
                self._remember_partial_send(idempotency_key, posted)
                raise DeliveryError(f"Slack channel {channel_id}: Slack returned no ts for a posted message")
            posted.append(ts)
        return SendReceipt(message_ids=tuple(posted))

    async def close(self) -> None:
        """Stop listening for requests (HTTP or Socket Mode) and close the HTTP session."""
        socket_handler, self._socket = self._socket, None
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        http, self._http = self._http, None
        self._http_address = None
        if http is not None:
            await http.cleanup()
        session, self._session = self._session, None
        self._client.session = None
        if session is not None:
            await session.close()

    def _remember_partial_send(self, idempotency_key: str, posted: list[str]) -> None:
        if not posted:
            return
        self._partial_sends[idempotency_key] = tuple(posted)
        while len(self._partial_sends) > _PARTIAL_SENDS_KEPT:
            self._partial_sends.popitem(last=False)

    def _delivery_error(self, error: Exception, *, channel_id: str | None) -> DeliveryError:
        where = f"Slack channel {channel_id}" if channel_id else "Slack"
        if isinstance(error, TimeoutError):
            return DeliveryError(f"{where}: Slack did not answer within {self._timeout_s:g} s")
        if isinstance(error, aiohttp.ClientError | OSError):
            return DeliveryError(f"{where}: could not reach Slack at {self.api_base_url}: {error}")
        if isinstance(error, SlackApiError):
            return self._api_error(error, where=where, channel_id=channel_id)
        return DeliveryError(f"{where}: the Slack client refused the request: {error}", permanent=True)

    def _api_error(self, error: SlackApiError, *, where: str, channel_id: str | None) -> DeliveryError:
        response = error.response
        if isinstance(response, AsyncSlackResponse):
            status = response.status_code
            data = response.data if isinstance(response.data, dict) else {}
            headers: Any = response.headers
        else:
            status = int(getattr(response, "status", 0))
            data, headers = {}, getattr(response, "headers", None)
        code = data.get("error") if isinstance(data.get("error"), str) else None
        if status == 429:
            wait = _retry_after_s(headers)
            after = f"; retry after {wait:g} s" if wait is not None else ""
            return DeliveryError(f"{where}: Slack rate-limited the bot{after}", retry_after_s=wait)
        if code in _AUTH_ERRORS:
            context = f" (while posting to channel {channel_id})" if channel_id else ""
            return DeliveryError(
                f"Slack rejected the bot token (SLACK_BOT_TOKEN): {code}{context}", permanent=True
            )
        if status >= 500 or status == 408:
            return DeliveryError(f"{where}: Slack answered HTTP {status} ({code or 'no error code'})")
        if status != 200:
            return DeliveryError(
                f"{where}: Slack answered HTTP {status} ({code or 'no error code'}); check api_base_url",
                permanent=True,
            )
        if code is None:
            return DeliveryError(f"{where}: Slack sent an unexpected response without an error code")
        if code in _TRANSIENT_ERRORS:
            return DeliveryError(f"{where}: Slack had a temporary problem ({code})")
        hint = _ERROR_HINTS.get(code, "Slack refused the request")
        needed = data.get("needed")
        if code == "missing_scope" and isinstance(needed, str):
            hint += f" (needs {needed})"
        return DeliveryError(f"{where}: {code} — {hint}", permanent=True)


# ---------------------------------------------------------------------------------------------------------
# The /diplowatch command and its buttons

FAILURE_MESSAGE: Final = "Something went wrong answering that command; the error was logged."
_ADMIN_CACHE_SIZE: Final = 1000
_ADMIN_FLAGS: Final = ("is_admin", "is_owner", "is_primary_owner")


class SlackCommands:
    """``/diplowatch`` on a bolt app: acknowledged at once, then answered through the response_url."""

    def __init__(
        self,
        app: AsyncApp,
        client: AsyncWebClient,
        runner: CommandRunner,
        admin_policy: AdminPolicy,
        *,
        admin_cache_s: float,
        monotonic: Callable[[], float],
        logger: logging.Logger,
    ) -> None:
        self._client = client
        self._runner = runner
        self._admin_policy = admin_policy
        self._admin_cache_s = admin_cache_s
        self._monotonic = monotonic
        self._log = logger
        self._admins: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        app.command(SLASH_COMMAND)(self._on_command)
        app.action(ACTION_MORE)(self._on_more)
        app.action(ACTION_CONFIRM)(self._on_confirm)
        app.action(ACTION_CANCEL)(self._on_cancel)

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        try:
            line = slack_unescape(str(command.get("text") or ""))
            context = await self.context(
                user_id=str(command.get("user_id") or ""),
                channel_id=str(command.get("channel_id") or ""),
                user_name=str(command.get("user_name") or ""),
                check_admin=_may_need_admin(line),
            )
            reply = await self._runner.run_text(context, line)
        except Exception:
            self._log.exception("Slack: %s failed", SLASH_COMMAND)
            reply = error_reply(FAILURE_MESSAGE)
        await self._respond(respond, reply)

    async def _on_more(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                       respond: AsyncRespond) -> None:
        await ack()
        await self._run_button(body, action, respond, path=("more",), replace_original=False)

    async def _on_confirm(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                          respond: AsyncRespond) -> None:
        await ack()
        await self._run_button(body, action, respond, path=("import", "confirm"), replace_original=True)

    async def _on_cancel(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                         respond: AsyncRespond) -> None:
        await ack()
        await self._run_button(body, action, respond, path=("import", "cancel"), replace_original=True)

    async def _run_button(
        self,
        body: Mapping[str, Any],
        action: Mapping[str, Any],
        respond: AsyncRespond,
        *,
        path: tuple[str, ...],
        replace_original: bool,
    ) -> None:
        try:
            user = body.get("user") or {}
            channel = body.get("channel") or {}
            container = body.get("container") or {}
            context = await self.context(
                user_id=str(user.get("id") or ""),
                channel_id=str(channel.get("id") or container.get("channel_id") or ""),
                user_name=str(user.get("username") or user.get("name") or ""),
                check_admin=True,
            )
            token = str(action.get("value") or "")
            invocation = Invocation(path=path, arguments=(RawArgument(name="token", value=token),))
            reply = await self._runner.run(context, invocation)
        except Exception:
            self._log.exception("Slack: the %s button failed", " ".join(path))
            reply = error_reply(FAILURE_MESSAGE)
        await self._respond(respond, reply, replace_original=replace_original)

    async def context(
        self, *, user_id: str, channel_id: str, user_name: str, check_admin: bool
    ) -> CommandContext:
        """Who runs a command where; whether they are an admin is only looked up when it may matter."""
        is_admin = check_admin and await self.is_admin(user_id)
        return CommandContext(
            platform="slack", channel_id=channel_id, user_id=user_id, user_name=user_name, is_admin=is_admin
        )

    async def is_admin(self, user_id: str) -> bool:
        """A configured admin, or a workspace admin or owner (users.info, remembered a few minutes)."""
        if self._admin_policy.is_admin(platform="slack", user_id=user_id):
            return True
        now = self._monotonic()
        cached = self._admins.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await self._client.users_info(user=user_id)
        except (SlackClientError, aiohttp.ClientError, OSError) as e:
            # Not remembered: the next command asks again.
            self._log.warning("Slack: users.info for %s failed (%s); only configured admins count",
                              user_id, e)
            return False
        user = response.get("user")
        workspace_admin = isinstance(user, dict) and any(user.get(flag) is True for flag in _ADMIN_FLAGS)
        admin = self._admin_policy.is_admin(platform="slack", user_id=user_id, platform_admin=workspace_admin)
        self._admins[user_id] = (now + self._admin_cache_s, admin)
        self._admins.move_to_end(user_id)
        while len(self._admins) > _ADMIN_CACHE_SIZE:
            self._admins.popitem(last=False)
        return admin

    async def _respond(self, respond: AsyncRespond, reply: Reply, *, replace_original: bool = False) -> None:
        for index, message in enumerate(render_reply(reply)):
            try:
                response = await respond(
                    text=message.text,
                    blocks=list(message.blocks),
                    response_type="in_channel" if message.in_channel else "ephemeral",
                    replace_original=replace_original and index == 0,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (SlackClientError, aiohttp.ClientError, OSError, ValueError) as e:
                self._log.warning("Slack: could not answer through the response_url: %s", e)
                return
            if response.status_code >= 300:
                self._log.warning("Slack: the response_url refused the answer: HTTP %s %s",
                                  response.status_code, response.body)
                return


def _may_need_admin(line: str) -> bool:
    """True unless the line is a look-up everyone may run (then users.info is not asked)."""
    try:
        invocation = parse_line(line)
    except DiplowatchError:
        return False
    spec = find_command(invocation.path)
    return spec is None or spec.admin or spec.hidden
