"""The Discord adapter: pure rendering (golden, limits, injection) and discord.py against a fake API."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.platforms.base import ChatPlatform, Highlight, Message, MessageSection, RenderedStory
from bot.platforms.discord import (
    CONTENT_LIMIT,
    DEFAULT_COLOUR,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_VALUE_LIMIT,
    INVALID_TOKEN_MESSAGE,
    TITLE_LIMIT,
    TOPIC_PALETTE,
    DiscordEmbed,
    DiscordMessagePart,
    DiscordPlatform,
    EmbedField,
    discord_length,
    escape_feed_text,
    message_nonce,
    plain_feed_text,
    render_message,
    safe_url,
    topic_colour,
)
from feeds.errors import DeliveryError
from tests.fakes.discord_api import (
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    TEST_CHANNEL_ID,
    TEST_GUILD_ID,
    UNKNOWN_CHANNEL,
    ChannelError,
    FakeDiscordAPI,
    InjectedFailure,
    limit_violations,
)

TOKEN = "fake-bot-token.sEcReT-value"
CHANNEL = str(TEST_CHANNEL_ID)
T0 = datetime(2024, 5, 1, 14, 3, tzinfo=UTC)
HIDDEN = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"


def story(index: int = 0, **changes: Any) -> RenderedStory:
    base = RenderedStory(
        title=f"Story {index}: ministers meet",
        url=f"https://news.example/{index}",
        source="Wire",
        published=T0 + timedelta(minutes=index),
        snippet=f"Snippet of story {index}.",
    )
    return replace(base, **changes)


def alert(one: RenderedStory, heading: str = "New story") -> Message:
    section = MessageSection(heading="Lavrov", stories=(one,))
    return Message(kind="alert", heading=heading, sections=(section,))


def digest(*sections: tuple[str, list[RenderedStory]]) -> Message:
    return Message(
        kind="digest",
        heading="Daily digest",
        sections=tuple(MessageSection(heading=h, stories=tuple(s)) for h, s in sections),
    )


def wire_payload(part: DiscordMessagePart) -> dict[str, Any]:
    """The create-message body discord.py would send for a part (content and embeds)."""
    embeds = [embed.to_discord().to_dict() for embed in part.embeds]
    return {"content": part.content or None, "embeds": embeds}


def assert_within_limits(parts: tuple[DiscordMessagePart, ...]) -> None:
    for part in parts:
        assert limit_violations(wire_payload(part)) == []
        assert discord_length(part.content) <= CONTENT_LIMIT
        assert len(part.embeds) <= EMBEDS_PER_MESSAGE
        assert sum(embed.char_count() for embed in part.embeds) <= EMBED_TOTAL_LIMIT


# --- golden rendering ----------------------------------------------------------------------------------

INJECTED_SNIPPET = (
    "Sergey Lavrov told **reporters** that @here talks with <@&456> on _arms control_ "
    "were [good](http://evil.example).\u2066"
)
ARMS_CONTROL_AT = INJECTED_SNIPPET.index("arms control")
INJECTED_STORY = RenderedStory(
    title="@everyone Lavrov and <@123> meet in [Geneva](http://evil.example) \u202egnp.exe",
    url="https://news.example/world/lavrov_blinken?id=1",
    source="Wire <@&456> \u200bService",
    published=T0,
    snippet=INJECTED_SNIPPET,
    highlights=(
        Highlight(start=0, end=13),
        Highlight(start=ARMS_CONTROL_AT, end=ARMS_CONTROL_AT + len("arms control")),
    ),
    actors=("Sergey Lavrov", "@everyone"),
    topics=("Arms control",),
    topic_ids=("arms-control",),
    also_reported_by=("BBC", "Agence <#789>"),
)


def test_golden_alert_with_injection_attempts_renders_inert() -> None:
    parts = render_message(alert(INJECTED_STORY, heading="Alert: Lavrov <@123> @everyone"))

    assert parts == (
        DiscordMessagePart(
            content="Alert: Lavrov \\<@123> @\u200beveryone",
            embeds=(
                DiscordEmbed(
                    title="@\u200beveryone Lavrov and \\<@123> meet in Geneva (http://evil.example) gnp.exe",
                    url="https://news.example/world/lavrov_blinken?id=1",
                    description=(
                        "**Sergey Lavrov** told \\*\\*reporters\\*\\* that @\u200bhere talks with "
                        "\\<@&456> on \\_**arms control**\\_ were good (http://evil.example)."
                    ),
                    fields=(
                        EmbedField(name="Actors", value="Sergey Lavrov, @\u200beveryone", inline=True),
                        EmbedField(name="Topics", value="Arms control", inline=True),
                        EmbedField(name="Also reported by", value="BBC, Agence \\<#789>", inline=False),
                    ),
                    # Footers show plain text (no markdown, no mentions), so only hidden characters go.
                    footer="Wire <@&456> Service · 2024-05-01 14:03 UTC",
                    timestamp=T0,
                    colour=topic_colour("arms-control"),
                ),
            ),
        ),
    )


def test_golden_embed_as_sent_by_discord_py() -> None:
    (part,) = render_message(alert(story(1, topic_ids=("sanctions",), actors=("Annalena Baerbock",))))

    assert [embed.to_discord().to_dict() for embed in part.embeds] == [
        {
            "type": "rich",
            "flags": 0,
            "title": "Story 1: ministers meet",
            "url": "https://news.example/1",
            "description": "Snippet of story 1.",
            "color": topic_colour("sanctions"),
            "timestamp": "2024-05-01T14:04:00+00:00",
            "fields": [{"name": "Actors", "value": "Annalena Baerbock", "inline": True}],
            "footer": {"text": "Wire · 2024-05-01 14:04 UTC"},
        }
    ]


def test_digest_section_heading_is_embed_author() -> None:
    (part,) = render_message(digest(("Lavrov", [story(1)]), ("Arms control", [story(2), story(3)])))

    assert part.content == "Daily digest"
    assert [(embed.author, embed.title) for embed in part.embeds] == [
        ("Lavrov", "Story 1: ministers meet"),
        ("Arms control", "Story 2: ministers meet"),
        ("Arms control", "Story 3: ministers meet"),
    ]


def test_note_is_an_embed_and_empty_message_renders_nothing() -> None:
    (part,) = render_message(Message(kind="note", heading="Status", note="3 feeds *ok*\n@everyone"))

    assert part.content == "Status"
    expected = DiscordEmbed(description="3 feeds \\*ok\\*\n@\u200beveryone", colour=DEFAULT_COLOUR)
    assert part.embeds == (expected,)
    assert render_message(Message(kind="note", heading="  ", note="\u200b")) == ()


# --- escaping --------------------------------------------------------------------------------------------

INJECTIONS = [
    "@everyone",
    "@here",
    "<@123>",
    "<@!123456789012345678>",
    "<@&456>",
    "@&123456789012345678",
    "<#789>",
    "<t:0:R>",
    "</ban:1>",
    "<:pwn:1>",
    "[good](http://evil)",
    "[good](<http://evil>)",
    "[[nested]](http://evil)",
    "\u202e",
    "\u2066",
    "\u200b",
    "\ufeff",
    "**",
    "||",
    "`",
    "\n# ",
    "\n> ",
    "\n-# ",
    "\\",
    "\ue000",
    "http://evil.example/\\<@123456789012345678>",
    "https://evil.example/a_b<t:0:R>",
]


def _preceded_by_odd_backslashes(text: str, index: int) -> bool:
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def assert_inert_markdown(text: str) -> None:
    """What Discord would turn into a ping, a mention pill, a masked link or hidden text is absent."""
    assert not re.search(r"@(everyone|here|[!&]?\d{17,20})", text), text
    assert "](" not in text, text
    assert all(_preceded_by_odd_backslashes(text, i) for i, ch in enumerate(text) if ch == "<"), text
    # An autolink would swallow the escaping backslash: no URL may run up to a "<".
    assert not re.search(r"(?i)(?:https?|steam)://[^\s<]*<", text), text
    for i, ch in enumerate(text):
        if ch in HIDDEN:
            # The only zero-width character left is the one escape_mentions puts after "@".
            assert ch == "\u200b" and i > 0 and text[i - 1] == "@", text
    assert "\ue000" not in text and "\ue001" not in text, text


def assert_inert_plain(text: str) -> None:
    assert not re.search(r"@(everyone|here)", text), text
    assert all(ch == "\u200b" and text[i - 1] == "@" for i, ch in enumerate(text) if ch in HIDDEN), text


def assert_parts_inert(parts: tuple[DiscordMessagePart, ...]) -> None:
    for part in parts:
        assert_inert_markdown(part.content)
        for embed in part.embeds:
            assert_inert_markdown(embed.title)
            assert_inert_markdown(embed.description)
            for embed_field in embed.fields:
                assert_inert_markdown(embed_field.value)
            assert_inert_plain(embed.author)
            assert_inert_plain(embed.footer)
            assert embed.url is None or embed.url.startswith(("http://", "https://"))


@pytest.mark.parametrize("attack", INJECTIONS)
def test_every_feed_text_slot_is_inert(attack: str) -> None:
    text = f"before {attack} after"
    one = RenderedStory(
        title=text,
        url="https://news.example/x",
        source=text,
        published=T0,
        snippet=text,
        highlights=(Highlight(start=0, end=len(text)),),
        actors=(text,),
        topics=(text,),
        also_reported_by=(text,),
    )
    message = Message(
        kind="digest", heading=text, note=text, sections=(MessageSection(heading=text, stories=(one,)),)
    )

    parts = render_message(message)

    assert_parts_inert(parts)
    assert_within_limits(parts)
    assert_inert_markdown(escape_feed_text(text))
    assert_inert_plain(plain_feed_text(text))


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://news.example/a_b?c=d", True),
        ("http://news.example", True),
        ("javascript:alert(1)", False),
        ("ftp://news.example/x", False),
        ("/relative/path", False),
        ("https://news.example/a b", False),
        ("https://news.example/\u202eevil", False),
        ("https://", False),
        ("https://news.example/" + "a" * 2100, False),
        (None, False),
    ],
)
def test_only_http_urls_are_linked(url: str | None, kept: bool) -> None:
    assert (safe_url(url) is not None) is kept
    (part,) = render_message(alert(story(url=url)))
    assert (part.embeds[0].url is not None) is kept


def test_highlights_are_merged_clamped_and_trimmed() -> None:
    snippet = "Lavrov met Wang Yi in Beijing"
    highlights = (
        Highlight(start=0, end=7),  # "Lavrov " - trailing space stays outside the bold
        Highlight(start=11, end=14),
        Highlight(start=13, end=18),  # overlaps the previous one
        Highlight(start=22, end=500),  # runs past the end
        Highlight(start=9, end=9),  # empty
    )
    (part,) = render_message(alert(story(snippet=snippet, highlights=highlights)))

    assert part.embeds[0].description == "**Lavrov** met **Wang Yi** in **Beijing**"


def test_topic_colour_is_stable_and_from_the_palette() -> None:
    assert topic_colour("arms-control") == topic_colour("arms-control")
    assert {topic_colour(f"topic-{n}") for n in range(200)} == set(TOPIC_PALETTE)
    assert topic_colour(None) == DEFAULT_COLOUR
    (part,) = render_message(alert(story(topic_ids=("sanctions", "arms-control"))))
    assert part.embeds[0].colour == topic_colour("sanctions")


def test_nonce_is_stable_distinct_per_part_and_short() -> None:
    assert message_nonce("outbox:1", 0) == message_nonce("outbox:1", 0)
    nonces = {message_nonce(f"outbox:{key}", part) for key in range(50) for part in range(5)}
    assert len(nonces) == 250
    assert all(nonce > 0 and len(str(nonce)) <= 25 for nonce in nonces)


# --- limits and splitting --------------------------------------------------------------------------------


def titles_per_part(parts: tuple[DiscordMessagePart, ...]) -> list[list[str]]:
    return [[embed.title for embed in part.embeds] for part in parts]


def test_ten_embeds_fit_one_message_and_the_eleventh_starts_another() -> None:
    ten = render_message(digest(("All", [story(i) for i in range(10)])))
    eleven = render_message(digest(("All", [story(i) for i in range(11)])))

    assert [len(part.embeds) for part in ten] == [10]
    assert [len(part.embeds) for part in eleven] == [10, 1]
    assert [part.content for part in eleven] == ["Daily digest", ""]
    assert_within_limits(eleven)


def test_six_thousand_characters_per_message_split_between_stories() -> None:
    words = "negotiators " * 220  # about 2,600 characters per story
    stories = [story(i, snippet=words) for i in range(5)]
    parts = render_message(digest(("All", stories)))

    assert [len(part.embeds) for part in parts] == [2, 2, 1]
    # Every story lands whole in exactly one message, in order.
    assert [title for titles in titles_per_part(parts) for title in titles] == [s.title for s in stories]
    assert all(embed.description == words.strip() for part in parts for embed in part.embeds)
    assert_within_limits(parts)


def test_content_is_cut_to_two_thousand_characters() -> None:
    (part,) = render_message(alert(story(), heading="word " * 1000))

    assert discord_length(part.content) <= CONTENT_LIMIT
    assert part.content.endswith("word…")


def test_title_is_cut_to_256_at_a_word_end() -> None:
    (part,) = render_message(alert(story(title="summit " * 100)))
    title = part.embeds[0].title

    assert discord_length(title) <= TITLE_LIMIT
    assert title.endswith("summit…")


def test_a_story_too_long_for_one_embed_is_shortened_not_split() -> None:
    many = tuple(f"Minister {n}" for n in range(300))
    huge = story(
        title="T" * 400,
        snippet="ceasefire " * 1000,
        actors=many,
        topics=many,
        also_reported_by=many,
        source="S" * 3000,
    )
    parts = render_message(alert(huge))

    assert len(parts) == 1 and len(parts[0].embeds) == 1
    embed = parts[0].embeds[0]
    assert embed.char_count() <= EMBED_TOTAL_LIMIT
    assert discord_length(embed.description) <= DESCRIPTION_LIMIT
    assert embed.description.endswith("ceasefire…")
    for embed_field in embed.fields:
        assert discord_length(embed_field.value) <= FIELD_VALUE_LIMIT
        assert re.search(r", Minister \d+ and \d+ more$", embed_field.value)
    assert_within_limits(parts)


def test_description_is_cut_to_4096_and_never_inside_an_escape() -> None:
    # Each "*" escapes to two characters, so the cut must be measured after escaping.
    (part,) = render_message(alert(story(snippet="*" * 5000)))
    description = part.embeds[0].description

    assert discord_length(description) <= DESCRIPTION_LIMIT
    assert description.endswith("\\*…")
    assert description[:-1] == "\\*" * ((len(description) - 1) // 2)


def test_long_note_is_split_at_line_ends_into_embeds() -> None:
    lines = [f"line {n}: " + "x" * 90 for n in range(120)]  # about 12,000 characters
    parts = render_message(Message(kind="note", heading="Status", note="\n".join(lines)))

    descriptions = [embed.description for part in parts for embed in part.embeds]
    assert len(descriptions) == 3
    assert all(discord_length(d) <= DESCRIPTION_LIMIT for d in descriptions)
    assert "\n".join(descriptions).split("\n") == lines
    assert_within_limits(parts)


def test_emoji_count_as_two_units_toward_limits() -> None:
    (part,) = render_message(alert(story(title="🕊" * 300)))
    title = part.embeds[0].title

    assert discord_length(title) <= TITLE_LIMIT
    assert len(title) == 128  # 127 doves (two UTF-16 units each) and the ellipsis


feed_text = st.lists(
    st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=12), st.sampled_from(["🕊", " ", "\n", "*"])),
    max_size=40,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    title=feed_text,
    snippet=feed_text,
    source=feed_text,
    names=st.lists(feed_text, max_size=4),
    spans=st.lists(st.tuples(st.integers(-5, 400), st.integers(-5, 400)), max_size=4),
    count=st.integers(1, 14),
    url=st.one_of(st.none(), feed_text, st.just("https://news.example/ok")),
)
def test_any_feed_text_renders_inert_and_within_limits(
    title: str,
    snippet: str,
    source: str,
    names: list[str],
    spans: list[tuple[int, int]],
    count: int,
    url: str | None,
) -> None:
    one = RenderedStory(
        title=title,
        url=url,
        source=source,
        published=T0,
        snippet=snippet * 40,
        highlights=tuple(Highlight(start=a, end=b) for a, b in spans),
        actors=tuple(names),
        topics=tuple(names),
        also_reported_by=tuple(names) * 30,
    )
    parts = render_message(digest((title, [one] * count)))

    assert_parts_inert(parts)
    assert_within_limits(parts)
    assert sum(len(part.embeds) for part in parts) == count


# --- the real discord.py client against the fake API -----------------------------------------------------


PointAt = Callable[[FakeDiscordAPI], FakeDiscordAPI]


@pytest.fixture
def point_discord_py_at(monkeypatch: pytest.MonkeyPatch) -> PointAt:
    """Point discord.py's REST base and gateway URL at a fake (test-only patching, undone after the test)."""

    def point_at(fake: FakeDiscordAPI) -> FakeDiscordAPI:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
        return fake

    return point_at


