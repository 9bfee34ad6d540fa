"""Fixtures: a fresh database file per test, with a feed or two."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from feeds.models import FeedState
from storage.db import Database, open_database
from storage.feeds import FeedRepository
from tests.storage.samples import T0, make_source


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "diplowatch.db")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def feed(db: Database) -> FeedState:
    return await FeedRepository(db).add(make_source(1), T0, "config")


@pytest.fixture
async def other_feed(db: Database) -> FeedState:
    return await FeedRepository(db).add(make_source(2), T0, "chat")
