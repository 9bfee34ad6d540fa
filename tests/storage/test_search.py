"""Full-text search: ranking, filters, scripts and hostile queries."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from feeds.errors import StorageError
from feeds.models import FeedState, Match
from storage.db import Database, encode_time, load_migrations, open_database
from storage.items import PYTHON_SCORE, SQL_SCORE, ItemRepository, SearchHit, fts_query
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


async def test_only_the_newest_stored_matches_are_ranked(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db, search_candidates=3)
    # The first item stored is by far the most relevant, but three newer matches fill the candidates.
    await items.add_items(feed.id, [make_item(1, title="Summit summit summit")], fetched_at=T0)
    await items.add_items(
        feed.id,
        [make_item(n, title="Report", summary=f"A summit is mentioned ({n}).") for n in range(2, 6)],
        fetched_at=T0,
    )
    assert [h.item.item.guid for h in await items.search("summit")] == ["guid-5", "guid-4", "guid-3"]
    assert [h.item.item.guid for h in await items.search("summit", limit=2, offset=2)] == ["guid-3"]
    assert await items.search("summit", offset=3) == []
    everything = ItemRepository(db)
    assert (await everything.search("summit"))[0].item.item.guid == "guid-1"


async def test_filters_apply_before_the_candidates_are_counted(
    db: Database, feed: FeedState, other_feed: FeedState
) -> None:
    items, matches = ItemRepository(db, search_candidates=2), MatchRepository(db)
    old = await items.add_items(
        other_feed.id,
        [make_item(n, title=f"Ceasefire talks {n}", source="Wire B") for n in range(1, 3)],
        fetched_at=T0,
    )
    await items.add_items(
        feed.id,
        [
            make_item(n, title=f"Ceasefire holds {n}", source="Wire A", published=T0 - timedelta(days=10))
            for n in range(3, 9)
        ],
        fetched_at=T0,
    )
    await matches.save(old[0].id, Match(actors=("lavrov",), score=1.0))

    def guids(hits: list[SearchHit]) -> set[str | None]:
        return {h.item.item.guid for h in hits}

    assert guids(await items.search("ceasefire")) == {"guid-8", "guid-7"}
    assert guids(await items.search("ceasefire", source="wire b")) == {"guid-1", "guid-2"}
    assert guids(await items.search("ceasefire", source="Feed 2")) == {"guid-1", "guid-2"}
    assert guids(await items.search("ceasefire", actor="lavrov")) == {"guid-1"}
    assert guids(await items.search("ceasefire", since=T0 - timedelta(days=1))) == {"guid-1", "guid-2"}


async def test_since_finds_every_item_published_since_whatever_order_they_were_stored_in(
    db: Database, feed: FeedState
) -> None:
    # 3,100 items (four blocks of 1,024 ids) stored in time order, with stragglers: items published long
    # after the items stored around them, and a backlog of old items stored late.
    published = [T0 - timedelta(days=60) + timedelta(minutes=27 * n) for n in range(3100)]
    published[100] = T0 - timedelta(days=8)
    published[1500] = T0 - timedelta(days=5)
    published[3090] = T0 - timedelta(hours=2)
    for n in range(3000, 3006):
        published[n] = T0 - timedelta(days=70 + n - 3000)
    stragglers = {100, 1500, 3090, *range(3000, 3006)}
    batch = [
        make_item(
            n,
            title=("Summit talks" if n % 3 == 0 or n in stragglers else "Market report") + f" {n}",
            published=published[n],
        )
        for n in range(3100)
    ]
    items = ItemRepository(db, search_candidates=10_000)
    stored: list[int] = []
    for start in range(0, len(batch), 500):
        stored += [s.id for s in await items.add_items(feed.id, batch[start : start + 500], fetched_at=T0)]
    # Retention leaves block maxima too high, which must not hide anything either.
    await items.delete_older_than(T0 - timedelta(days=72))
    alive = {int(row["id"]) for row in await db.fetch_all("SELECT id FROM items")}
    for days, skipped_blocks in ((0.5, 3), (5.5, 1), (10, 0), (30, 0), (61, 0), (100, 0)):
        since = T0 - timedelta(days=days)
        first_block = await db.fetch_value(
            "SELECT min(block) FROM item_id_blocks WHERE max_published >= ?", (encode_time(since),)
        )
        assert first_block == skipped_blocks, days
        expected = {
            stored[n]
            for n in range(3100)
            if batch[n].title.startswith("Summit") and published[n] >= since and stored[n] in alive
        }
        found = [h.item.id for h in await items.search("summit", since=since, limit=10_000)]
        assert len(found) == len(set(found))
        assert set(found) == expected, days
    assert [h.item.id for h in await items.search("summit", since=T0 - timedelta(days=0.5))] == [stored[3090]]
    assert await items.search("summit", since=T0 + timedelta(days=1)) == []


async def test_id_blocks_keep_the_latest_publication_time(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    batch = [make_item(n, published=T0 - timedelta(hours=2500 - n)) for n in range(2500)]
    batch[5] = make_item(5, published=T0 + timedelta(days=3))  # future-dated, stored early
    await items.add_items(feed.id, batch, fetched_at=T0)
    blocks = await db.fetch_all("SELECT block, max_published FROM item_id_blocks ORDER BY block")
    expected = await db.fetch_all("SELECT id >> 10, max(published) FROM items GROUP BY id >> 10 ORDER BY 1")
    assert [tuple(row) for row in blocks] == [tuple(row) for row in expected]
    assert blocks[0]["max_published"] == encode_time(T0 + timedelta(days=3))


async def test_upgrading_an_older_database_indexes_its_stored_items(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in load_migrations()[:5]:
        conn.executescript(migration.sql)
        conn.execute(f"PRAGMA user_version = {migration.version}")
    conn.execute(
        "INSERT INTO feeds (id, url, name, interval_s, origin, created_at) "
        "VALUES (1, 'https://old.example/rss', 'Old feed', 300, 'config', 0)"
    )
    for n in range(1, 6):
        conn.execute(
            "INSERT INTO items (feed_id, identity, guid, title, summary, published, published_estimated, "
            "content_hash, fetched_at) VALUES (1, ?, ?, ?, '', ?, 0, ?, ?)",
            (
                f"guid:g{n}",
                f"g{n}",
                f"Summit {n}",
                encode_time(T0 - timedelta(days=n)),
                f"h{n}",
                encode_time(T0),
            ),
        )
    conn.close()
    async with await open_database(path) as db:
        hits = await ItemRepository(db).search("summit", since=T0 - timedelta(days=2, hours=1))
        assert [h.item.item.guid for h in hits] == ["g1", "g2"]
        assert await db.fetch_value("SELECT max_published FROM item_id_blocks") == encode_time(
            T0 - timedelta(days=1)
        )


async def test_scores_are_the_same_with_or_without_sqlite_math_functions(
    db: Database, feed: FeedState
) -> None:
    items = ItemRepository(db)
    await items.add_items(
        feed.id,
        [
            make_item(1, title="Summit summit", published=T0 - timedelta(days=20)),
            make_item(2, title="Summit", summary="Summit again."),
            make_item(3, title="Report", summary="Summit."),
        ],
        fetched_at=T0,
    )
    half_life_s = 7 * 86400.0
    sql = (
        "WITH candidates AS (SELECT bm25(items_fts, 4.0, 1.0, 0.5) AS relevance, "
        "items.published AS published FROM items_fts JOIN items ON items.id = items_fts.rowid "
        "WHERE items_fts MATCH '\"summit\"') "
        "SELECT {score} FROM candidates ORDER BY 1"
    )
    in_sql = [row[0] for row in await db.fetch_all(sql.format(score=SQL_SCORE), (half_life_s,))]
    in_python = [row[0] for row in await db.fetch_all(sql.format(score=PYTHON_SCORE), (half_life_s,))]
    assert len(in_sql) == 3
    assert in_sql == pytest.approx(in_python, abs=1e-9)
    assert sorted(h.score for h in await items.search("summit")) == pytest.approx(in_sql, abs=1e-9)


async def test_search_candidates_must_be_positive(db: Database) -> None:
    with pytest.raises(StorageError, match="search candidates"):
        ItemRepository(db, search_candidates=0)


async def test_a_long_page_keeps_rank_order_and_excerpts(db: Database, feed: FeedState) -> None:
    items = ItemRepository(db)
    await items.add_items(
        feed.id,
        [
            make_item(
                n,
                title=f"Negotiations round {n}" if n % 2 else f"Market report {n}",
                summary="Negotiators met again." if n % 3 == 0 else "Nothing new.",
                published=T0 - timedelta(hours=n % 97),
            )
            for n in range(1, 2001)
        ],
        fetched_at=T0,
    )
    hits = await items.search("negotiat*", limit=1000)
    assert len(hits) == 1000
    assert len({h.item.id for h in hits}) == 1000
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all("egotiat" in h.snippet for h in hits)
    rest = await items.search("negotiat*", limit=1000, offset=1000)
    expected = sum(1 for n in range(1, 2001) if n % 2 or n % 3 == 0)
    assert len(rest) == expected - 1000
    assert not {h.item.id for h in rest} & {h.item.id for h in hits}
