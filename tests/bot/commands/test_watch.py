"""Watchlist edits from chat: each is one transaction with its audit row, and bumps the watchlist version."""

from __future__ import annotations

import pytest

from bot.commands import CommandRunner
from bot.poller import ClassifierState
from feeds.models import Actor, Topic
from storage.audit import AuditRepository
from storage.db import Database
from storage.subscriptions import ChannelSettings, SubscriptionRepository
from storage.watchlists import WatchlistRepository
from tests.bot.commands.conftest import ADMIN, T0, USER, WATCHLIST


async def _version(db: Database) -> int:
    return await WatchlistRepository(db).version()


async def test_add_actor_with_kind_and_aliases(runner: CommandRunner, db: Database) -> None:
    before = await _version(db)
    reply = await runner.run_text(ADMIN, 'watch add-actor "Kaja Kallas" person "Kallas" "EU foreign chief"')
    assert reply.kind == "result", reply.to_text()
    assert reply.title == "Now tracking Kaja Kallas (kaja-kallas)"
    actor = (await WatchlistRepository(db).load()).actor("kaja-kallas")
    assert actor == Actor(id="kaja-kallas", name="Kaja Kallas", kind="person",
                          aliases=("Kaja Kallas", "Kallas", "EU foreign chief"))
    assert await _version(db) == before + 1
    [entry] = await AuditRepository(db).recent(10)
    assert (entry.platform, entry.actor_user) == ("slack", "alice (U0ADMIN)")
    assert entry.command == "watch add-actor"
    assert entry.detail == ("added actor kaja-kallas (Kaja Kallas, person); aliases: Kaja Kallas, Kallas, "
                            "EU foreign chief")
    assert entry.at == T0


async def test_the_classifier_sees_the_edit_before_the_next_poll(runner: CommandRunner, db: Database) -> None:
    classifier = ClassifierState()
    await classifier.refresh(WatchlistRepository(db))
    await runner.run_text(ADMIN, "watch add-actor Borrell org id:borrell")
    assert await classifier.refresh(WatchlistRepository(db))
    assert classifier.watchlist.actor("borrell") is not None


async def test_add_actor_defaults_and_explicit_id(runner: CommandRunner, db: Database) -> None:
    reply = await runner.run_text(ADMIN, "watch add-actor Лавров id:lavrov-ru")
    assert reply.kind == "result", reply.to_text()
    assert (await WatchlistRepository(db).load()).actor("lavrov-ru") == Actor(
        id="lavrov-ru", name="Лавров", kind="person", aliases=("Лавров",)
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("watch add-actor Лавров", "cannot make an id from 'Лавров': give one with id:"),
        ('watch add-actor "Sergey Lavrov" id:lavrov', "the actor id 'lavrov' is already used"),
        ("watch add-actor Newcomer Lavrov",
         "alias 'Lavrov' already belongs to actor 'lavrov' (Sergey Lavrov)"),
        ("watch add-actor Newcomer twice Twice", "alias 'Twice' is given twice (as 'twice')"),
        ("watch add-actor Newcomer id:Bad_Id", "id 'Bad_Id' must use only a-z, 0-9 and '-'"),
        ("watch add-actor Newcomer '*'", "has no letters or digits"),
        (f"watch add-actor {'x' * 101}", "name is longer than 100 characters"),
        ('watch add-actor ""', "name must not be empty"),
    ],
)
async def test_add_actor_errors_change_nothing(
    runner: CommandRunner, db: Database, line: str, message: str
) -> None:
    before = await _version(db)
    reply = await runner.run_text(ADMIN, line)
    assert reply.kind == "error" and reply.ephemeral
    assert message in reply.to_text()
    assert await _version(db) == before
    assert await WatchlistRepository(db).load() == WATCHLIST
    assert await AuditRepository(db).count() == 0


