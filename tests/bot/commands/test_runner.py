"""The runner's own duties: cooldown per user, admin checks on every call, autocomplete, never raising."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands import AdminPolicy, CommandContext, CommandRunner, Invocation, RawArgument
from bot.commands.cooldown import CommandCooldown, cooldown_message
from bot.commands.specs import COMMANDS, CommandSpec
from bot.config import DiscordConfig, SlackConfig, parse_config
from feeds.fetch import Fetcher
from storage.audit import AuditRepository
from storage.db import Database
from tests.bot.commands.conftest import ADMIN, USER, ManualClock, add_feed, make_runner


def test_the_bucket_allows_a_burst_then_asks_to_wait(clock: ManualClock) -> None:
    cooldown = CommandCooldown(clock=clock, capacity=3, per_second=0.5)
    assert [cooldown.take("slack", "U1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert cooldown.take("slack", "U1") == pytest.approx(2.0)
    assert cooldown.take("slack", "U2") == 0.0  # other users are not slowed down
    assert cooldown.take("discord", "U1") == 0.0  # nor the same id on another platform
    clock.advance(1.0)
    assert cooldown.take("slack", "U1") == pytest.approx(1.0)
    clock.advance(1.0)
    assert cooldown.take("slack", "U1") == 0.0
    clock.advance(600)
    assert [cooldown.take("slack", "U1") for _ in range(4)][-1] == pytest.approx(2.0)


def test_rested_users_are_forgotten(clock: ManualClock) -> None:
    cooldown = CommandCooldown(clock=clock, capacity=2, per_second=1.0, max_users=2)
    cooldown.take("slack", "U1")
    cooldown.take("slack", "U2")
    clock.advance(10)
    assert cooldown.take("slack", "U3") == 0.0
    assert cooldown.take("slack", "U3") == 0.0
    assert cooldown.take("slack", "U3") == pytest.approx(1.0)


def test_cooldown_message() -> None:
    assert cooldown_message(2.2) == "Slow down: try again in 3 s."
    assert cooldown_message(0.1) == "Slow down: try again in 1 s."


async def test_spamming_gets_a_polite_cooldown_not_errors(
    db: Database, clock: ManualClock, fetcher: Fetcher
) -> None:
    runner = make_runner(db, clock, fetcher, cooldown_capacity=3, cooldown_per_second=1 / 3)
    replies = [await runner.run_text(USER, "status") for _ in range(4)]
    assert [r.kind for r in replies] == ["result", "result", "result", "cooldown"]
    assert replies[3].lines == ("Slow down: try again in 3 s.",)
    assert replies[3].ephemeral
    assert (await runner.run_text(ADMIN, "status")).kind == "result"
    typed = await runner.run(USER, Invocation(path=("status",)))
    assert typed.kind == "cooldown"
    clock.advance(3)
    assert (await runner.run_text(USER, "status")).kind == "result"


@pytest.mark.parametrize("spec", [s for s in COMMANDS if s.admin], ids=lambda s: s.name)
async def test_every_admin_command_refuses_non_admins(
    runner: CommandRunner, db: Database, spec: CommandSpec
) -> None:
    # Even with arguments that would be valid, the flag decides; the platform's default permissions do not.
    arguments = tuple(RawArgument(name=a.name, value="x") for a in spec.args if a.required)
    reply = await runner.run(USER, Invocation(path=spec.path, arguments=arguments))
    assert reply.kind == "denied", spec.name
    assert reply.ephemeral
    assert await AuditRepository(db).count() == 0


def test_admin_policy_from_config(tmp_path: Path) -> None:
    policy = AdminPolicy(slack_admin_user_ids=("U0BOSS",), discord_admin_role_ids=("777",))
    assert policy.is_admin(platform="slack", user_id="U0BOSS")
    assert not policy.is_admin(platform="slack", user_id="U0USER")
    assert policy.is_admin(platform="slack", user_id="U0USER", platform_admin=True)
    assert policy.is_admin(platform="discord", user_id="1", role_ids=("5", "777"))
    assert not policy.is_admin(platform="discord", user_id="1", role_ids=("5",))
    assert not policy.is_admin(platform="console", user_id="me")
    config = parse_config({"slack": {"admins": ["U0BOSS"]}, "discord": {"admin_role_ids": ["777"]}},
                          base_dir=tmp_path)
    assert AdminPolicy.from_config(config) == policy
    assert SlackConfig().admins == () and DiscordConfig().admin_role_ids == ()


async def test_complete_actor_topic_and_feed_names(runner: CommandRunner, db: Database) -> None:
    assert await runner.complete("actor", "") == ["lavrov", "un", "us"]
    assert await runner.complete("actor", "uni") == ["un", "us"]  # display names match too
    assert await runner.complete("actor", "nations") == ["un"]  # substring
    assert await runner.complete("actor", "lav") == ["lavrov"]
    assert await runner.complete("topic", "talk") == ["ceasefire"]
    # Starting with "s" (Sergey Lavrov, sanctions) before containing it (United Nations, …, ceasefire).
    assert await runner.complete("actor_or_topic", "s") == ["lavrov", "sanctions", "un", "us", "ceasefire"]
    choices = await runner.complete_choices("actor", "serg")
    assert [(c.value, c.label) for c in choices] == [("lavrov", "Sergey Lavrov (lavrov)")]
    await add_feed(db, 1, name="Reuters World")
    await add_feed(db, 2, name="TASS")
    await add_feed(db, 3, name="TASS")
    assert await runner.complete("feed", "reu") == ["Reuters World"]
    assert [(c.value, c.label) for c in await runner.complete_choices("feed", "tass")] == [
        ("#2", "#2 TASS"), ("#3", "#3 TASS")]
    assert await runner.complete("feed", "3") == ["#3"]
    assert await runner.complete("url", "x") == []


async def test_complete_returns_at_most_25_and_follows_edits(runner: CommandRunner) -> None:
    for n in range(30):
        await runner.run_text(ADMIN, f"watch add-actor Person{n:02d} id:p{n:02d}")
    found = await runner.complete("actor", "p")
    assert len(found) == 25
    assert found[0] == "p00"


async def test_unknown_paths_and_bad_text_never_raise(runner: CommandRunner) -> None:
    assert (await runner.run(USER, Invocation(path=("nope",)))).kind == "error"
    reply = await runner.run_text(USER, 'search "unclosed')
    assert reply.kind == "error" and "unbalanced quote" in reply.to_text()
    usage = await runner.run_text(ADMIN, "watch add-alias lavrov")
    assert usage.lines == ("missing alias (the new alias)",
                           "Usage: /diplowatch watch add-alias <actor> <alias…> [exact:<bool>]")


async def test_storage_failures_become_replies(runner: CommandRunner, db: Database) -> None:
    await db.execute("DROP TABLE audit_log")
    reply = await runner.run_text(ADMIN, "watch add-alias lavrov Sergei")
    assert reply.kind == "error"
    assert "no such table: audit_log" in reply.to_text()


def test_a_context_names_the_user_for_the_audit_log() -> None:
    assert CommandContext(platform="slack", channel_id="C1", user_id="U1", user_name="ann").who == "ann (U1)"
    assert CommandContext(platform="slack", channel_id="C1", user_id="U1").who == "U1"
