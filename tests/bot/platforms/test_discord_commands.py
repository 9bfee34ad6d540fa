"""The /diplowatch slash command: the real discord.py client and CommandRunner against the fake Discord API.

Interactions go down the fake gateway as INTERACTION_CREATE; what the bot answers is what the fake recorded at
its interaction callback and follow-up endpoints; edits land in a real SQLite file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import yarl

from bot.commands import (
    AdminPolicy,
    CommandRunner,
    Invocation,
    Reply,
    ReplyBlock,
)
from bot.commands.replies import Confirmation, NextPage
from bot.platforms.discord import (
    BUTTON_ID,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    DiscordPlatform,
    render_reply,
)
from feeds.models import Actor, Topic, Watchlist
from storage.db import Database
from storage.subscriptions import SubscriptionRepository
from storage.watchlists import WatchlistRepository
from tests.bot.platforms.conftest import KALLAS_IMPORT, T0, store_stories
from tests.fakes.discord_api import (
    ADMIN_ROLE_ID,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    MANAGE_GUILD,
    OWNER_USER_ID,
    TEST_CHANNEL_ID,
    UPDATE_MESSAGE,
    ChannelError,
    FakeDiscordAPI,
    InteractionAnswer,
    autocomplete,
    button_press,
    limit_violations,
    slash_command,
)

TOKEN = "fake-bot-token.commands"
# A feed name that would ping a role if it were not escaped.
FEED_NAME = "World <@&1> Desk"
WATCHLIST = Watchlist(
    actors=(
        Actor(id="putin", name="Vladimir Putin", kind="person", aliases=("Vladimir Putin", "Putin")),
        Actor(id="lavrov", name="Sergey Lavrov", kind="person", aliases=("Sergey Lavrov", "Lavrov")),
    ),
    topics=(Topic(id="sanctions", name="Sanctions", any=("sanction",)),),
)


@pytest.fixture
def watchlist() -> Watchlist:
    """What the shared ``db`` fixture (tests/bot/platforms/conftest.py) stores."""
    return WATCHLIST


async def connect(
    fake: FakeDiscordAPI, monkeypatch: pytest.MonkeyPatch, runner: CommandRunner, **options: Any
) -> DiscordPlatform:
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    platform = DiscordPlatform(token=TOKEN, guild_ready_timeout_s=0.05, ready_timeout_s=5.0)
    platform.install_commands(runner, AdminPolicy(discord_admin_role_ids=(str(ADMIN_ROLE_ID),)), **options)
    await platform.start()
    return platform


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscordAPI]:
    async with FakeDiscordAPI(token=TOKEN) as api:
        yield api


@pytest.fixture
async def platform(
    fake: FakeDiscordAPI, monkeypatch: pytest.MonkeyPatch, runner: CommandRunner
) -> AsyncIterator[DiscordPlatform]:
    connected = await connect(fake, monkeypatch, runner)
    yield connected
    await connected.close()


async def ask(fake: FakeDiscordAPI, payload: dict[str, Any]) -> InteractionAnswer:
    """Send one interaction and return the one answer it gets."""
    before = len(fake.answers)
    await fake.send_interaction(payload)
    answers = await fake.wait_for_answers(before + 1)
    return answers[before]


def embed_text(answer: InteractionAnswer) -> str:
    return "\n".join(f"{e.get('title', '')}\n{e.get('description', '')}" for e in answer.data["embeds"])


# --- registration --------------------------------------------------------------------------------------


async def test_start_registers_one_diplowatch_command_with_typed_options(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    (command,) = fake.synced_commands
    assert command["name"] == "diplowatch"
    children = {option["name"]: option for option in command["options"]}
    assert {"search", "actor", "watch", "feeds", "import", "subscribe", "export", "help"} <= set(children)
    assert "more" not in children  # hidden: buttons run it
    assert {o["name"] for o in children["watch"]["options"]} == {
        "add-actor", "add-alias", "remove-alias", "remove", "add-topic", "edit-topic",
    }
    search = {option["name"]: option for option in children["search"]["options"]}
    query = search["query"]
    assert (query["type"], query["required"], query["max_length"]) == (3, True, 300)
    assert search["actor"]["autocomplete"] is True and search["topic"]["autocomplete"] is True
    assert search["public"]["type"] == 5 and "offset" not in search
    subscribe = {option["name"]: option for option in children["subscribe"]["options"]}
    assert [c["value"] for c in subscribe["mode"]["choices"]] == ["alert", "digest", "both"]
    assert (subscribe["min_score"]["type"], subscribe["min_score"]["max_value"]) == (10, 1.0)
    import_preview = {o["name"]: o for o in next(
        o for o in children["import"]["options"] if o["name"] == "preview"
    )["options"]}
    assert import_preview["file"]["type"] == 11 and import_preview["toml"].get("required") is not True
    assert platform.commands is not None and platform.commands.sync_error is None


async def test_guild_ids_register_the_command_in_those_servers(
    fake: FakeDiscordAPI, monkeypatch: pytest.MonkeyPatch, runner: CommandRunner
) -> None:
    connected = await connect(fake, monkeypatch, runner, guild_ids=[123456789012345678])
    try:
        assert [c["name"] for c in fake.guild_commands(123456789012345678)] == ["diplowatch"]
        assert fake.synced_commands == []
    finally:
        await connected.close()


async def test_a_refused_sync_is_logged_and_the_bot_still_starts(
    fake: FakeDiscordAPI, monkeypatch: pytest.MonkeyPatch, runner: CommandRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.sync_failure = ChannelError(status=403, code=50001, message="Missing Access")
    connected = await connect(fake, monkeypatch, runner)
    try:
        assert connected.client.is_ready()
        assert connected.commands is not None and connected.commands.sync_error is not None
        assert "applications.commands scope" in connected.commands.sync_error
        assert "Discord did not register /diplowatch: Missing Access" in caplog.text
    finally:
        await connected.close()


def test_install_after_start_or_twice_is_refused(runner: CommandRunner) -> None:
    platform = DiscordPlatform(token=TOKEN)
    platform.install_commands(runner, AdminPolicy())
    with pytest.raises(Exception, match="already installed"):
        platform.install_commands(runner, AdminPolicy())


# --- look-ups ------------------------------------------------------------------------------------------


async def test_search_answers_with_an_ephemeral_embed(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    await store_stories(db, feed_name=FEED_NAME, titles=["Putin meets envoys in Moscow"])

    answer = await ask(fake, slash_command("diplowatch", "search", options={"query": "putin"}))

    assert (answer.kind, answer.type, answer.ephemeral) == ("callback", CHANNEL_MESSAGE, True)
    assert answer.data["flags"] == 64
    assert answer.data["allowed_mentions"] == {"parse": []}
    (embed,) = answer.data["embeds"]
    assert embed["title"] == "Search “putin”: stories 1–1"
    assert embed["description"].startswith("• Putin meets envoys in Moscow — World Desk · 2024-05-20")
    assert answer.custom_ids == []


async def test_public_true_answers_the_whole_channel(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    await store_stories(db, feed_name=FEED_NAME, titles=["Putin meets envoys"])

    public = slash_command("diplowatch", "search", options={"query": "putin", "public": True})
    answer = await ask(fake, public)

    assert not answer.ephemeral


async def test_more_button_shows_the_next_page(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    await store_stories(db, feed_name=FEED_NAME, titles=["Putin one", "Putin two", "Putin three"])

    first = await ask(fake, slash_command("diplowatch", "search", options={"query": "putin"}))
    (custom_id,) = first.custom_ids
    assert BUTTON_ID.fullmatch(custom_id) and custom_id.startswith("diplowatch:more:")
    second = await ask(fake, button_press(custom_id))

    assert second.type == CHANNEL_MESSAGE and second.ephemeral
    assert second.data["embeds"][0]["title"] == "Search “putin”: stories 3–3"
    assert second.custom_ids == []


async def test_feed_and_user_text_is_escaped(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    await store_stories(db, feed_name=FEED_NAME, titles=["Putin and @everyone <@123> [click](http://evil.example)"])

    answer = await ask(fake, slash_command("diplowatch", "search", options={"query": "putin"}))

    text = embed_text(answer)
    assert "@everyone" not in text and "](" not in text
    assert re.search(r"(?<!\\)<@", text) is None
    assert "@\u200beveryone" in text and "\\<@123>" in text


async def test_autocomplete_offers_matching_actors(fake: FakeDiscordAPI, platform: DiscordPlatform) -> None:
    answer = await ask(fake, autocomplete("diplowatch", "search", options={"actor": "pu"}, focused="actor"))

    assert (answer.type, answer.data["choices"]) == (
        AUTOCOMPLETE_RESULT, [{"name": "Vladimir Putin (putin)", "value": "putin"}],
    )
    listed = await ask(fake, autocomplete("diplowatch", "subscribe", options={"actors": "putin,la"},
                                          focused="actors"))
    assert listed.data["choices"] == [{"name": "putin,lavrov", "value": "putin,lavrov"}]


async def test_help_lists_the_commands(fake: FakeDiscordAPI, platform: DiscordPlatform) -> None:
    answer = await ask(fake, slash_command("diplowatch", "help"))

    assert answer.ephemeral
    assert answer.data["embeds"][0]["title"].startswith("diplowatch commands")
    assert "watch add-actor" in embed_text(answer)


# --- admin commands ------------------------------------------------------------------------------------


async def test_an_admin_command_by_a_member_without_rights_is_refused(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    before = await WatchlistRepository(db).version()

    add = slash_command("diplowatch", "watch", "add-actor", options={"name": "Kaja Kallas"})
    answer = await ask(fake, add)

    assert answer.ephemeral
    assert answer.data["embeds"][0]["title"] == "Admins only"
    assert await WatchlistRepository(db).version() == before


@pytest.mark.parametrize(
    ("permissions", "roles"), [(MANAGE_GUILD, ()), (0, (ADMIN_ROLE_ID,))], ids=["manage-server", "admin-role"]
)
async def test_an_admin_edit_is_applied(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database, permissions: int, roles: tuple[int, ...]
) -> None:
    before = await WatchlistRepository(db).version()

    answer = await ask(fake, slash_command(
        "diplowatch", "watch", "add-actor",
        options={"name": "Kaja Kallas", "kind": "person", "aliases": "Kallas"},
        permissions=permissions, roles=roles,
    ))

    assert answer.data["embeds"][0]["title"].startswith("Now tracking"), embed_text(answer)
    assert await WatchlistRepository(db).version() > before
    added = next(a for a in (await WatchlistRepository(db).load()).actors if a.name == "Kaja Kallas")
    assert "Kallas" in added.aliases


async def test_subscribe_is_refused_in_direct_messages(fake: FakeDiscordAPI, platform: DiscordPlatform,
                                                       db: Database) -> None:
    direct = slash_command("diplowatch", "subscribe", permissions=MANAGE_GUILD, in_guild=False)
    answer = await ask(fake, direct)

    assert answer.ephemeral
    assert "works only in a server channel" in embed_text(answer)
    assert await SubscriptionRepository(db).all() == []


async def test_subscribe_in_a_server_stores_this_channel(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    answer = await ask(fake, slash_command("diplowatch", "subscribe", options={"mode": "both"},
                                           permissions=MANAGE_GUILD))

    assert answer.data["embeds"][0]["title"] == "This channel is now subscribed"
    stored = await SubscriptionRepository(db).get("discord", str(TEST_CHANNEL_ID))
    assert stored is not None and stored.settings.mode == "both"


async def test_export_then_import_a_file_with_confirm(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    exported = await ask(fake, slash_command("diplowatch", "export", permissions=MANAGE_GUILD))
    ((filename, content),) = exported.files
    assert filename == "diplowatch-watchlist.toml" and b'id = "putin"' in content
    changed = content.replace(b"Vladimir Putin", b"V. V. Putin")
    url = fake.add_attachment("watchlist.toml", changed)

    preview = await ask(fake, slash_command(
        "diplowatch", "import", "preview", attachments={"file": ("900000000000000001", url, len(changed))},
        permissions=MANAGE_GUILD,
    ))
    assert preview.data["embeds"][0]["title"].startswith("Import preview"), embed_text(preview)
    confirm, cancel = preview.custom_ids
    assert confirm.startswith("diplowatch:confirm:") and cancel.startswith("diplowatch:cancel:")

    applied = await ask(fake, button_press(confirm, permissions=MANAGE_GUILD))

    assert applied.data["embeds"][0]["title"].startswith("Imported"), embed_text(applied)
    names = [a.name for a in (await WatchlistRepository(db).load()).actors]
    assert "V. V. Putin" in names


async def preview_import(fake: FakeDiscordAPI) -> InteractionAnswer:
    """An admin's ``/diplowatch import preview`` of the Kallas watchlist."""
    return await ask(fake, slash_command("diplowatch", "import", "preview", options={"toml": KALLAS_IMPORT},
                                         permissions=MANAGE_GUILD))


