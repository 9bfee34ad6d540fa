"""The stored watchlist: full replace, fine-grained edits, duplicates and the version counter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from feeds.errors import StorageError
from feeds.models import Actor, Topic, Watchlist
from storage.db import Database
from storage.watchlists import WatchlistRepository
from tests.storage.samples import sample_watchlist


async def test_empty_database_has_an_empty_watchlist_at_version_zero(db: Database) -> None:
    repo = WatchlistRepository(db)
    assert await repo.load() == Watchlist()
    assert await repo.version() == 0


async def test_replace_and_load_round_trip(db: Database) -> None:
    repo = WatchlistRepository(db)
    watchlist = sample_watchlist()
    await repo.replace(watchlist)
    assert await repo.load() == watchlist
    assert await repo.version() == 1

    smaller = Watchlist(actors=(watchlist.actors[2],), topics=(watchlist.topics[1],))
    await repo.replace(smaller)
    assert await repo.load() == smaller
    assert await repo.version() == 2


async def test_replace_inside_a_failed_transaction_changes_nothing(db: Database) -> None:
    repo = WatchlistRepository(db)
    await repo.replace(sample_watchlist())
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await repo.replace(Watchlist())
            raise RuntimeError("config reload failed")
    assert await repo.load() == sample_watchlist()
    assert await repo.version() == 1


@pytest.mark.parametrize(
    ("watchlist", "message"),
    [
        (Watchlist(actors=(Actor(id="a", name="A", kind="org"),) * 2), "actor id 'a' is listed twice"),
        (Watchlist(topics=(Topic(id="t", name="T"),) * 2), "topic id 't' is listed twice"),
        (
            Watchlist(
                actors=(Actor(id="a", name="A", kind="org", aliases=("X",), exact_case_aliases=("X",)),)
            ),
            "alias 'X' is listed twice",
        ),
        (Watchlist(topics=(Topic(id="t", name="T", any=("x", "x")),)), "'any' phrase 'x' is listed twice"),
        (Watchlist(actors=(Actor(id="a", name="A", kind="org", aliases=(" ",)),)), "must not be empty"),
        (Watchlist(actors=(Actor(id="a", name="A", kind="planet"),)), "kind 'planet'"),  # type: ignore[arg-type]
    ],
    ids=["actor-ids", "topic-ids", "aliases", "phrases", "empty-alias", "bad-kind"],
)
async def test_replace_rejects_bad_watchlists(db: Database, watchlist: Watchlist, message: str) -> None:
    repo = WatchlistRepository(db)
    with pytest.raises(StorageError, match=message):
        await repo.replace(watchlist)
    assert await repo.version() == 0


async def test_actor_edits_bump_the_version(db: Database) -> None:
    repo = WatchlistRepository(db)
    await repo.replace(sample_watchlist())
    version = await repo.version()
    zelensky = Actor(
        id="zelensky", name="Volodymyr Zelensky", kind="person", aliases=("Zelensky", "Зеленський")
    )

    await repo.add_actor(zelensky)
    await repo.add_alias("zelensky", "Zelenskyy")
    await repo.add_alias("zelensky", "ZE", exact_case=True)
    loaded = (await repo.load()).actor("zelensky")
    assert loaded == replace(
        zelensky, aliases=("Zelensky", "Зеленський", "Zelenskyy"), exact_case_aliases=("ZE",)
    )
    assert [a.id for a in (await repo.load()).actors] == ["lavrov", "un", "us", "zelensky"]

    await repo.remove_alias("zelensky", "Зеленський")
    await repo.remove_alias("zelensky", "ZE")
    assert (await repo.load()).actor("zelensky") == replace(zelensky, aliases=("Zelensky", "Zelenskyy"))

    await repo.update_actor(replace(zelensky, name="President Zelensky", not_near=("Zelensky Street",)))
    updated = (await repo.load()).actor("zelensky")
    assert updated is not None and (updated.name, updated.not_near) == (
        "President Zelensky",
        ("Zelensky Street",),
    )

    await repo.remove_actor("lavrov")
    assert (await repo.load()).actor("lavrov") is None
    assert await repo.version() == version + 7


async def test_topic_edits_bump_the_version(db: Database) -> None:
    repo = WatchlistRepository(db)
    truce = Topic(
        id="truce", name="Truce", any=("truce", "перемирие"), all=("talks",), none=("truce of the game",)
    )
    await repo.add_topic(truce)
    assert (await repo.load()).topic("truce") == truce

    changed = replace(truce, name="Truce talks", any=("truce",), none=())
    await repo.update_topic(changed)
    assert (await repo.load()).topics == (changed,)

    await repo.remove_topic("truce")
    assert (await repo.load()).topics == ()
    assert await repo.version() == 3


async def test_duplicates_and_missing_targets_are_clear_errors(db: Database) -> None:
    repo = WatchlistRepository(db)
    await repo.replace(sample_watchlist())
    version = await repo.version()
    lavrov = sample_watchlist().actors[0]
    with pytest.raises(StorageError, match="actor 'lavrov' is already in the watchlist"):
        await repo.add_actor(lavrov)
    with pytest.raises(StorageError, match="already has the alias 'Лавров'"):
        await repo.add_alias("lavrov", "Лавров")
    with pytest.raises(StorageError, match="already has the alias 'US'"):
        await repo.add_alias("us", "US")
    with pytest.raises(StorageError, match="no actor 'nobody'"):
        await repo.add_alias("nobody", "x")
    with pytest.raises(StorageError, match="has no alias 'Putin'"):
        await repo.remove_alias("lavrov", "Putin")
    with pytest.raises(StorageError, match="no actor 'nobody'"):
        await repo.remove_alias("nobody", "x")
    with pytest.raises(StorageError, match="no actor 'nobody'"):
        await repo.remove_actor("nobody")
    with pytest.raises(StorageError, match="no actor 'nobody'"):
        await repo.update_actor(replace(lavrov, id="nobody"))
    with pytest.raises(StorageError, match="topic 'sanctions' is already in the watchlist"):
        await repo.add_topic(sample_watchlist().topics[0])
    with pytest.raises(StorageError, match="no topic 'nothing'"):
        await repo.update_topic(Topic(id="nothing", name="Nothing"))
    with pytest.raises(StorageError, match="no topic 'nothing'"):
        await repo.remove_topic("nothing")
    assert await repo.version() == version  # failed edits change nothing
    assert await repo.load() == sample_watchlist()
