"""/diplowatch on Slack: signed requests to the real slack-bolt app (HTTP and Socket Mode), a real
CommandRunner on a SQLite file, and answers read from the fake Slack's response URLs."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.commands import AdminPolicy, CommandRunner, Reply, ReplyBlock
from bot.commands.replies import Attachment
from bot.platforms.slack import (
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_MORE,
    MESSAGE_BLOCK_LIMIT,
    SlackPlatform,
    render_reply,
    slack_unescape,
)
from feeds.errors import ConfigError
from feeds.models import Actor, Topic, Watchlist
from storage.db import Database
from storage.watchlists import WatchlistRepository
from tests.bot.platforms.conftest import KALLAS_IMPORT, store_stories
from tests.fakes.slack_api import DEFAULT_APP_TOKEN, FakeSlackApi, ResponsePost, block_problem

SECRET = "fake-signing-secret-for-tests"
CHANNEL = "C0NEWSDESK"
MEMBER = "U0MEMBER"
CONFIG_ADMIN = "U0CONFIGADMIN"
WORKSPACE_ADMIN = "U0WSADMIN"
WATCHLIST = Watchlist(
    actors=(Actor(id="putin", name="Vladimir Putin", kind="person", aliases=("Vladimir Putin", "Putin")),),
    topics=(Topic(id="sanctions", name="Sanctions", any=("sanction",)),),
)


@pytest.fixture
def watchlist() -> Watchlist:
    """What the shared ``db`` fixture (tests/bot/platforms/conftest.py) stores."""
    return WATCHLIST


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        api.set_user(MEMBER)
        api.set_user(WORKSPACE_ADMIN, is_admin=True)
        yield api


def make_platform(
    slack: FakeSlackApi, runner: CommandRunner, *, signing_secret: str = SECRET
) -> SlackPlatform:
    platform = SlackPlatform(token=slack.token, signing_secret=signing_secret, api_base_url=slack.base_url)
    platform.install_commands(runner, AdminPolicy(slack_admin_user_ids=(CONFIG_ADMIN,)))
    return platform


@pytest.fixture
async def platform(slack: FakeSlackApi, runner: CommandRunner) -> AsyncIterator[SlackPlatform]:
    served = make_platform(slack, runner)
    await served.start()
    await served.serve_http("127.0.0.1", 0)
    yield served
    await served.close()


def signed_headers(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature over ``v0:<timestamp>:<body>``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_form(slack: FakeSlackApi, text: str, *, user: str = MEMBER, name: str = "cmd") -> dict[str, str]:
    return {
        "token": "verification-token-unused", "team_id": "T0FAKETEAM", "team_domain": "fake",
        "channel_id": CHANNEL, "channel_name": "news-desk", "user_id": user, "user_name": user.lower(),
        "command": "/diplowatch", "text": text, "api_app_id": "A0FAKEAPP", "is_enterprise_install": "false",
        "response_url": slack.response_url(name), "trigger_id": "1.2.3",
    }


def action_form(slack: FakeSlackApi, action_id: str, value: str, *, user: str = MEMBER,
                name: str = "action") -> dict[str, str]:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0FAKETEAM"},
        "api_app_id": "A0FAKEAPP",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": CHANNEL,
                      "is_ephemeral": True},
        "trigger_id": "1.2.4",
        "team": {"id": "T0FAKETEAM", "domain": "fake"},
        "channel": {"id": CHANNEL, "name": "news-desk"},
        "response_url": slack.response_url(name),
        "actions": [{"action_id": action_id, "block_id": "b1", "type": "button", "value": value,
                     "action_ts": "1700000001.000200"}],
    }
    return {"payload": json.dumps(payload)}


async def post(platform: SlackPlatform, form: Mapping[str, str], **signing: Any) -> tuple[int, str]:
    url = platform.events_url
    assert url is not None
    body = urlencode(form)
    async with aiohttp.ClientSession() as session, session.post(
        url, data=body.encode(), headers=signed_headers(body, **signing)
    ) as response:
        return response.status, await response.text()


async def run(slack: FakeSlackApi, platform: SlackPlatform, form: Mapping[str, str]) -> ResponsePost:
    """Post one signed request, check it is acknowledged, and return the one answer it gets."""
    before = len(slack.responses)
    status, _ = await post(platform, form)
    assert status == 200
    return (await slack.wait_for_responses(before + 1))[before]


# --- HTTP mode -----------------------------------------------------------------------------------------


async def test_search_is_acknowledged_then_answered_privately(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    await store_stories(db, ["Putin meets envoys in Moscow"])

    status, body = await post(platform, command_form(slack, "search putin"))
    (answer,) = await slack.wait_for_responses(1)

    assert (status, body) == (200, "")
    assert answer.name == "cmd" and answer.ephemeral
    assert answer.texts[0] == "Search “putin”: stories 1–1"
    assert answer.texts[1].startswith("• Putin meets envoys in Moscow — World Desk · 2024-05-20")
    assert answer.body["blocks"][1]["text"]["type"] == "plain_text"
    assert slack.calls_to("users.info") == []  # a look-up needs no admin check


async def test_public_true_answers_in_the_channel(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    await store_stories(db, ["Putin meets envoys"])

    answer = await run(slack, platform, command_form(slack, "search putin public:true"))

    assert answer.body["response_type"] == "in_channel" and not answer.ephemeral


async def test_a_bad_or_stale_signature_is_refused(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    form = command_form(slack, "help")

    forged = await post(platform, form, secret="not-the-secret")
    stale = await post(platform, form, timestamp=int(time.time()) - 6 * 60)

    assert forged[0] == 401 and stale[0] == 401
    assert slack.responses == []


async def test_help_and_help_for_one_command(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    overview = await run(slack, platform, command_form(slack, "help"))
    empty = await run(slack, platform, command_form(slack, ""))
    details = await run(slack, platform, command_form(slack, "help watch add-actor"))

    assert overview.texts[0].startswith("diplowatch commands")
    assert any("watch add-actor" in text for text in overview.texts)
    assert empty.texts[0] == overview.texts[0]
    assert details.texts[0] == "/diplowatch watch add-actor"


async def test_an_admin_edit_by_a_member_is_refused(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    before = await WatchlistRepository(db).version()

    answer = await run(slack, platform, command_form(slack, 'watch add-actor "Kaja Kallas" person Kallas'))

    assert answer.ephemeral and answer.texts[0] == "Admins only"
    assert await WatchlistRepository(db).version() == before
    assert [call.params["user"] for call in slack.calls_to("users.info")] == [MEMBER]


async def test_an_admin_edit_by_a_configured_admin_is_applied_with_text_unescaped(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    before = await WatchlistRepository(db).version()

    # Slack sends & < > as entities.
    answer = await run(slack, platform, command_form(
        slack, 'watch add-actor "Procter &amp; Gamble &lt;PG&gt;" org', user=CONFIG_ADMIN
    ))

    assert answer.texts[0].startswith("Now tracking"), answer.texts
    assert await WatchlistRepository(db).version() > before
    names = [a.name for a in (await WatchlistRepository(db).load()).actors]
    assert "Procter & Gamble <PG>" in names
    assert slack.calls_to("users.info") == []  # configured admins need no look-up


async def test_a_workspace_admin_is_an_admin_and_is_remembered(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    add = command_form(slack, "watch add-actor Kallas", user=WORKSPACE_ADMIN)
    alias = command_form(slack, "watch add-alias kallas Kaja", user=WORKSPACE_ADMIN)
    first = await run(slack, platform, add)
    second = await run(slack, platform, alias)

    assert first.texts[0].startswith("Now tracking"), first.texts
    assert second.texts[0].startswith("Added"), second.texts
    assert len(slack.calls_to("users.info")) == 1


async def test_the_more_button_shows_the_next_page(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    await store_stories(db, ["Putin one", "Putin two", "Putin three"])
    first = await run(slack, platform, command_form(slack, "search putin"))
    ((action_id, token),) = first.buttons()
    assert action_id == ACTION_MORE

    second = await run(slack, platform, action_form(slack, ACTION_MORE, token))

    assert second.texts[0] == "Search “putin”: stories 3–3"
    assert second.body.get("replace_original") is False and second.buttons() == []


async def preview_import(slack: FakeSlackApi, platform: SlackPlatform) -> ResponsePost:
    """A config admin's ``/diplowatch import …`` preview of the Kallas watchlist."""
    return await run(slack, platform, command_form(slack, f"import {KALLAS_IMPORT}", user=CONFIG_ADMIN))