async def test_add_and_remove_alias(runner: CommandRunner, db: Database) -> None:
    added = await runner.run_text(ADMIN, 'watch add-alias "Sergey Lavrov" Sergei Lavrov')
    assert added.title == "Added alias 'Sergei Lavrov' to Sergey Lavrov (lavrov)"
    exact = await runner.run_text(ADMIN, "watch add-alias un UN exact:true")
    assert "exactly this capitalisation" in exact.to_text()
    watchlist = await WatchlistRepository(db).load()
    assert watchlist.actor("lavrov") is not None
    assert watchlist.actor("lavrov").aliases == ("Sergey Lavrov", "Lavrov", "Sergei Lavrov")  # type: ignore[union-attr]
    assert watchlist.actor("un").exact_case_aliases == ("UN",)  # type: ignore[union-attr]
    removed = await runner.run_text(ADMIN, "watch remove-alias lavrov sergei lavrov")
    assert removed.title == "Removed alias 'Sergei Lavrov' from Sergey Lavrov (lavrov)"
    assert (await WatchlistRepository(db).load()).actor("lavrov").aliases == (  # type: ignore[union-attr]
        "Sergey Lavrov", "Lavrov")
    details = [e.detail for e in await AuditRepository(db).recent(10)]
    assert details == ["actor lavrov: removed alias 'Sergei Lavrov'", "actor un: added exact-case alias 'UN'",
                       "actor lavrov: added alias 'Sergei Lavrov'"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("watch add-alias lavrov LAVROV", "actor 'lavrov' already has the alias 'LAVROV'"),
        ("watch add-alias un Lavrov", "alias 'Lavrov' already belongs to actor 'lavrov'"),
        ("watch add-alias lavorv Foo", "no tracked actor is called 'lavorv'. Did you mean `lavrov`"),
        ("watch remove-alias lavrov Sergei",
         "actor 'lavrov' has no alias 'Sergei' (its aliases: Sergey Lavrov, Lavrov)"),
        ("watch remove-alias un United Nations", "'United Nations' is the last alias of 'un'"),
    ],
)
async def test_alias_errors(runner: CommandRunner, db: Database, line: str, message: str) -> None:
    before = await _version(db)
    reply = await runner.run_text(ADMIN, line)
    assert reply.kind == "error"
    assert message in reply.to_text()
    assert await _version(db) == before


async def test_too_many_aliases(runner: CommandRunner, db: Database) -> None:
    aliases = " ".join(f"alias{i}" for i in range(49))
    assert (await runner.run_text(ADMIN, f"watch add-actor Many {aliases}")).kind == "result"
    reply = await runner.run_text(ADMIN, "watch add-alias many one-more")
    assert "already has 50 aliases, the most allowed" in reply.to_text()


async def test_remove_actor_and_topic(runner: CommandRunner, db: Database) -> None:
    await SubscriptionRepository(db).sync(
        [ChannelSettings(platform="slack", channel_id="C0DESK01", actors=("lavrov",))], T0
    )
    reply = await runner.run_text(ADMIN, "watch remove Sergey Lavrov")
    assert reply.title == "Stopped tracking actor Sergey Lavrov (lavrov)"
    assert "Channels still filtering on it (they will get nothing for it): slack:C0DESK01" in reply.lines
    reply = await runner.run_text(ADMIN, "watch remove topic:ceasefire")
    assert reply.title == "Stopped tracking topic Ceasefire talks (ceasefire)"
    watchlist = await WatchlistRepository(db).load()
    assert [a.id for a in watchlist.actors] == ["un", "us"]
    assert [t.id for t in watchlist.topics] == ["sanctions"]
    assert [e.command for e in await AuditRepository(db).recent(10)] == ["watch remove", "watch remove"]


async def test_remove_asks_which_when_an_actor_and_a_topic_share_a_name(runner: CommandRunner) -> None:
    await runner.run_text(ADMIN, "watch add-topic Nations nations id:un")
    reply = await runner.run_text(ADMIN, "watch remove un")
    assert "both actor 'un' and topic 'un' answer to 'un': write actor:un or topic:un" in reply.to_text()
    assert (await runner.run_text(ADMIN, "watch remove actor:un")).kind == "result"