@pytest.fixture
async def fake(point_discord_py_at: PointAt) -> AsyncIterator[FakeDiscordAPI]:
    async with FakeDiscordAPI(token=TOKEN) as api:
        yield point_discord_py_at(api)


def make_platform(token: str = TOKEN, **options: float) -> DiscordPlatform:
    settings_: dict[str, float] = {"guild_ready_timeout_s": 0.05, "ready_timeout_s": 5.0, **options}
    return DiscordPlatform(token=token, **settings_)


@pytest.fixture
async def platform(fake: FakeDiscordAPI) -> AsyncIterator[DiscordPlatform]:
    connected = make_platform()
    await connected.start()
    yield connected
    await connected.close()


def test_discord_platform_is_a_chat_platform() -> None:
    chat: ChatPlatform = make_platform()  # checked by mypy against the protocol
    assert chat.name == "discord"


async def test_start_logs_in_and_waits_for_ready(fake: FakeDiscordAPI, platform: DiscordPlatform) -> None:
    assert platform.client.is_ready()
    assert [guild.id for guild in platform.client.guilds] == [TEST_GUILD_ID]
    assert platform.client.get_channel(TEST_CHANNEL_ID) is not None
    (identify,) = fake.identify_payloads
    assert identify["intents"] == discord.Intents(guilds=True).value
    assert fake.heartbeats >= 1
    mentions = platform.client.allowed_mentions
    assert mentions is not None
    assert (mentions.everyone, mentions.users, mentions.roles, mentions.replied_user) == (False,) * 4


