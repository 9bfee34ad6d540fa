"""Full-text search: ranking, filters, scripts and hostile queries."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from feeds.models import FeedState, Match
from storage.db import Database
from storage.items import ItemRepository, SearchHit, fts_query
from storage.matches import MatchRepository
from tests.storage.samples import T0, make_item

HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    "*",
    "-",
    "- -",
    "AND OR NOT",
    "NEAR(",
    "NEAR(a b, 3)",
    "(",
    ")",
    "^",
    "title:",
    "title: summit",
    "{title summary}: summit",
    '"unterminated summit',
    "summit AND",
    "OR summit",
    "summit*",
    "**",
    "+summit",
    "summit\x00",
    "\x00",
    "'; DROP TABLE items; --",
    "rowid = 1",
    "a" * 5000,
    " ".join(["summit"] * 500),
]


async def test_title_hits_outrank_summary_hits_and_recency_breaks_ties(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(
        feed.id,
        [
            make_item(1, title="Weather report", summary="Ministers mention the summit in passing today."),
            make_item(2, title="Summit opens in Geneva", summary="Delegations arrived."),
            make_item(
                3,
                title="Summit opens in Geneva",
                summary="Delegations arrived.",
                content_hash="h3",
                published=T0 - timedelta(days=1),
            ),
            make_item(4, title="Unrelated", summary="Nothing here."),
        ],
        fetched_at=T0,
    )
    hits = await items.search("summit")
    assert [h.item.item.guid for h in hits] == ["guid-2", "guid-3", "guid-1"]
    assert hits[0].score > hits[1].score > hits[2].score
    assert "Summit" in hits[0].snippet


async def test_much_older_items_sink_below_fresh_ones(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db, recency_half_life_days=1.0)
    await items.add_items(
        feed.id,
        [
            make_item(1, title="Summit summit summit", published=T0 - timedelta(days=30)),
            make_item(2, title="Talks before the summit", published=T0),
        ],
        fetched_at=T0,
    )
    assert [h.item.item.guid for h in await items.search("summit")] == ["guid-2", "guid-1"]


async def test_every_word_must_match_and_prefixes_work(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(
        feed.id,
        [
            make_item(1, title="New sanctions on oil exports"),
            make_item(2, title="Oil prices steady"),
            make_item(3, title="U.S. envoy visits Kyiv"),
        ],
        fetched_at=T0,
    )
    assert [h.item.item.guid for h in await items.search("oil sanctions")] == ["guid-1"]
    assert [h.item.item.guid for h in await items.search("sanction*")] == ["guid-1"]
    assert await items.search("sanction") == []
    assert [h.item.item.guid for h in await items.search("u.s. envoy")] == ["guid-3"]
    assert [h.item.item.guid for h in await items.search("OIL")] == ["guid-2", "guid-1"]


async def test_cyrillic_and_accents_fold(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(
        feed.id,
        [
            make_item(1, title="Лавров встретился с Гутеррешем"),
            make_item(2, title="Déclaration de l'Élysée sur la trêve"),
        ],
        fetched_at=T0,
    )
    assert [h.item.item.guid for h in await items.search("лавров")] == ["guid-1"]
    assert [h.item.item.guid for h in await items.search("ЛАВРОВ")] == ["guid-1"]
    assert [h.item.item.guid for h in await items.search("elysee treve")] == ["guid-2"]


async def test_filters_since_source_actor_topic(db: Database, feed: FeedState, other_feed: FeedState) -> None:
    items, matches = ItemRepository(db), MatchRepository(db)
    first = await items.add_items(
        feed.id,
        [
            make_item(1, title="Ceasefire talks resume", source="Wire A", published=T0 - timedelta(days=3)),
            make_item(2, title="Ceasefire holds", source="Wire B"),
        ],
        fetched_at=T0,
    )
    second = await items.add_items(
        other_feed.id, [make_item(3, title="Ceasefire collapses", source="")], fetched_at=T0
    )
    await matches.save(first[0].id, Match(actors=("lavrov",), topics=("ceasefire",), score=2.0))
    await matches.save(first[1].id, Match(topics=("ceasefire",), score=1.0))
    await matches.save(second[0].id, Match(actors=("lavrov",), score=1.0))

    def guids(hits: list[SearchHit]) -> set[str | None]:
        return {h.item.item.guid for h in hits}

    assert guids(await items.search("ceasefire")) == {"guid-1", "guid-2", "guid-3"}
    assert guids(await items.search("ceasefire", since=T0 - timedelta(days=1))) == {"guid-2", "guid-3"}
    assert guids(await items.search("ceasefire", source="wire b")) == {"guid-2"}
    assert guids(await items.search("ceasefire", source="Feed 2")) == {"guid-3"}  # the feed's name
    assert guids(await items.search("ceasefire", actor="lavrov")) == {"guid-1", "guid-3"}
    assert guids(await items.search("ceasefire", topic="ceasefire")) == {"guid-1", "guid-2"}
    assert guids(await items.search("ceasefire", actor="lavrov", topic="ceasefire")) == {"guid-1"}
    assert guids(await items.search("ceasefire", actor="nobody")) == set()


async def test_source_names_are_searchable(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(feed.id, [make_item(1, title="Talks", source="Kyodo News")], fetched_at=T0)
    assert [h.item.item.guid for h in await items.search("kyodo")] == ["guid-1"]


async def test_limit_and_offset_page_through_results(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(feed.id, [make_item(n, title=f"Summit day {n}") for n in range(25)], fetched_at=T0)
    pages = [await items.search("summit", limit=10, offset=offset) for offset in (0, 10, 20)]
    assert [len(page) for page in pages] == [10, 10, 5]
    ids = [h.item.id for page in pages for h in page]
    assert len(set(ids)) == 25
    assert await items.search("summit", limit=0) == []
    assert len(await items.search("summit", offset=-5)) == 10


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_queries_never_raise(db: Database, feed: FeedState, query: str) -> None:
    items = ItemRepository(db)
    await items.add_items(
        feed.id, [make_item(1, title="Summit opens; NEAR the title: AND more")], fetched_at=T0
    )
    hits = await items.search(query)
    if not any(char.isalnum() for char in query):
        assert hits == []


async def test_random_garbage_queries_never_raise(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(feed.id, [make_item(1, title="Summit opens in Genève")], fetched_at=T0)
    punctuation = "\"*-^:(){}[]+.,;'\\/\x00_ \t\n"
    alphabet = [*punctuation, "NEAR", "AND", "OR", "NOT", "a", "Ж", "é", "\u0301", "𝔸", "😀"]
    rng = random.Random(20240501)
    for _ in range(300):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        await items.search(query)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("summit", '"summit"'),
        ('say "hi"', '"say" """hi"""'),
        ("sanction*", '"sanction"*'),
        ("AND OR", '"AND" "OR"'),
        ("* - ( )", None),
        ("", None),
    ],
)
def test_fts_query_quotes_every_word(text: str, expected: str | None) -> None:
    assert fts_query(text) == expected
