"""The Slack adapter: pure Block Kit rendering, and the real slack-sdk client against a fake Slack Web API."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp

from bot.platforms.base import ChatPlatform, Highlight, Message, MessageSection, RenderedStory
from bot.platforms.slack import (
    ELLIPSIS,
    HEADER_TEXT_LIMIT,
    MESSAGE_BLOCK_LIMIT,
    MESSAGE_TEXT_BUDGET,
    SECTION_TEXT_LIMIT,
    SlackPlatform,
    SlackPost,
    inert_mrkdwn,
    link_target,
    render_message,
    render_snippet,
)
from feeds.errors import ConfigError, DeliveryError
from tests.fakes.slack_api import BOT_USER_ID, FakeSlackApi

CHANNEL = "C0123456789"
PUBLISHED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DATE_TOKEN = "<!date^1714564800^{date_short_pretty} {time}|2024-05-01 12:00 UTC>"


def _story(
    title: str = "Lavrov meets Wang Yi in Beijing",
    *,
    snippet: str = "Russian FM Lavrov met Wang Yi in Beijing on Tuesday.",
    url: str | None = "https://news.example/world/lavrov-wang",
    source: str = "World Desk",
    highlights: tuple[Highlight, ...] = (),
    actors: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
    also_reported_by: tuple[str, ...] = (),
    published: datetime = PUBLISHED,
) -> RenderedStory:
    return RenderedStory(
        title=title,
        url=url,
        source=source,
        published=published,
        snippet=snippet,
        highlights=highlights,
        actors=actors,
        topics=topics,
        also_reported_by=also_reported_by,
    )


def _alert(story: RenderedStory, heading: str = "Alert: Russia") -> Message:
    return Message(
        kind="alert", heading=heading, sections=(MessageSection(heading="Russia", stories=(story,)),)
    )


def _digest(sections: int, stories_per_section: int, *, snippet_chars: int = 200) -> Message:
    return Message(
        kind="digest",
        heading="Daily digest",
        sections=tuple(
            MessageSection(
                heading=f"Actor {s}",
                stories=tuple(
                    _story(
                        f"Story {s}-{i}",
                        snippet=(f"Report {s}-{i} & more. " * snippet_chars)[:snippet_chars],
                        url=f"https://news.example/{s}/{i}",
                    )
                    for i in range(stories_per_section)
                ),
            )
            for s in range(sections)
        ),
    )


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _texts(blocks: Iterable[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts.extend(element["text"] for element in block.get("elements", ()))
    return texts


def _control_sequences(text: str) -> list[str]:
    return re.findall(r"<[^<>]*>", text)


def _assert_entities_whole(text: str) -> None:
    assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, text


def _story_titles(post: SlackPost) -> list[str]:
    return [
        t
        for t in _texts(b for b in post.blocks if b["type"] == "section")
        if t.startswith("*<https://news.example/")
    ]


# ---------------------------------------------------------------------------------------------------------
# Rendering (pure)


def test_alert_renders_header_story_section_and_context() -> None:
    story = _story(
        highlights=(Highlight(start=11, end=17), Highlight(start=22, end=29)),
        actors=("Sergey Lavrov", "Wang Yi"),
        topics=("Bilateral talks",),
        also_reported_by=("Agency One", "Agency Two"),
    )
    (post,) = render_message(_alert(story))
    assert post == SlackPost(
        text="Alert: Russia: Lavrov meets Wang Yi in Beijing",
        unfurl=True,
        blocks=(
            {"type": "header", "text": {"type": "plain_text", "text": "Alert: Russia", "emoji": False}},
            {"type": "section", "text": _mrkdwn("*Russia*")},
            {
                "type": "section",
                "text": _mrkdwn(
                    "*<https://news.example/world/lavrov-wang|Lavrov meets Wang Yi in Beijing>*\n"
                    "Russian FM *Lavrov* met *Wang Yi* in Beijing on Tuesday."
                ),
            },
            {
                "type": "context",
                "elements": [
                    _mrkdwn(f"World Desk · {DATE_TOKEN}"),
                    _mrkdwn("Actors: Sergey Lavrov, Wang Yi · Topics: Bilateral talks"),
                    _mrkdwn("Also reported by Agency One, Agency Two"),
                ],
            },
        ),
    )


def test_feed_text_cannot_ping_link_or_spoof() -> None:
    story = _story(
        "@everyone <!channel> breaking: <@U123> & <!subteam^S0ABC|@team>",
        snippet=(
            "Read <http://evil.example|good news> or [good](http://evil.example) now <!here> <@123> "
            "\u202egnp.exe\u202c and zero\u200bwidth\u2060 \ufeffmarks *bold* _it_ ~strike~ `code`"
        ),
        url="https://news.example/a?x=1&y=|<evil>",
        source="<@U999> Wire",
        actors=("<!everyone>",),
        topics=("@here",),
        also_reported_by=("<http://evil.example|Reuters>",),
    )
    (post,) = render_message(_alert(story, heading="<!channel> alert & more"))
    assert post.text == (
        "&lt;!channel&gt; alert &amp; more: @everyone &lt;!channel&gt; breaking: &lt;@U123&gt; &amp; "
        "&lt;!subteam^S0ABC|@team&gt;"
    )
    assert post.blocks == (
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "&lt;!channel&gt; alert &amp; more", "emoji": False},
        },
        {"type": "section", "text": _mrkdwn("*Russia*")},
        {
            "type": "section",
            "text": _mrkdwn(
                "*<https://news.example/a?x=1&amp;y=%7C%3Cevil%3E|@everyone &lt;!channel&gt; breaking: "
                "&lt;@U123&gt; &amp; &lt;!subteam^S0ABC|@team&gt;>*\n"
                "Read &lt;http://evil.example|good news&gt; or [good](http://evil.example) now &lt;!here&gt; "
                "&lt;@123&gt; gnp.exe and zerowidth marks ∗bold∗ ˍitˍ ∼strike∼ ˋcodeˋ"
            ),
        },
        {
            "type": "context",
            "elements": [
                _mrkdwn(f"&lt;@U999&gt; Wire · {DATE_TOKEN}"),
                _mrkdwn("Actors: &lt;!everyone&gt; · Topics: @here"),
                _mrkdwn("Also reported by &lt;http://evil.example|Reuters&gt;"),
            ],
        },
    )
    # The only live control sequences are the ones we built: the story link and the date token.
    for text in [post.text, *_texts(post.blocks)]:
        for sequence in _control_sequences(text):
            assert sequence.startswith("<https://news.example/a?") or sequence == DATE_TOKEN, sequence


@pytest.mark.parametrize(
    "character",
    [
        chr(c)
        for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010), 0x2060, 0xFEFF)
    ],
)
def test_bidi_and_zero_width_characters_are_stripped(character: str) -> None:
    story = _story(
        f"A{character}B", snippet=f"C{character}D", source=f"E{character}F", actors=(f"G{character}H",)
    )
    (post,) = render_message(_alert(story, heading=f"I{character}J"))
    for text in [post.text, *_texts(post.blocks)]:
        assert character not in text
    assert "AB" in post.text and "IJ" in post.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.example/a", "https://news.example/a"),
        ("HTTP://news.example/a", "HTTP://news.example/a"),
        ("https://news.example/a?b=1&c=2", "https://news.example/a?b=1&amp;c=2"),
        ("https://news.example/a|b>c<d e", "https://news.example/a%7Cb%3Ec%3Cd%20e"),
        ("https://news.example/\u202ea", "https://news.example/a"),
        ("https://news.example/путь", "https://news.example/%D0%BF%D1%83%D1%82%D1%8C"),
        ("javascript:alert(1)", None),
        ("ftp://news.example/a", None),
        ("http://", None),
        ("/relative/path", None),
        ("", None),
        (None, None),
        ("https://news.example/" + "a" * 2000, None),
    ],
)
def test_links_only_for_http_urls_and_never_break_out(url: str | None, expected: str | None) -> None:
    assert link_target(url) == expected


def test_story_without_usable_url_has_a_bold_title_without_link() -> None:
    (post,) = render_message(_alert(_story("Title", snippet="", url="javascript:alert(1)")))
    assert post.blocks[2] == {"type": "section", "text": _mrkdwn("*Title*")}


@pytest.mark.parametrize(
    ("snippet", "ranges", "expected"),
    [
        ("Lavrov met Wang", [(0, 6)], "*Lavrov* met Wang"),
        ("Lavrov met Wang", [(0, 6), (11, 15)], "*Lavrov* met *Wang*"),
        ("Lavrov met Wang", [(0, 4), (2, 6)], "*Lavrov* met Wang"),
        ("Lavrov met Wang", [(10, 15)], "Lavrov met *Wang*"),
        ("Lavrov met Wang", [(11, 99)], "Lavrov met *Wang*"),
        ("Lavrov met Wang", [(5, 5), (-3, 0)], "Lavrov met Wang"),
        ("普京与习近平会谈", [(0, 2)], "*普京*\u200b与习近平会谈"),
        ("a*b & <c>", [(6, 9)], "a∗b &amp; *&lt;c&gt;*"),
    ],
)
def test_highlights_are_bold(snippet: str, ranges: list[tuple[int, int]], expected: str) -> None:
    highlights = tuple(Highlight(start=start, end=end) for start, end in ranges)
    assert render_snippet(snippet, highlights) == expected


def test_header_is_cut_to_150_characters_with_an_ellipsis() -> None:
    heading = "Talks & " * 60
    (post,) = render_message(_alert(_story(), heading=heading))
    header = post.blocks[0]["text"]["text"]
    assert len(header) <= HEADER_TEXT_LIMIT
    assert header.endswith(ELLIPSIS) and header.startswith("Talks &amp; Talks")
    _assert_entities_whole(header)


def test_a_story_longer_than_a_section_is_truncated_not_split() -> None:
    snippet = "Lavrov & Wang <talk>. " * 600
    story = _story(snippet=snippet, highlights=(Highlight(start=0, end=6),))
    (post,) = render_message(_alert(story))
    text = post.blocks[2]["text"]["text"]
    assert len(text) <= SECTION_TEXT_LIMIT
    assert len(text) > SECTION_TEXT_LIMIT - 60
    assert text.startswith(
        "*<https://news.example/world/lavrov-wang|Lavrov meets Wang Yi in Beijing>*\n*Lavrov*"
    )
    assert text.endswith(ELLIPSIS)
    _assert_entities_whole(text)


def test_a_very_long_title_is_truncated() -> None:
    (post,) = render_message(_alert(_story("Summit " * 200, snippet="")))
    text = post.blocks[2]["text"]["text"]
    assert text.endswith(f"{ELLIPSIS}>*") and len(text) < 400


def test_many_stories_split_under_50_blocks_without_cutting_a_story() -> None:
    message = _digest(sections=3, stories_per_section=30, snippet_chars=60)
    posts = render_message(message)
    assert len(posts) > 1
    titles: list[str] = []
    for number, post in enumerate(posts, start=1):
        assert len(post.blocks) <= MESSAGE_BLOCK_LIMIT
        assert post.blocks[0]["text"]["text"] == f"Daily digest ({number}/{len(posts)})"
        assert post.unfurl is False
        for index, block in enumerate(post.blocks):
            if block["type"] == "section" and block["text"]["text"].startswith("*<https://"):
                assert post.blocks[index + 1]["type"] == "context"
        titles.extend(_story_titles(post))
    expected = [f"*<https://news.example/{s}/{i}|Story {s}-{i}>*" for s in range(3) for i in range(30)]
    assert [t.split("\n")[0] for t in titles] == expected
    # A section that continues in the next message repeats its heading there.
    assert any(_texts(post.blocks[1:2]) == ["*Actor 0* (continued)"] for post in posts[1:])


def test_long_texts_split_by_the_text_budget() -> None:
    posts = render_message(_digest(sections=1, stories_per_section=10, snippet_chars=2500))
    assert len(posts) > 1
    for post in posts:
        assert len(post.blocks) < MESSAGE_BLOCK_LIMIT
        assert sum(len(t) for t in _texts(post.blocks)) <= MESSAGE_TEXT_BUDGET
    assert sum(len(_story_titles(post)) for post in posts) == 10


def test_a_small_digest_stays_one_message() -> None:
    (post,) = render_message(_digest(sections=2, stories_per_section=3))
    assert [b["type"] for b in post.blocks] == ["header"] + ["section", "section", "context"] + [
        "section",
        "context",
    ] * 2 + ["divider", "section", "section", "context"] + ["section", "context"] * 2
    assert post.text.startswith("Daily digest: Story 0-0; Story 0-1")


def test_a_note_renders_as_sections_and_long_notes_continue() -> None:
    (short,) = render_message(Message(kind="note", heading="Nothing new", note="No stories <!here> today."))
    assert short.blocks[1:] == ({"type": "section", "text": _mrkdwn("No stories &lt;!here&gt; today.")},)
    assert short.unfurl is False
    (long,) = render_message(Message(kind="note", heading="Help", note="word " * 1500))
    sections = [b["text"]["text"] for b in long.blocks if b["type"] == "section"]
    assert len(sections) == 3 and all(len(s) <= SECTION_TEXT_LIMIT for s in sections)
    assert " ".join(sections).split() == ["word"] * 1500


def test_inert_mrkdwn_collapses_whitespace() -> None:
    assert inert_mrkdwn("  a\n\tb   c ") == "a b c"


# ---------------------------------------------------------------------------------------------------------
# The platform against the fake Slack Web API


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
async def platform(slack: FakeSlackApi) -> AsyncIterator[SlackPlatform]:
    adapter = SlackPlatform(
        token=slack.token, signing_secret="signing-secret", api_base_url=slack.base_url, request_timeout_s=2.0
    )
    try:
        yield adapter
    finally:
        await adapter.close()


def _as_json(blocks: Iterable[dict[str, Any]]) -> list[Any]:
    return list(json.loads(json.dumps(list(blocks))))


def test_platform_satisfies_the_protocol_and_builds_offline() -> None:
    adapter: ChatPlatform = SlackPlatform(token="xoxb-anything", api_base_url="http://127.0.0.1:9/api")
    assert adapter.name == "slack"
    assert isinstance(adapter, SlackPlatform)
    assert isinstance(adapter.app, AsyncApp)
    assert adapter.app.client.base_url == "http://127.0.0.1:9/api/" == adapter.api_base_url


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token": "  "}, "SLACK_BOT_TOKEN is empty"),
        ({"token": "xoxb-1", "api_base_url": "slack.com/api"}, "api_base_url"),
        ({"token": "xoxb-1", "request_timeout_s": 0}, "timeout"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SlackPlatform(**kwargs)


async def test_start_checks_the_token_with_auth_test(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    await platform.start()
    (call,) = slack.calls_to("auth.test")
    assert call.token == slack.token
    assert platform.bot_user_id == BOT_USER_ID


async def test_start_with_an_invalid_token_is_permanent(slack: FakeSlackApi) -> None:
    adapter = SlackPlatform(token="xoxb-revoked-secret-value", api_base_url=slack.base_url)
    try:
        with pytest.raises(DeliveryError) as raised:
            await adapter.start()
    finally:
        await adapter.close()
    assert raised.value.permanent
    assert str(raised.value) == "Slack rejected the bot token (SLACK_BOT_TOKEN): invalid_auth"


@pytest.mark.parametrize("code", ["not_authed", "account_inactive", "token_revoked"])
async def test_start_maps_auth_errors_to_permanent(
    slack: FakeSlackApi, platform: SlackPlatform, code: str
) -> None:
    slack.fail_with_slack_error(code, method="auth.test")
    with pytest.raises(
        DeliveryError, match=f"^Slack rejected the bot token \\(SLACK_BOT_TOKEN\\): {code}$"
    ) as e:
        await platform.start()
    assert e.value.permanent


async def test_start_when_slack_is_unreachable_is_retryable() -> None:
    adapter = SlackPlatform(token="xoxb-1", api_base_url="http://127.0.0.1:9/api/", request_timeout_s=2.0)
    try:
        with pytest.raises(
            DeliveryError, match=re.escape("could not reach Slack at http://127.0.0.1:9/api/")
        ) as raised:
            await adapter.start()
    finally:
        await adapter.close()
    assert not raised.value.permanent


async def test_alert_is_delivered_with_its_blocks(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    message = _alert(_story(highlights=(Highlight(start=11, end=17),), actors=("Sergey Lavrov",)))
    receipt = await platform.send(CHANNEL, message, idempotency_key="outbox-1")
    (posted,) = slack.messages
    (expected,) = render_message(message)
    assert receipt.message_ids == (posted.ts,)
    assert posted.channel == CHANNEL
    assert posted.text == expected.text
    assert list(posted.blocks) == _as_json(expected.blocks)
    assert posted.blocks[2]["text"]["text"].endswith("Russian FM *Lavrov* met Wang Yi in Beijing on Tuesday.")
    assert posted.params["unfurl_links"] is True and posted.params["link_names"] is False
    assert posted.params["parse"] == "none"
    assert slack.calls_to("chat.postMessage")[0].token == slack.token


async def test_long_digest_is_split_over_several_messages(
    slack: FakeSlackApi, platform: SlackPlatform
) -> None:
    message = _digest(sections=2, stories_per_section=40, snippet_chars=150)
    receipt = await platform.send(CHANNEL, message, idempotency_key="digest-1")
    posts = render_message(message)
    assert len(posts) >= 2
    assert receipt.message_ids == tuple(m.ts for m in slack.messages)
    assert [list(m.blocks) for m in slack.messages] == [_as_json(p.blocks) for p in posts]
    assert all(
        m.params["unfurl_links"] is False and m.params["unfurl_media"] is False for m in slack.messages
    )
    delivered_titles = [t for m in slack.messages for t in _texts(m.blocks) if t.startswith("*<https://")]
    assert len(delivered_titles) == 80


async def test_rate_limited_then_delivered_once(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    slack.fail_with_rate_limit(times=1, retry_after_s=0)
    receipt = await platform.send(CHANNEL, _alert(_story()), idempotency_key="outbox-2")
    assert len(slack.calls_to("chat.postMessage")) == 2
    (posted,) = slack.messages
    assert receipt.message_ids == (posted.ts,)


async def test_rate_limit_beyond_the_retries_asks_to_wait(
    slack: FakeSlackApi, platform: SlackPlatform
) -> None:
    slack.fail_with_rate_limit(times=1, retry_after_s=0)
    slack.fail_with_rate_limit(times=1, retry_after_s=7)
    with pytest.raises(DeliveryError) as raised:
        await platform.send(CHANNEL, _alert(_story()), idempotency_key="outbox-3")
    assert raised.value.retry_after_s == 7.0
    assert not raised.value.permanent
    assert "retry after 7 s" in str(raised.value)
    assert slack.messages == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(slack: FakeSlackApi, platform: SlackPlatform, status: int) -> None:
    slack.fail_with_server_error(times=3, status=status)
    for attempt in range(1, 4):
        with pytest.raises(
            DeliveryError, match=f"Slack channel {CHANNEL}: Slack answered HTTP {status}"
        ) as e:
            await platform.send(CHANNEL, _alert(_story()), idempotency_key="outbox-4")
        assert not e.value.permanent and e.value.retry_after_s is None
        # The adapter does not retry 5xx itself: the outbox backs off.
        assert len(slack.calls_to("chat.postMessage")) == attempt
    receipt = await platform.send(CHANNEL, _alert(_story()), idempotency_key="outbox-4")
    assert len(slack.messages) == 1 and receipt.message_ids == (slack.messages[0].ts,)


async def test_a_timeout_is_retryable(slack: FakeSlackApi) -> None:
    adapter = SlackPlatform(token=slack.token, api_base_url=slack.base_url, request_timeout_s=0.2)
    slack.fail_with_timeout(times=1)
    try:
        with pytest.raises(DeliveryError, match=re.escape("did not answer within 0.2 s")) as raised:
            await adapter.send(CHANNEL, _alert(_story()), idempotency_key="outbox-5")
        assert not raised.value.permanent
        receipt = await adapter.send(CHANNEL, _alert(_story()), idempotency_key="outbox-5")
    finally:
        await adapter.close()
    assert receipt.message_ids == (slack.messages[0].ts,)


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "is_archived", "missing_scope"])
async def test_channel_errors_are_permanent(slack: FakeSlackApi, platform: SlackPlatform, code: str) -> None:
    slack.fail_with_slack_error(code, channel=CHANNEL)
    with pytest.raises(DeliveryError) as raised:
        await platform.send(CHANNEL, _alert(_story()), idempotency_key="outbox-6")
    assert raised.value.permanent
    assert str(raised.value).startswith(f"Slack channel {CHANNEL}: {code} — ")
    # Only that channel is affected.
    await platform.send("C0OTHERCHAN", _alert(_story()), idempotency_key="outbox-7")
    assert [m.channel for m in slack.messages] == ["C0OTHERCHAN"]


@pytest.mark.parametrize("code", ["invalid_auth", "not_authed", "account_inactive", "token_revoked"])
async def test_token_errors_while_sending_are_permanent(
    slack: FakeSlackApi, platform: SlackPlatform, code: str
) -> None:
    slack.fail_with_slack_error(code)
    with pytest.raises(DeliveryError) as raised:
        await platform.send(CHANNEL, _alert(_story()), idempotency_key="outbox-8")
    assert raised.value.permanent
    assert str(raised.value) == (
        f"Slack rejected the bot token (SLACK_BOT_TOKEN): {code} (while posting to channel {CHANNEL})"
    )


async def test_temporary_slack_errors_are_retryable(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    slack.fail_with_slack_error("service_unavailable", times=1)
    with pytest.raises(DeliveryError, match="temporary problem") as raised:
        await platform.send(CHANNEL, _alert(_story()), idempotency_key="outbox-9")
    assert not raised.value.permanent


async def test_a_retry_does_not_repost_parts_already_delivered(
    slack: FakeSlackApi, platform: SlackPlatform
) -> None:
    message = _digest(sections=1, stories_per_section=40, snippet_chars=100)
    parts = len(render_message(message))
    assert parts >= 2
    slack.fail_with_server_error(times=1, after=1)
    with pytest.raises(DeliveryError):
        await platform.send(CHANNEL, message, idempotency_key="digest-2")
    assert len(slack.messages) == 1
    receipt = await platform.send(CHANNEL, message, idempotency_key="digest-2")
    assert len(slack.messages) == parts
    assert receipt.message_ids == tuple(m.ts for m in slack.messages)


async def test_injection_attempts_arrive_inert(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    story = _story(
        "<!channel> @everyone <@U123>",
        snippet="<!subteam^S0ABC> <http://evil.example|good> \u202eevil <!here>",
        source="<@U999>",
    )
    await platform.send(CHANNEL, _alert(story, heading="<!everyone>"), idempotency_key="outbox-10")
    (posted,) = slack.messages
    for text in [posted.text, *_texts(posted.blocks)]:
        assert "\u202e" not in text
        for sequence in _control_sequences(text):
            assert sequence.startswith("<https://news.example/") or sequence.startswith("<!date^"), sequence


async def test_the_token_is_never_logged_or_reported(
    slack: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "xoxb-very-secret-token-value"
    adapter = SlackPlatform(token=secret, api_base_url=slack.base_url)
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    try:
        for attempt in (adapter.start(), adapter.send(CHANNEL, _alert(_story()), idempotency_key="k")):
            with pytest.raises(DeliveryError) as raised:
                await attempt
            errors.append(str(raised.value))
    finally:
        await adapter.close()
    assert slack.calls_to("auth.test")[0].token == secret
    assert all(secret not in error for error in errors)
    assert secret not in caplog.text


# ---------------------------------------------------------------------------------------------------------
# The fake itself: form bodies and Slack's own block checks


async def test_fake_accepts_form_bodies_and_checks_tokens(slack: FakeSlackApi) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    async with aiohttp.ClientSession() as session:
        form = {"token": slack.token, "channel": CHANNEL, "text": "hi", "blocks": json.dumps(blocks)}
        async with session.post(f"{slack.base_url}chat.postMessage", data=form) as response:
            body = await response.json()
        async with session.post(f"{slack.base_url}chat.postMessage", data={"channel": CHANNEL}) as response:
            unauthenticated = await response.json()
    assert body["ok"] is True and body["channel"] == CHANNEL and body["ts"]
    assert slack.messages[0].blocks == tuple(blocks)
    assert unauthenticated == {"ok": False, "error": "not_authed"}


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        ([{"type": "divider"}] * 51, "invalid_blocks"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "invalid_blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}], "invalid_blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}}] * 5, "msg_blocks_too_long"),
    ],
)
async def test_fake_rejects_blocks_slack_would_reject(
    slack: FakeSlackApi, blocks: list[Any], error: str
) -> None:
    headers = {"Authorization": f"Bearer {slack.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(
            f"{slack.base_url}chat.postMessage", json={"channel": CHANNEL, "blocks": blocks}
        ) as response,
    ):
        body = await response.json()
    assert body == {"ok": False, "error": error}
    assert slack.messages == []


def test_digest_dates_use_each_story_time() -> None:
    later = PUBLISHED + timedelta(hours=1)
    (post,) = render_message(_alert(_story(published=later)))
    assert post.blocks[3]["elements"][0]["text"].endswith("|2024-05-01 13:00 UTC>")