async def test_add_topic(runner: CommandRunner, db: Database) -> None:
    reply = await runner.run_text(
        ADMIN,
        'watch add-topic "Arms control" "arms control" "nuclear treaty" all:treaty none:"arms race game"',
    )
    assert reply.title == "Now tracking topic Arms control (arms-control)"
    topic = (await WatchlistRepository(db).load()).topic("arms-control")
    assert topic == Topic(id="arms-control", name="Arms control", any=("arms control", "nuclear treaty"),
                          all=("treaty",), none=("arms race game",))
    [entry] = await AuditRepository(db).recent(1)
    assert entry.detail == ("added topic arms-control (Arms control); any: arms control, nuclear treaty; "
                            "all: treaty; none: arms race game")


async def test_add_topic_errors(runner: CommandRunner) -> None:
    missing = await runner.run_text(ADMIN, 'watch add-topic "Arms control"')
    assert "missing phrases" in missing.to_text()
    assert "Usage: /diplowatch watch add-topic <name> <phrases…>" in missing.to_text()
    star = await runner.run_text(ADMIN, "watch add-topic Arms '*arms'")
    assert "'*' must follow a word" in star.to_text()
    duplicate = await runner.run_text(ADMIN, "watch add-topic Sanctions embargo")
    assert "the topic id 'sanctions' is already used" in duplicate.to_text()


async def test_edit_topic(runner: CommandRunner, db: Database) -> None:
    line = 'watch edit-topic ceasefire any:ceasefire any:"cease-fire" all:- name:Truce'
    reply = await runner.run_text(ADMIN, line)
    assert reply.title == "Updated topic Truce (ceasefire)", reply.to_text()
    topic = (await WatchlistRepository(db).load()).topic("ceasefire")
    assert topic == Topic(id="ceasefire", name="Truce", any=("ceasefire", "cease-fire"))
    again = await runner.run_text(ADMIN, "watch edit-topic ceasefire name:Truce")
    assert "already reads so; nothing changed" in again.title
    assert await AuditRepository(db).count() == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("watch edit-topic sanctions", "nothing to change: give any:, all:, none: or name:"),
        ("watch edit-topic sanctions any:-", "a topic needs at least one 'any' phrase"),
        ("watch edit-topic sanctons any:x",
         "no tracked topic is called 'sanctons'. Did you mean `sanctions`"),
        ("watch edit-topic sanctions none:x none:X", "phrase 'X' is given twice"),
    ],
)
async def test_edit_topic_errors(runner: CommandRunner, db: Database, line: str, message: str) -> None:
    reply = await runner.run_text(ADMIN, line)
    assert reply.kind == "error"
    assert message in reply.to_text()
    assert await WatchlistRepository(db).load() == WATCHLIST


async def test_an_edit_that_fails_midway_leaves_nothing(runner: CommandRunner, db: Database) -> None:
    # The audit row is the last write of an edit; making it fail must undo the watchlist change before it.
    await db.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    before = await _version(db)
    for line in ('watch add-actor "Kaja Kallas" person Kallas', "watch add-alias lavrov Sergei",
                 "watch remove un", "watch add-topic Arms arms", "watch edit-topic sanctions any:embargo"):
        reply = await runner.run_text(ADMIN, line)
        assert reply.kind == "error", line
        assert "disk full" in reply.to_text()
    assert await WatchlistRepository(db).load() == WATCHLIST
    assert await _version(db) == before


async def test_watch_commands_are_for_admins_only(runner: CommandRunner, db: Database) -> None:
    reply = await runner.run_text(USER, 'watch add-actor "Kaja Kallas"')
    assert reply.kind == "denied" and reply.ephemeral
    assert "only admins may run it" in reply.to_text()
    assert await WatchlistRepository(db).load() == WATCHLIST