async def test_start_with_guilds_available_in_ready(point_discord_py_at: PointAt) -> None:
    async with FakeDiscordAPI(token=TOKEN, guild_unavailable_in_ready=False) as api:
        point_discord_py_at(api)
        connected = make_platform()
        await connected.start()
        try:
            assert [guild.id for guild in connected.client.guilds] == [TEST_GUILD_ID]
        finally:
            await connected.close()


async def test_alert_is_delivered_with_embed_nonce_and_no_mentions(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    message = alert(INJECTED_STORY, heading="Alert <@123>")

    receipt = await platform.send(CHANNEL, message, idempotency_key="outbox:7")

    (received,) = fake.received
    (part,) = render_message(message)
    assert received.channel_id == CHANNEL
    assert received.content == "Alert \\<@123>"
    assert list(received.embeds) == [embed.to_discord().to_dict() for embed in part.embeds]
    assert received.embeds[0]["description"].startswith("**Sergey Lavrov** told")
    assert received.nonce == str(message_nonce("outbox:7", 0))
    assert received.enforce_nonce is True
    assert received.allowed_mentions == {"parse": []}
    assert receipt.message_ids == (received.message_id,)
    # Sending needs no extra lookups: one POST per part.
    assert fake.requests[-1] == f"POST /api/v10/channels/{CHANNEL}/messages" and fake.message_posts == 1


async def test_resending_the_same_entry_does_not_post_twice(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    message = digest(("All", [story(i, snippet="talks " * 400) for i in range(6)]))

    first = await platform.send(CHANNEL, message, idempotency_key="outbox:9")
    again = await platform.send(CHANNEL, message, idempotency_key="outbox:9")
    other = await platform.send(CHANNEL, message, idempotency_key="outbox:10")

    assert len(first.message_ids) == 3  # two stories of ~2,400 characters per message
    assert again == first
    assert set(other.message_ids).isdisjoint(first.message_ids)
    assert len(fake.received) == 6 and fake.message_posts == 9


async def test_long_digest_is_split_over_messages_without_cutting_a_story(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    stories = [story(i, snippet=f"Report {i}. " + "envoys " * 300) for i in range(25)]
    message = digest(("Lavrov", stories[:12]), ("Arms control", stories[12:]))

    receipt = await platform.send(CHANNEL, message, idempotency_key="digest:2024-05-01")

    # The fake rejects any message over Discord's limits, so acceptance proves each part fits.
    assert len(fake.received) == len(receipt.message_ids) > 2
    titles = [embed["title"] for received in fake.received for embed in received.embeds]
    assert titles == [s.title for s in stories]
    descriptions = [embed["description"] for received in fake.received for embed in received.embeds]
    assert all(d.startswith(f"Report {i}.") and d.endswith("envoys") for i, d in enumerate(descriptions))
    assert [r.content for r in fake.received] == ["Daily digest"] + [None] * (len(fake.received) - 1)
    assert len({r.nonce for r in fake.received}) == len(fake.received)


async def test_rate_limited_then_delivered_once(fake: FakeDiscordAPI, platform: DiscordPlatform) -> None:
    fake.fail_next_posts(2, InjectedFailure(status=429, retry_after=0.01))

    receipt = await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert fake.message_posts == 3
    assert [r.message_id for r in fake.received] == list(receipt.message_ids)


async def test_rate_limited_past_discord_py_retries_reports_retry_after(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    fake.fail_next_posts(5, InjectedFailure(status=429, retry_after=0.01))

    with pytest.raises(DeliveryError) as caught:
        await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert caught.value.retry_after_s == pytest.approx(0.01)
    assert not caught.value.permanent
    assert fake.message_posts == 5 and fake.received == []


async def test_rate_limit_without_via_is_not_retried_by_discord_py(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    fake.fail_next_posts(1, InjectedFailure(status=429, retry_after=2.5, via=False))

    with pytest.raises(DeliveryError) as caught:
        await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert caught.value.retry_after_s == pytest.approx(2.5)
    assert not caught.value.permanent
    assert fake.message_posts == 1


async def test_rate_limit_longer_than_30_s_is_reported_not_waited(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    fake.fail_next_posts(1, InjectedFailure(status=429, retry_after=90))

    with pytest.raises(DeliveryError) as caught:
        await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert caught.value.retry_after_s == pytest.approx(90)
    assert not caught.value.permanent and fake.message_posts == 1


async def test_token_revoked_while_running_is_permanent(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    fake.token = "rotated-token"

    with pytest.raises(DeliveryError) as caught:
        await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert caught.value.permanent and str(caught.value).startswith(INVALID_TOKEN_MESSAGE)


async def test_server_error_500_is_retried_by_discord_py_then_delivered(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    fake.fail_next_posts(1, InjectedFailure(status=500))
    started = time.monotonic()

    await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    # discord.py sleeps 1 s (then 3, 5, 7, 9 s) between retries of a 500.
    assert 0.9 <= time.monotonic() - started < 5
    assert fake.message_posts == 2 and len(fake.received) == 1


async def test_repeated_500_times_out_as_retryable_and_the_retry_delivers(fake: FakeDiscordAPI) -> None:
    connected = make_platform(send_timeout_s=0.3)
    await connected.start()
    try:
        fake.fail_next_posts(1, InjectedFailure(status=500))
        with pytest.raises(DeliveryError) as caught:
            await connected.send(CHANNEL, alert(story()), idempotency_key="outbox:1")
        assert not caught.value.permanent and caught.value.retry_after_s is None
        assert "no answer within 0.3 s" in str(caught.value)
        assert fake.received == []

        await connected.send(CHANNEL, alert(story()), idempotency_key="outbox:1")
        assert len(fake.received) == 1
    finally:
        await connected.close()


async def test_server_error_503_is_retryable(fake: FakeDiscordAPI, platform: DiscordPlatform) -> None:
    fake.fail_next_posts(1, InjectedFailure(status=503))

    with pytest.raises(DeliveryError) as caught:
        await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert not caught.value.permanent
    assert "HTTP 503" in str(caught.value)


async def test_dropped_connection_is_retryable(fake: FakeDiscordAPI, platform: DiscordPlatform) -> None:
    fake.fail_next_posts(1, InjectedFailure(kind="drop"))

    with pytest.raises(DeliveryError) as caught:
        await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert not caught.value.permanent
    assert "could not reach Discord" in str(caught.value)
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (UNKNOWN_CHANNEL, ["Unknown Channel", "10003", "HTTP 404"]),
        (MISSING_ACCESS, ["Missing Access", "50001", "HTTP 403"]),
        (MISSING_PERMISSIONS, ["Missing Permissions", "50013", "HTTP 403"]),
    ],
)
async def test_channel_errors_are_permanent_and_named(
    fake: FakeDiscordAPI, platform: DiscordPlatform, error: ChannelError, words: list[str]
) -> None:
    fake.fail_channel(CHANNEL, error)

    with pytest.raises(DeliveryError) as caught:
        await platform.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert caught.value.permanent
    assert all(word in str(caught.value) for word in [f"Discord channel {CHANNEL}", *words])
    assert isinstance(caught.value.__cause__, discord.HTTPException)


async def test_bad_channel_id_and_empty_message_are_permanent(platform: DiscordPlatform) -> None:
    with pytest.raises(DeliveryError) as bad_id:
        await platform.send("#alerts", alert(story()), idempotency_key="outbox:1")
    with pytest.raises(DeliveryError) as empty:
        await platform.send(CHANNEL, Message(kind="note", heading=""), idempotency_key="outbox:2")

    assert bad_id.value.permanent and "'#alerts'" in str(bad_id.value)
    assert empty.value.permanent


async def test_invalid_token_is_permanent_at_start(fake: FakeDiscordAPI) -> None:
    rejected = make_platform(token="not-the-token")

    with pytest.raises(DeliveryError) as caught:
        await rejected.start()

    assert caught.value.permanent
    assert str(caught.value) == INVALID_TOKEN_MESSAGE
    assert isinstance(caught.value.__cause__, discord.LoginFailure)
    assert rejected.client.is_closed()
    assert fake.identify_payloads == []


async def test_token_rejected_by_the_gateway_is_permanent(point_discord_py_at: PointAt) -> None:
    async with FakeDiscordAPI(token=TOKEN, gateway_rejects_token=True) as api:
        point_discord_py_at(api)
        rejected = make_platform()

        with pytest.raises(DeliveryError) as caught:
            await rejected.start()

        assert caught.value.permanent and str(caught.value) == INVALID_TOKEN_MESSAGE
        assert rejected.client.is_closed()


async def test_empty_token_is_permanent_without_a_request(fake: FakeDiscordAPI) -> None:
    with pytest.raises(DeliveryError) as caught:
        await make_platform(token="  ").start()

    assert caught.value.permanent and INVALID_TOKEN_MESSAGE in str(caught.value)
    assert fake.requests == []


async def test_gateway_never_ready_is_a_retryable_timeout(point_discord_py_at: PointAt) -> None:
    async with FakeDiscordAPI(token=TOKEN, send_ready=False) as api:
        point_discord_py_at(api)
        silent = make_platform(ready_timeout_s=0.2)
        try:
            with pytest.raises(DeliveryError) as caught:
                await silent.start()
        finally:
            await silent.close()

        assert not caught.value.permanent and "not ready within 0.2 s" in str(caught.value)


async def test_start_again_after_a_slow_gateway_waits_for_it(point_discord_py_at: PointAt) -> None:
    async with FakeDiscordAPI(token=TOKEN, ready_delay_s=0.25) as api:
        point_discord_py_at(api)
        slow = make_platform(ready_timeout_s=0.1)
        failures: list[DeliveryError] = []
        try:
            # What a supervisor does: retry start() while the error is retryable.
            for _ in range(20):
                try:
                    await slow.start()
                    break
                except DeliveryError as e:
                    failures.append(e)
            await slow.send(CHANNEL, alert(story()), idempotency_key="outbox:1")
        finally:
            await slow.close()

        assert len(failures) >= 2 and not any(e.permanent for e in failures)
        assert len(api.identify_payloads) == 1 and len(api.received) == 1


async def test_login_server_error_is_retryable_and_start_can_be_retried(fake: FakeDiscordAPI) -> None:
    fake.fail_next_logins(1, 503)
    later = make_platform()
    try:
        with pytest.raises(DeliveryError) as caught:
            await later.start()
        assert not caught.value.permanent and "HTTP 503" in str(caught.value)

        await later.start()
        assert later.client.is_ready()
    finally:
        await later.close()

    with pytest.raises(DeliveryError) as closed:
        await later.start()
    assert closed.value.permanent


async def test_send_before_start_and_after_close_is_retryable(fake: FakeDiscordAPI) -> None:
    idle = make_platform()
    with pytest.raises(DeliveryError) as before:
        await idle.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    await idle.start()
    await idle.close()
    await idle.close()
    with pytest.raises(DeliveryError) as after:
        await idle.send(CHANNEL, alert(story()), idempotency_key="outbox:1")

    assert not before.value.permanent and not after.value.permanent
    assert fake.message_posts == 0


async def test_token_is_never_logged_or_shown(fake: FakeDiscordAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    connected = make_platform()
    await connected.start()
    try:
        fake.fail_next_posts(1, InjectedFailure(status=429, retry_after=0.01))
        await connected.send(CHANNEL, alert(story()), idempotency_key="outbox:1")
        fake.fail_channel(CHANNEL, MISSING_ACCESS)
        with pytest.raises(DeliveryError) as caught:
            await connected.send(CHANNEL, alert(story()), idempotency_key="outbox:2")
    finally:
        await connected.close()

    assert fake.identify_payloads[0]["token"] == TOKEN  # it did go to Discord
    assert caplog.records and TOKEN not in caplog.text
    assert TOKEN not in repr(connected) and TOKEN not in str(caught.value)


async def test_app_commands_share_the_exposed_client(fake: FakeDiscordAPI) -> None:
    connected = make_platform()
    tree = discord.app_commands.CommandTree(connected.client)

    @tree.command(name="status", description="Feed health")
    async def status(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok")

    await connected.start()
    try:
        synced = await tree.sync()
    finally:
        await connected.close()

    assert [command.name for command in synced] == ["status"]
    assert [command["name"] for command in fake.synced_commands] == ["status"]