async def test_import_preview_then_confirm_or_cancel(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    preview = await preview_import(slack, platform)
    assert preview.texts[0].startswith("Import preview"), preview.texts
    (confirm, confirm_token), (cancel, cancel_token) = preview.buttons()
    assert (confirm, cancel, confirm_token) == (ACTION_CONFIRM, ACTION_CANCEL, cancel_token)

    applied = await run(slack, platform, action_form(slack, ACTION_CONFIRM, confirm_token, user=CONFIG_ADMIN))

    assert applied.texts[0].startswith("Imported"), applied.texts
    assert applied.body["replace_original"] is True
    assert [a.id for a in (await WatchlistRepository(db).load()).actors] == ["kallas"]


async def test_cancel_discards_the_import_preview(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    preview = await preview_import(slack, platform)
    (_, token), _ = preview.buttons()

    cancelled = await run(slack, platform, action_form(slack, ACTION_CANCEL, token, user=CONFIG_ADMIN))

    assert cancelled.texts == ["Import cancelled — nothing was changed"], cancelled.texts
    assert cancelled.body["replace_original"] is True and cancelled.buttons() == []
    # The preview is gone, not only hidden: a confirm pressed or typed afterwards finds nothing to apply.
    pressed = await run(slack, platform, action_form(slack, ACTION_CONFIRM, token, user=CONFIG_ADMIN))
    assert "no import is waiting under that token" in " ".join(pressed.texts), pressed.texts
    typed = await run(slack, platform, command_form(slack, f"import confirm {token}", user=CONFIG_ADMIN))
    assert "no import is waiting under that token" in " ".join(typed.texts), typed.texts
    assert await WatchlistRepository(db).load() == WATCHLIST


async def test_only_the_previewing_admin_cancels_with_the_button(
    slack: FakeSlackApi, platform: SlackPlatform, db: Database
) -> None:
    preview = await preview_import(slack, platform)
    (_, token), _ = preview.buttons()

    refused = await run(slack, platform, action_form(slack, ACTION_CANCEL, token, user=WORKSPACE_ADMIN))
    assert "only the admin who previewed this import can cancel it" in " ".join(refused.texts), refused.texts
    denied = await run(slack, platform, action_form(slack, ACTION_CANCEL, token, user=MEMBER))
    assert denied.texts[0] == "Admins only", denied.texts

    applied = await run(slack, platform, action_form(slack, ACTION_CONFIRM, token, user=CONFIG_ADMIN))
    assert applied.texts[0].startswith("Imported"), applied.texts
    assert [a.id for a in (await WatchlistRepository(db).load()).actors] == ["kallas"]


async def test_export_is_shown_as_a_code_block(slack: FakeSlackApi, platform: SlackPlatform) -> None:
    answer = await run(slack, platform, command_form(slack, "export", user=CONFIG_ADMIN))

    code = [t for t in answer.texts if t.startswith("```")]
    assert code and 'id = "putin"' in code[0]
    assert answer.ephemeral


async def test_a_port_in_use_is_a_clear_error(slack: FakeSlackApi, runner: CommandRunner) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        platform = make_platform(slack, runner)
        try:
            with pytest.raises(ConfigError) as raised:
                await platform.serve_http("127.0.0.1", port)
        finally:
            await platform.close()

    assert str(raised.value).startswith(f"cannot listen on 127.0.0.1:{port}: address already in use")


async def test_http_mode_needs_the_signing_secret(slack: FakeSlackApi, runner: CommandRunner) -> None:
    platform = make_platform(slack, runner, signing_secret="")
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET is not set"):
        await platform.serve_http("127.0.0.1", 0)
    await platform.close()


# --- Socket Mode ---------------------------------------------------------------------------------------


async def test_socket_mode_acknowledges_and_answers(
    slack: FakeSlackApi, runner: CommandRunner, db: Database
) -> None:
    await store_stories(db, ["Putin meets envoys"])
    platform = make_platform(slack, runner)
    try:
        await platform.serve_socket(DEFAULT_APP_TOKEN)
        envelope = await slack.send_envelope("slash_commands", command_form(slack, "search putin"))
        (ack,) = await slack.wait_for_socket_acks(1)
        (answer,) = await slack.wait_for_responses(1)
    finally:
        await platform.close()

    assert ack["envelope_id"] == envelope
    assert answer.texts[0] == "Search “putin”: stories 1–1"
    assert [call.token for call in slack.calls_to("apps.connections.open")] == [DEFAULT_APP_TOKEN]


async def test_socket_mode_with_a_wrong_app_token_is_a_clear_error(
    slack: FakeSlackApi, runner: CommandRunner
) -> None:
    platform = make_platform(slack, runner)
    try:
        with pytest.raises(ConfigError, match="Slack rejected SLACK_APP_TOKEN: invalid_auth"):
            await platform.serve_socket("xapp-revoked")
        with pytest.raises(ConfigError, match="app-level token"):
            await platform.serve_socket("xoxb-bot-token-by-mistake")
    finally:
        await platform.close()


# --- rendering (pure) ----------------------------------------------------------------------------------


def test_reply_text_is_plain_and_inert() -> None:
    (message,) = render_reply(Reply(
        title="<!channel> results", blocks=(ReplyBlock(heading="*Bold* <@U1>", lines=("<!here> a_b *c*",)),),
    ))

    assert message.blocks[0] == {
        "type": "header", "text": {"type": "plain_text", "text": "&lt;!channel&gt; results", "emoji": False},
    }
    assert message.blocks[1]["text"] == {"type": "mrkdwn", "text": "*∗Bold∗ &lt;@U1&gt;*", "verbatim": True}
    line = {"type": "plain_text", "text": "&lt;!here&gt; a_b *c*", "emoji": False}
    assert message.blocks[2]["text"] == line
    assert message.text == "&lt;!channel&gt; results"


def test_a_long_reply_stays_within_limits_and_counts_what_is_left_out() -> None:
    lines = tuple(f"• Story {n}: " + "ministers met " * 20 for n in range(400))
    (message,) = render_reply(Reply(title="Search", blocks=(ReplyBlock(lines=lines),)))

    assert block_problem(message.blocks) is None and len(message.blocks) <= MESSAGE_BLOCK_LIMIT
    assert message.blocks[-1]["text"]["text"].endswith("more lines not shown.")


def test_a_long_export_is_spread_over_at_most_five_messages() -> None:
    content = "\n".join(f'alias_{n} = "{"x" * 100}"' for n in range(1000)).encode()
    attachment = Attachment(filename="watchlist.toml", content=content, media_type="application/toml")

    messages = render_reply(Reply(title="Export", attachment=attachment))

    assert len(messages) == 5
    assert all(block_problem(m.blocks) is None for m in messages)
    assert "too long to show in full" in messages[-1].blocks[-1]["text"]["text"]


def test_slack_entities_are_unescaped() -> None:
    assert slack_unescape("a &amp;lt; b &lt;x&gt; &amp; c") == "a &lt; b <x> & c"
