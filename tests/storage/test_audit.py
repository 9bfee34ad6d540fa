"""The audit log on a real SQLite file: rows in order, paging, retention, and rollback with the edit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feeds.errors import StorageError
from storage.audit import MAX_DETAIL_CHARS, AuditRepository
from storage.db import Database
from tests.storage.samples import T0

MINUTE = timedelta(minutes=1)


async def test_record_and_read_newest_first(db: Database) -> None:
    audit = AuditRepository(db)
    first = await audit.record(actor_user="alice (U1)", platform="slack", command="watch add-actor",
                               detail="added actor kallas", now=T0)
    await audit.record(actor_user="dan (42)", platform="discord", command="feeds pause", detail="paused #3",
                       now=T0 + MINUTE)
    assert first.id == 1 and first.at == T0
    entries = await audit.recent(10)
    assert [(e.actor_user, e.platform, e.command, e.detail, e.at) for e in entries] == [
        ("dan (42)", "discord", "feeds pause", "paused #3", T0 + MINUTE),
        ("alice (U1)", "slack", "watch add-actor", "added actor kallas", T0),
    ]
    assert await audit.count() == 2


async def test_paging_and_same_time_order(db: Database) -> None:
    audit = AuditRepository(db)
    for n in range(5):
        await audit.record(actor_user="u", platform="slack", command="c", detail=str(n), now=T0)
    assert [e.detail for e in await audit.recent(2)] == ["4", "3"]
    assert [e.detail for e in await audit.recent(2, offset=2)] == ["2", "1"]
    assert [e.detail for e in await audit.recent(2, offset=4)] == ["0"]
    assert await audit.recent(0) == []


async def test_long_details_are_cut_and_empty_names_refused(db: Database) -> None:
    audit = AuditRepository(db)
    entry = await audit.record(actor_user="u", platform="slack", command="import confirm", detail="x" * 5000,
                               now=T0)
    assert len(entry.detail) == MAX_DETAIL_CHARS and entry.detail.endswith("…")
    assert (await audit.recent(1))[0].detail == entry.detail
    with pytest.raises(StorageError, match="needs the user"):
        await audit.record(actor_user=" ", platform="slack", command="c", detail="", now=T0)
    with pytest.raises(StorageError, match="needs the platform and the command"):
        await audit.record(actor_user="u", platform="", command="c", detail="", now=T0)
    with pytest.raises(StorageError, match="naive datetime"):
        naive = T0.replace(tzinfo=None)
        await audit.record(actor_user="u", platform="slack", command="c", detail="", now=naive)


async def test_a_row_rolls_back_with_the_transaction_it_joined(db: Database) -> None:
    audit = AuditRepository(db)
    with pytest.raises(StorageError, match="edit failed"):
        async with db.transaction():
            await audit.record(actor_user="u", platform="slack", command="c", detail="half", now=T0)
            raise StorageError("edit failed")
    assert await audit.count() == 0


async def test_retention(db: Database) -> None:
    audit = AuditRepository(db)
    for n in range(3):
        await audit.record(actor_user="u", platform="slack", command="c", detail=str(n), now=T0 + n * MINUTE)
    assert await audit.delete_older_than(T0 + MINUTE) == 1
    assert [e.detail for e in await audit.recent(10)] == ["2", "1"]
    # Ids are never reused after pruning.
    later = await audit.record(actor_user="u", platform="slack", command="c", detail="3", now=T0)
    assert later.id == 4
