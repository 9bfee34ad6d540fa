"""``export`` gives the watchlist as TOML; ``import`` previews a diff and applies it only when confirmed."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from bot.commands import CommandRunner
from feeds.watchlist_file import dump_watchlist, parse_watchlist
from storage.audit import AuditRepository
from storage.db import Database
from storage.watchlists import WatchlistRepository
from tests.bot.commands.conftest import ADMIN, OTHER_ADMIN, USER, WATCHLIST, ManualClock

EDITED = """
[[actors]]
id = "lavrov"
name = "Sergey Lavrov"
kind = "person"
aliases = ["Sergey Lavrov", "Sergei Lavrov"]

[[actors]]
id = "kallas"
name = "Kaja Kallas"
kind = "person"
aliases = ["Kaja Kallas", "Kallas"]

[[topics]]
id = "sanctions"
name = "Sanctions"
any = ["sanction", "embargo"]
"""


async def test_export_attaches_the_watchlist_as_toml(runner: CommandRunner) -> None:
    reply = await runner.run_text(ADMIN, "export")
    assert reply.title == "Watchlist export: 3 actors, 2 topics"
    assert reply.attachment is not None
    assert reply.attachment.filename == "diplowatch-watchlist.toml"
    assert reply.attachment.media_type == "application/toml"
    text = reply.attachment.content.decode("utf-8")
    assert parse_watchlist(tomllib.loads(text), origin="export") == WATCHLIST
    assert (await runner.run_text(USER, "export")).kind == "denied"


async def test_import_preview_then_confirm(runner: CommandRunner, db: Database) -> None:
    before = await WatchlistRepository(db).version()
    preview = await runner.run_text(ADMIN, f"import ```toml\n{EDITED}```")
    assert preview.kind == "result", preview.to_text()
    assert preview.title == ("Import preview: 1 actors added, 1 actors changed, 2 actors removed, "
                             "1 topics removed")
    blocks = {b.heading: b.lines for b in preview.blocks}
    assert blocks["Actors added"] == ("+ Kaja Kallas (kallas, person): Kaja Kallas, Kallas",)
    assert blocks["Actors changed"] == ("~ lavrov: aliases +Sergei Lavrov −Lavrov",)
    assert blocks["Actors removed"] == ("− United Nations (un)", "− United States (us)")
    assert blocks["Topics removed"] == ("− Ceasefire talks (ceasefire)",)
    confirmation = preview.confirmation
    assert confirmation is not None
    assert confirmation.command_line == f"import confirm {confirmation.token}"
    assert confirmation.cancel_command_line == f"import cancel {confirmation.token}"
    assert f"Cancel: /diplowatch import cancel {confirmation.token}" in preview.to_text()
    assert "replaces the whole watchlist" in confirmation.prompt
    # Nothing changes before the confirmation.
    assert await WatchlistRepository(db).load() == WATCHLIST
    assert await AuditRepository(db).count() == 0
    done = await runner.run(ADMIN, confirmation.invocation)
    assert done.title == "Imported: 1 actors added, 1 actors changed, 2 actors removed, 1 topics removed"
    stored = await WatchlistRepository(db).load()
    assert stored == parse_watchlist(tomllib.loads(EDITED), origin="test")
    assert await WatchlistRepository(db).version() == before + 1
    [entry] = await AuditRepository(db).recent(5)
    assert entry.command == "import confirm"
    assert "actor added: kallas" in entry.detail and "topic removed: ceasefire" in entry.detail
    used = await runner.run(ADMIN, confirmation.invocation)
    assert "no import is waiting under that token" in used.to_text()


async def test_a_preview_expires(runner: CommandRunner, db: Database, clock: ManualClock) -> None:
    preview = await runner.run_text(ADMIN, f"import {EDITED}")
    assert preview.confirmation is not None
    assert preview.confirmation.expires_at == clock.now + timedelta(minutes=10)
    clock.advance(10 * 60)
    reply = await runner.run_text(ADMIN, preview.confirmation.command_line)
    assert "no import is waiting under that token (previews expire after 10 min)" in reply.to_text()
    assert await WatchlistRepository(db).load() == WATCHLIST


async def test_only_the_previewing_admin_confirms(runner: CommandRunner, db: Database) -> None:
    preview = await runner.run_text(ADMIN, f"import {EDITED}")
    assert preview.confirmation is not None
    other = await runner.run(OTHER_ADMIN, preview.confirmation.invocation)
    assert "only the admin who previewed this import can confirm it" in other.to_text()
    user = await runner.run(USER, preview.confirmation.invocation)
    assert user.kind == "denied"
    assert await WatchlistRepository(db).load() == WATCHLIST
    assert (await runner.run(ADMIN, preview.confirmation.invocation)).kind == "result"


async def test_cancel_discards_the_preview(runner: CommandRunner, db: Database) -> None:
    preview = await runner.run_text(ADMIN, f"import {EDITED}")
    assert preview.confirmation is not None
    version = await WatchlistRepository(db).version()
    cancelled = await runner.run_text(ADMIN, preview.confirmation.cancel_command_line)
    assert (cancelled.kind, cancelled.title) == ("result", "Import cancelled — nothing was changed")
    confirmed = await runner.run(ADMIN, preview.confirmation.invocation)
    assert confirmed.kind == "error"
    assert "no import is waiting under that token (previews expire after 10 min)" in confirmed.to_text()
    again = await runner.run_text(ADMIN, preview.confirmation.cancel_command_line)
    assert "no import is waiting under that token" in again.to_text()
    assert await WatchlistRepository(db).load() == WATCHLIST
    assert await WatchlistRepository(db).version() == version
    assert await AuditRepository(db).count() == 0


async def test_only_the_previewing_admin_cancels(runner: CommandRunner, db: Database) -> None:
    preview = await runner.run_text(ADMIN, f"import {EDITED}")
    assert preview.confirmation is not None
    cancel = preview.confirmation.cancel_command_line
    other = await runner.run_text(OTHER_ADMIN, cancel)
    assert other.kind == "error"
    assert "only the admin who previewed this import can cancel it" in other.to_text()
    assert (await runner.run_text(USER, cancel)).kind == "denied"
    # Neither refusal dropped the preview: its admin can still apply it.
    assert (await runner.run(ADMIN, preview.confirmation.invocation)).title.startswith("Imported")
    assert (await WatchlistRepository(db).load()).actor("kallas") is not None


async def test_cancelling_an_unknown_or_expired_preview_is_a_clear_error(
    runner: CommandRunner, clock: ManualClock
) -> None:
    unknown = await runner.run_text(ADMIN, "import cancel n0-such-t0ken")
    assert unknown.kind == "error"
    assert "no import is waiting under that token (previews expire after 10 min)" in unknown.to_text()
    preview = await runner.run_text(ADMIN, f"import {EDITED}")
    assert preview.confirmation is not None
    clock.advance(10 * 60)
    expired = await runner.run_text(ADMIN, preview.confirmation.cancel_command_line)
    assert "no import is waiting under that token" in expired.to_text()
    assert "missing token" in (await runner.run_text(ADMIN, "import cancel")).to_text()


async def test_a_preview_is_stale_once_the_watchlist_changed(runner: CommandRunner, db: Database) -> None:
    preview = await runner.run_text(ADMIN, f"import {EDITED}")
    assert preview.confirmation is not None
    await runner.run_text(OTHER_ADMIN, "watch add-alias un UN exact:true")
    reply = await runner.run(ADMIN, preview.confirmation.invocation)
    assert "the watchlist changed since the preview" in reply.to_text()
    assert (await WatchlistRepository(db).load()).actor("kallas") is None


async def test_importing_the_current_watchlist_changes_nothing(runner: CommandRunner) -> None:
    reply = await runner.run_text(ADMIN, f"import {dump_watchlist(WATCHLIST)}")
    assert reply.title == "Nothing to import"
    assert reply.confirmation is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[actors]\nid = 1", "the import is not valid TOML"),
        ('[[actors]]\nid = "x"\nname = "X"\nkind = "planet"\naliases = ["X"]', "'planet' is not one of"),
        ('[[topics]]\nid = "t"\nname = "T"', "topic 't' needs at least one phrase in 'any'"),
        ('[[actors]]\nid = "x"\nname = "X"\nkind = "person"\naliases = ["X"]\nfavourite = 1',
         "unknown key 'favourite'"),
        ('[[actors]]\nid = "x"\nname = "' + "n" * 101 + '"\nkind = "person"\naliases = ["X"]',
         "the name of actor 'x' is longer than 100 characters"),
        ('[[actors]]\nid = "x"\nname = "X"\nkind = "person"\naliases = ['
         + ", ".join(f'"a{i}"' for i in range(51)) + "]", "actor 'x' has 51 aliases; at most 50 are allowed"),
    ],
)
async def test_import_errors(runner: CommandRunner, db: Database, toml: str, message: str) -> None:
    reply = await runner.run_text(ADMIN, f"import {toml}")
    assert reply.kind == "error"
    assert message in reply.to_text()
    assert reply.confirmation is None
    assert await WatchlistRepository(db).load() == WATCHLIST


async def test_import_needs_a_document(runner: CommandRunner) -> None:
    reply = await runner.run_text(ADMIN, "import")
    assert "missing toml" in reply.to_text()
