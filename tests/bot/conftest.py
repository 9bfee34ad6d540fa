"""Fixtures for the application layer: a controllable clock and configs pointing at local servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config, parse_config
from tests.fakes.feed_server import FeedServer

WATCHLIST = {
    "actors": [
        {
            "id": "putin",
            "name": "Vladimir Putin",
            "kind": "person",
            "aliases": ["Vladimir Putin", "Putin", "Путин*"],
        },
        {
            "id": "witkoff",
            "name": "Steve Witkoff",
            "kind": "person",
            "aliases": ["Steve Witkoff", "Witkoff", "Уиткофф*"],
        },
        {
            "id": "russia",
            "name": "Russia",
            "kind": "state",
            "aliases": ["Russia", "Russian", "Kremlin", "Росси*", "Кремл*"],
        },
        {"id": "qatar", "name": "Qatar", "kind": "state", "aliases": ["Qatar", "Doha"]},
    ],
    "topics": [
        {
            "id": "peace-talks",
            "name": "Peace talks",
            "any": ["peace talks", "negotiat*", "talks", "переговор*"],
        },
        {"id": "sanctions", "name": "Sanctions", "any": ["sanction*"]},
    ],
}


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 24, 7, 0, tzinfo=UTC))


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


def make_config(
    tmp_path: Path,
    feed_urls: Mapping[str, str],
    *,
    channels: list[dict[str, object]] | None = None,
    slack_api: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """A config with these feeds (name → url), the test watchlist and the given channels."""
    data: dict[str, object] = {
        "storage": {"path": str(tmp_path / "dw.db")},
        "fetch": {"allow_private_networks": True, "timeout_s": 5, "workers": 1},
        "watchlist": WATCHLIST,
        "feeds": [{"url": url, "name": name, "interval": "10m"} for name, url in feed_urls.items()],
        "channels": channels or [],
    }
    if slack_api is not None:
        data["slack"] = {"api_base_url": slack_api}
    return parse_config(data, base_dir=tmp_path, environ=environ or {})