async def test_cancel_replaces_the_preview(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    preview = await preview_import(fake)
    confirm, cancel = preview.custom_ids
    before = await WatchlistRepository(db).version()

    cancelled = await ask(fake, button_press(cancel, permissions=MANAGE_GUILD))

    assert cancelled.type == UPDATE_MESSAGE
    assert cancelled.data["embeds"][0]["title"] == "Import cancelled — nothing was changed"
    assert cancelled.data["components"] == []
    # The preview is gone, not only hidden: a Confirm pressed afterwards (or typed) finds nothing to apply.
    token = confirm.removeprefix("diplowatch:confirm:")
    typed = await ask(fake, slash_command("diplowatch", "import", "confirm", options={"token": token},
                                          permissions=MANAGE_GUILD))
    assert "no import is waiting under that token" in embed_text(typed), embed_text(typed)
    pressed = await ask(fake, button_press(confirm, permissions=MANAGE_GUILD))
    assert "no import is waiting under that token" in embed_text(pressed), embed_text(pressed)
    assert await WatchlistRepository(db).version() == before
    assert await WatchlistRepository(db).load() == WATCHLIST


async def test_only_the_previewing_admin_cancels_with_the_button(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database
) -> None:
    preview = await preview_import(fake)
    confirm, cancel = preview.custom_ids

    refused = await ask(fake, button_press(cancel, user_id=OWNER_USER_ID, permissions=MANAGE_GUILD))

    assert refused.type == UPDATE_MESSAGE and refused.data["components"] == []
    refusal = embed_text(refused)
    assert "only the admin who previewed this import can cancel it" in refusal, refusal
    applied = await ask(fake, button_press(confirm, permissions=MANAGE_GUILD))
    assert applied.data["embeds"][0]["title"].startswith("Imported"), embed_text(applied)
    assert [a.id for a in (await WatchlistRepository(db).load()).actors] == ["kallas"]


async def test_an_unreadable_attachment_is_a_clear_error(
    fake: FakeDiscordAPI, platform: DiscordPlatform
) -> None:
    url = fake.add_attachment("binary.toml", b"\xff\xfe\x00bad")
    answer = await ask(fake, slash_command(
        "diplowatch", "import", "preview", attachments={"file": ("900000000000000002", url, 6)},
        permissions=MANAGE_GUILD,
    ))

    assert answer.ephemeral and "not UTF-8 text" in embed_text(answer)


async def test_a_slow_answer_is_deferred_then_sent_as_a_follow_up(
    fake: FakeDiscordAPI, monkeypatch: pytest.MonkeyPatch, runner: CommandRunner, db: Database
) -> None:
    await store_stories(db, feed_name=FEED_NAME, titles=["Putin meets envoys"])
    connected = await connect(fake, monkeypatch, runner, defer_after_s=0.0)
    try:
        await fake.send_interaction(slash_command("diplowatch", "search", options={"query": "putin"}))
        deferred, followup = await fake.wait_for_answers(2)
    finally:
        await connected.close()

    assert (deferred.kind, deferred.type, deferred.ephemeral) == ("callback", DEFERRED_CHANNEL_MESSAGE, True)
    assert followup.kind == "followup" and followup.interaction_id == deferred.interaction_id
    assert followup.data["embeds"][0]["title"] == "Search “putin”: stories 1–1"


async def test_failures_get_an_answer_not_a_traceback(
    fake: FakeDiscordAPI, platform: DiscordPlatform, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await db.close()

    status = await ask(fake, slash_command("diplowatch", "status"))
    completed = await ask(fake, autocomplete("diplowatch", "actor", options={"name": "pu"}, focused="name"))
    stale = await ask(fake, slash_command("diplowatch", "retired-command"))

    assert status.ephemeral
    assert embed_text(status).startswith("Cannot do that\nThat did not work: database at")
    assert "Traceback" not in embed_text(status)
    assert (completed.type, completed.data["choices"]) == (AUTOCOMPLETE_RESULT, [])
    assert "autocomplete for actor failed" in caplog.text
    assert stale.ephemeral and "out of date" in embed_text(stale)


# --- rendering (pure) ----------------------------------------------------------------------------------


def test_a_long_reply_fits_discords_limits_and_says_what_was_left_out() -> None:
    lines = tuple(f"• Story {n}: " + "ministers met " * 20 for n in range(200))
    rendered = render_reply(Reply(title="Search", blocks=(ReplyBlock(heading="Results", lines=lines),)))

    payload = {"embeds": [embed.to_discord().to_dict() for embed in rendered.embeds]}
    assert limit_violations(payload) == []
    assert sum(embed.char_count() for embed in rendered.embeds) <= EMBED_TOTAL_LIMIT
    assert all(len(embed.description) <= DESCRIPTION_LIMIT for embed in rendered.embeds)
    assert rendered.embeds[-1].description.endswith("more lines not shown.")
    assert rendered.embeds[0].description.startswith("**Results**\n• Story 0")


def test_buttons_carry_the_runners_tokens() -> None:
    again = Invocation(path=("search",))
    reply = Reply(
        title="Import preview",
        next_page=NextPage(token="abc_DEF1", offset=2, invocation=again, command_line="search offset:2",
                           more_invocation=again),
        confirmation=Confirmation(prompt="Apply?", token="tok-123", invocation=again,
                                  command_line="import confirm", expires_at=T0),
    )
    rendered = render_reply(reply)

    assert [b.custom_id for b in rendered.buttons] == [
        "diplowatch:more:abc_DEF1", "diplowatch:confirm:tok-123", "diplowatch:cancel:tok-123",
    ]
    assert f"Expires <t:{int(T0.timestamp())}:R>." in rendered.embeds[0].description
