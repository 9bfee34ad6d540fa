"""Per-item matches: round trip, replacement, absence."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.errors import StorageError
from feeds.models import FeedState, Match, Span
from storage.db import Database
from storage.items import ItemRepository
from storage.matches import MatchRepository, _spans, spans_json
from tests.storage.samples import T0, make_item


async def test_match_round_trip_and_replace(db: Database, feed: FeedState) -> None:
    [stored] = await ItemRepository(db).add_items(feed.id, [make_item(1)], fetched_at=T0)
    repo = MatchRepository(db)
    assert await repo.for_item(stored.id) == Match()

    match = Match(
        actors=("un", "lavrov"),
        topics=("sanctions",),
        score=3.25,
        spans=(
            Span(field="title", start=0, end=6, target="lavrov", phrase="Лавров"),
            Span(field="summary", start=10, end=17, target="sanctions", phrase="санкции"),
            Span(field="title", start=20, end=22, target="un", phrase="UN"),
        ),
    )
    await repo.save(stored.id, match)
    assert await repo.for_item(stored.id) == match

    smaller = Match(topics=("ceasefire",), score=0.5)
    await repo.save(stored.id, smaller)
    assert await repo.for_item(stored.id) == smaller

    await repo.save(stored.id, Match())
    assert await repo.for_item(stored.id) == Match()


async def test_match_for_unknown_item_raises(db: Database) -> None:
    with pytest.raises(StorageError, match="no item with id 9"):
        await MatchRepository(db).save(9, Match(actors=("un",)))


async def test_save_many_equals_saving_one_by_one(db: Database, feed: FeedState) -> None:
    stored = await ItemRepository(db).add_items(feed.id, [make_item(n) for n in range(3)], fetched_at=T0)
    repo = MatchRepository(db)
    await repo.save(stored[0].id, Match(actors=("putin",), score=9.0))
    batch = [
        (stored[0].id, Match(topics=("ceasefire",), score=0.5)),  # replaces what was there
        (
            stored[1].id,
            Match(
                actors=("un", "lavrov", "un"),
                topics=("sanctions",),
                score=2.0,
                spans=(Span(field="title", start=0, end=2, target="un", phrase="UN"),),
            ),
        ),
        (stored[2].id, Match()),
    ]
    await repo.save_many(batch)
    await repo.save_many([])
    assert [await repo.for_item(i) for i, _ in batch] == [
        Match(topics=("ceasefire",), score=0.5),
        Match(
            actors=("un", "lavrov"),
            topics=("sanctions",),
            score=2.0,
            spans=(Span(field="title", start=0, end=2, target="un", phrase="UN"),),
        ),
        Match(),
    ]
    with pytest.raises(StorageError, match="not stored"):
        await repo.save_many([(404, Match(score=1.0))])
    with pytest.raises(StorageError, match="same item twice"):
        await repo.save_many([batch[2], batch[2]])


spans = st.builds(
    Span,
    field=st.sampled_from(["title", "summary"]),
    start=st.integers(min_value=0, max_value=10**6),
    end=st.integers(min_value=0, max_value=10**6),
    target=st.text(),
    phrase=st.text(),
)


@given(st.lists(spans, max_size=5).map(tuple))
def test_spans_are_stored_as_arrays_and_read_back(written: tuple[Span, ...]) -> None:
    text = spans_json(written)
    assert json.loads(text) == [[s.field, s.start, s.end, s.target, s.phrase] for s in written]
    assert _spans(text, 1) == written
    # Rows written before the arrays hold one object per span, as json.dumps wrote them: they read the same.
    before = json.dumps([s._asdict() for s in written], ensure_ascii=False)
    assert _spans(before, 1) == written


async def test_spans_stored_as_objects_still_read_back(db: Database, feed: FeedState) -> None:
    [stored] = await ItemRepository(db).add_items(feed.id, [make_item(1)], fetched_at=T0)
    old = '[{"field": "title", "start": 0, "end": 2, "target": "un", "phrase": "UN"}]'
    await db.execute(
        "INSERT INTO match_results (item_id, score, spans) VALUES (?, ?, ?)", (stored.id, 0.5, old)
    )
    match = await MatchRepository(db).for_item(stored.id)
    assert match.spans == (Span(field="title", start=0, end=2, target="un", phrase="UN"),)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{}", "not an array"),
        ('[["body", 0, 1, "un", "UN"]]', "unknown field 'body'"),
        ('[["title", 0, 1, "un"]]', "not a span"),
        ('[["title", "0", 1, "un", "UN"]]', "not whole numbers"),
        ('[{"field": "title"}]', "unreadable"),
        ("[", "unreadable"),
    ],
)
def test_unreadable_spans_name_the_item(text: str, reason: str) -> None:
    with pytest.raises(StorageError, match=f"item 7 are unreadable: .*{reason}|{reason}"):
        _spans(text, 7)
