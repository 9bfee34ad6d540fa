"""Rendering stories into neutral messages: golden alert and digest, snippet cuts and highlight offsets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.platforms.base import Highlight, Message, MessageSection, RenderedStory
from bot.render import (
    SNIPPET_MAX_CHARS,
    build_snippet,
    lead_source,
    message_to_text,
    render_alert,
    render_digest,
    render_empty_digest_note,
)
from feeds.models import Actor, Span, Story, StorySource, Topic, Watchlist

T0 = datetime(2024, 3, 14, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
WATCHLIST = Watchlist(
    actors=(
        Actor(id="lavrov", name="Sergey Lavrov", kind="person"),
        Actor(id="iran", name="Iran", kind="state"),
        Actor(id="un", name="United Nations", kind="org"),
    ),
    topics=(Topic(id="sanctions", name="Sanctions"), Topic(id="nuclear", name="Nuclear talks")),
)
SUMMARY = (
    "Russian Foreign Minister  Sergey Lavrov met\nhis Iranian counterpart on Thursday to discuss sanctions."
)


def span(text: str, phrase: str, target: str, field: str = "summary") -> Span:
    start = text.index(phrase)
    return Span(field="summary" if field == "summary" else "title", start=start, end=start + len(phrase),
                target=target, phrase=phrase.casefold())


def story(
    story_id: int,
    *,
    actors: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
    score: float = 0.5,
    first_seen: datetime = T0,
    sources: tuple[StorySource, ...] | None = None,
) -> Story:
    return Story(
        id=story_id, key=f"key-{story_id}", title=f"Story {story_id}", first_seen=first_seen, actors=actors,
        topics=topics, score=score,
        sources=sources if sources is not None else (
            StorySource(source="TASS", title=f"Story {story_id}", url=f"https://tass.example/{story_id}",
                        published=first_seen),
        ),
    )


def highlighted(text: str, highlights: tuple[Highlight, ...]) -> list[str]:
    return [text[h.start : h.end] for h in highlights]


# --- alerts -------------------------------------------------------------------------------------------------


def test_alert_golden() -> None:
    alerted = Story(
        id=7, key="k7", title="Lavrov meets Iranian foreign minister", first_seen=T0,
        actors=("lavrov", "iran"), topics=("sanctions",), score=0.8,
        sources=(
            StorySource(source="Reuters", title="r", url="https://reuters.example/1", published=T0 + HOUR),
            StorySource(source="TASS", title="t", url="https://tass.example/1", published=T0),
            StorySource(source="AP", title="a", url=None, published=T0 + 2 * HOUR),
            StorySource(source="Reuters", title="r2", url="https://reuters.example/2", published=T0 + 3*HOUR),
        ),
    )
    spans = [
        span(SUMMARY, "Sergey Lavrov", "lavrov"),
        span(SUMMARY, "Iranian", "iran"),
        span(SUMMARY, "sanctions", "sanctions"),
        Span(field="title", start=0, end=6, target="lavrov", phrase="lavrov"),  # not in the snippet
    ]

    message = render_alert(alerted, item_snippet=SUMMARY, spans=spans, watchlist=WATCHLIST)

    snippet = (
        "Russian Foreign Minister Sergey Lavrov met his Iranian counterpart on Thursday to discuss sanctions."
    )
    assert message == Message(
        kind="alert",
        heading="Alert: Sergey Lavrov, Iran, Sanctions",
        sections=(MessageSection(heading="", stories=(RenderedStory(
            title="Lavrov meets Iranian foreign minister",
            url="https://tass.example/1",
            source="TASS",
            published=T0,
            snippet=snippet,
            highlights=(
                Highlight(start=25, end=38), Highlight(start=47, end=54), Highlight(start=90, end=99),
            ),
            actors=("Sergey Lavrov", "Iran"),
            topics=("Sanctions",),
            topic_ids=("sanctions",),
            also_reported_by=("Reuters", "AP"),
            score=0.8,
        ),)),),
    )
    found = highlighted(snippet, message.sections[0].stories[0].highlights)
    assert found == ["Sergey Lavrov", "Iranian", "sanctions"]
    assert message_to_text(message, timezone="Europe/Moscow") == (
        "Alert: Sergey Lavrov, Iran, Sanctions\n"
        "=====================================\n"
        "\n"
        "• Lavrov meets Iranian foreign minister\n"
        "  TASS · 2024-03-14 11:00 MSK\n"
        "  About: Sergey Lavrov, Iran · Sanctions\n"
        "  Russian Foreign Minister *Sergey Lavrov* met his *Iranian* counterpart on Thursday to discuss "
        "*sanctions*.\n"
        "  https://tass.example/1\n"
        "  Also reported by: Reuters, AP\n"
    )


def test_alert_without_sources_or_known_names_falls_back() -> None:
    bare = Story(id=1, key="k", title="Something", first_seen=T0, actors=("ghost",), topics=())
    message = render_alert(bare, item_snippet="", spans=(), watchlist=WATCHLIST)
    rendered = message.sections[0].stories[0]
    assert (rendered.source, rendered.url, rendered.published, rendered.snippet) == ("", None, T0, "")
    assert rendered.actors == ("ghost",)
    assert message.heading == "Alert: ghost"
    assert render_alert(
        Story(id=2, key="k2", title="x", first_seen=T0), item_snippet="", spans=(), watchlist=WATCHLIST
    ).heading == "Alert"


def test_lead_source_is_the_earliest_report() -> None:
    late = StorySource(source="B", title="b", url=None, published=T0 + timedelta(minutes=5))
    early = StorySource(source="A", title="a", url=None, published=T0)
    assert lead_source(story(1, sources=(late, early))) == early
    assert lead_source(story(1, sources=())) is None


# --- snippets -----------------------------------------------------------------------------------------------


def test_short_text_is_kept_whole_with_whitespace_collapsed() -> None:
    text = "  Lavrov\t\tvisits   Tehran \n"
    snippet = build_snippet(text, [span(text, "Lavrov", "lavrov"), span(text, "Tehran", "iran")])
    assert snippet.text == "Lavrov visits Tehran"
    assert highlighted(snippet.text, snippet.highlights) == ["Lavrov", "Tehran"]


def test_long_text_is_cut_at_a_word_boundary() -> None:
    text = "Lavrov said " + " ".join(f"word{i}" for i in range(200))
    snippet = build_snippet(text, [span(text, "Lavrov", "lavrov")])
    assert len(snippet.text) <= SNIPPET_MAX_CHARS
    assert snippet.text.endswith("…")
    last_word = snippet.text[:-1].split(" ")[-1]
    assert re.fullmatch(r"word\d+", last_word) and f" {last_word} " in text
    assert snippet.text.startswith("Lavrov said word0")
    assert highlighted(snippet.text, snippet.highlights) == ["Lavrov"]


def test_late_highlight_moves_the_window() -> None:
    text = " ".join(f"filler{i}" for i in range(100)) + " then Sergey Lavrov came to Geneva " + "tail " * 80
    snippet = build_snippet(text, [span(text, "Sergey Lavrov", "lavrov")])
    assert snippet.text.startswith("…filler")
    assert snippet.text.endswith("…")
    assert len(snippet.text) <= SNIPPET_MAX_CHARS
    assert highlighted(snippet.text, snippet.highlights) == ["Sergey Lavrov"]
    # The window starts on a whole word, about a sentence's worth before the name.
    first_word = snippet.text[1:].split(" ")[0]
    assert f" {first_word} " in text
    assert 30 <= snippet.highlights[0].start <= 70


def test_late_highlight_near_the_end_fills_the_snippet() -> None:
    text = "word " * 100 + "Sergey Lavrov said yes"
    snippet = build_snippet(text, [span(text, "Sergey Lavrov", "lavrov")])
    assert snippet.text.endswith("Sergey Lavrov said yes")
    assert SNIPPET_MAX_CHARS - 6 <= len(snippet.text) <= SNIPPET_MAX_CHARS
    assert highlighted(snippet.text, snippet.highlights) == ["Sergey Lavrov"]


def test_cut_never_splits_a_highlight() -> None:
    text = "Lavrov " + "a " * 137 + "United Nations Security Council " + "b " * 100
    spans = [span(text, "Lavrov", "lavrov"), span(text, "United Nations Security Council", "un")]
    snippet = build_snippet(text, spans)
    # The name straddles the limit: the cut moves before it rather than keep half a highlighted name.
    assert "United" not in snippet.text
    assert snippet.text.endswith(" a…")
    assert highlighted(snippet.text, snippet.highlights) == ["Lavrov"]


def test_invalid_and_overlapping_spans() -> None:
    text = "Sergey Lavrov spoke"
    spans = [
        Span(field="summary", start=0, end=13, target="lavrov", phrase="sergey lavrov"),
        Span(field="summary", start=7, end=13, target="lavrov", phrase="lavrov"),
        Span(field="summary", start=10, end=99, target="x", phrase="out of range"),
        Span(field="summary", start=5, end=5, target="x", phrase="empty"),
        Span(field="title", start=0, end=6, target="x", phrase="title"),
    ]
    snippet = build_snippet(text, spans)
    assert snippet.highlights == (Highlight(start=0, end=13),)


def test_unbreakable_text_is_cut_hard() -> None:
    snippet = build_snippet("x" * 1000, [])
    assert snippet.text == "x" * (SNIPPET_MAX_CHARS - 1) + "…"


words = st.sampled_from(["Lavrov", "UN", "talks", "the", "Geneva", "—", "a", "Россия", "\n", "  ", "\t"])


@given(parts=st.lists(words, min_size=0, max_size=300), picks=st.lists(st.integers(0, 299), max_size=6))
def test_snippet_properties(parts: list[str], picks: list[int]) -> None:
    text = " ".join(parts)
    spans: list[Span] = []
    offset = 0
    positions: list[tuple[int, int]] = []
    for part in parts:
        positions.append((offset, offset + len(part)))
        offset += len(part) + 1
    for pick in picks:
        if pick < len(parts) and parts[pick].strip():
            start, end = positions[pick]
            spans.append(Span(field="summary", start=start, end=end, target="t", phrase=parts[pick]))
    snippet = build_snippet(text, spans)
    assert len(snippet.text) <= SNIPPET_MAX_CHARS
    assert "  " not in snippet.text and snippet.text == snippet.text.strip()
    wanted = {text[s.start : s.end] for s in spans}
    found = highlighted(snippet.text, snippet.highlights)
    assert all(phrase in wanted for phrase in found)
    previous_end = -1
    for h in snippet.highlights:
        assert previous_end < h.start < h.end <= len(snippet.text)
        previous_end = h.end
    if len(" ".join(text.split())) <= SNIPPET_MAX_CHARS:
        assert snippet.text == " ".join(text.split())
        assert len(found) == len({(s.start, s.end) for s in spans})


# --- digests ------------------------------------------------------------------------------------------------


def test_digest_groups_each_story_once_under_its_biggest_group() -> None:
    stories = [
        story(1, actors=("lavrov",), topics=("sanctions",), score=0.9),
        story(2, actors=("iran", "lavrov"), topics=("nuclear",), score=0.7),  # lavrov group is bigger
        story(3, actors=("iran",), topics=("nuclear",), score=0.6, first_seen=T0 + timedelta(hours=2)),
        story(4, actors=("lavrov",), score=0.6, first_seen=T0 + timedelta(hours=1)),
        story(5, actors=(), topics=("nuclear",), score=0.95),  # no actor: under its topic
        story(6, actors=("un",), topics=("nuclear",), score=0.2),  # an actor beats a bigger topic
    ]
    message = render_digest(
        stories, period_start=T0 - timedelta(days=1), period_end=T0 + timedelta(hours=12), timezone="UTC",
        watchlist=WATCHLIST, channel_actors=("*",), channel_topics=("*",),
    )
    assert message is not None
    assert message.kind == "digest"
    assert message.heading == "Digest: 6 stories, 2024-03-13 08:00 – 2024-03-14 20:00 (UTC)"
    layout = [(s.heading, [r.title for r in s.stories]) for s in message.sections]
    assert layout == [
        ("Nuclear talks", ["Story 5"]),
        ("Sergey Lavrov", ["Story 1", "Story 2", "Story 4"]),
        ("Iran", ["Story 3"]),
        ("United Nations", ["Story 6"]),
    ]
    shown = [r.title for s in message.sections for r in s.stories]
    assert sorted(shown) == sorted(s.title for s in stories)
    story2 = message.sections[1].stories[1]
    assert story2.actors == ("Iran", "Sergey Lavrov") and story2.topics == ("Nuclear talks",)
    assert message.note == ""


def test_digest_ranks_by_score_then_recency() -> None:
    stories = [
        story(1, actors=("iran",), score=0.5, first_seen=T0),
        story(2, actors=("iran",), score=0.5, first_seen=T0 + timedelta(hours=3)),
        story(3, actors=("iran",), score=0.9, first_seen=T0 - timedelta(hours=3)),
    ]
    message = render_digest(
        stories, period_start=T0 - timedelta(days=1), period_end=T0 + timedelta(hours=4), timezone="UTC",
        watchlist=WATCHLIST, channel_actors=("iran",), channel_topics=("*",),
    )
    assert message is not None
    assert [r.title for r in message.sections[0].stories] == ["Story 3", "Story 2", "Story 1"]


def test_digest_groups_only_under_the_channels_own_filters() -> None:
    stories = [
        story(1, actors=("lavrov", "iran"), topics=("sanctions",)),
        story(2, actors=("lavrov",), topics=("sanctions",)),
        story(3, actors=("un",)),  # not wanted by this channel's filters: shown under "Other", never dropped
    ]
    message = render_digest(
        stories, period_start=T0, period_end=T0 + timedelta(days=1), timezone="Europe/Moscow",
        watchlist=WATCHLIST, channel_actors=("iran",), channel_topics=("sanctions",),
    )
    assert message is not None
    assert [(s.heading, [r.title for r in s.stories]) for s in message.sections] == [
        ("Iran", ["Story 1"]),
        ("Sanctions", ["Story 2"]),  # its only actor is not one of the channel's
        ("Other", ["Story 3"]),
    ]
    assert message.heading.endswith("2024-03-14 11:00 – 2024-03-15 11:00 (Europe/Moscow)")


def test_digest_lists_each_storys_sources() -> None:
    sources = (
        StorySource(source="TASS", title="t", url="https://tass.example/9", published=T0),
        StorySource(source="IRNA", title="i", url=None, published=T0 + timedelta(minutes=5)),
        StorySource(source="TASS", title="t2", url=None, published=T0 + timedelta(minutes=9)),
    )
    message = render_digest(
        [story(9, actors=("iran",), sources=sources)], period_start=T0, period_end=T0 + timedelta(days=1),
        timezone="UTC", watchlist=WATCHLIST, channel_actors=("*",), channel_topics=("*",),
    )
    assert message is not None
    rendered = message.sections[0].stories[0]
    assert (rendered.source, rendered.url) == ("TASS", "https://tass.example/9")
    assert rendered.also_reported_by == ("IRNA",)
    assert message.heading.startswith("Digest: 1 story,")


def test_digest_caps_its_length_and_says_so() -> None:
    stories = [story(i, actors=("iran",), score=i / 100) for i in range(1, 8)]
    message = render_digest(
        stories, period_start=T0, period_end=T0 + timedelta(days=1), timezone="UTC", watchlist=WATCHLIST,
        channel_actors=("*",), channel_topics=("*",), max_stories=5,
    )
    assert message is not None
    assert [r.title for r in message.sections[0].stories] == [f"Story {n}" for n in (7, 6, 5, 4, 3)]
    assert message.note == "2 more stories not shown."


def test_empty_digest_is_none_and_the_note_names_the_period() -> None:
    assert render_digest(
        [], period_start=T0, period_end=T0 + timedelta(days=1), timezone="UTC", watchlist=WATCHLIST,
        channel_actors=("*",), channel_topics=("*",),
    ) is None
    note = render_empty_digest_note(
        period_start=T0, period_end=T0 + timedelta(days=1), timezone="America/New_York"
    )
    assert note == Message(
        kind="note",
        heading="Digest: 2024-03-14 04:00 – 2024-03-15 04:00 (America/New_York)",
        note="No tracked stories in this period.",
    )
    assert message_to_text(note) == (
        "Digest: 2024-03-14 04:00 – 2024-03-15 04:00 (America/New_York)\n"
        + "=" * 62 + "\n\nNo tracked stories in this period.\n"
    )


def test_digest_text_shows_sections() -> None:
    message = render_digest(
        [story(1, actors=("iran",)), story(2, topics=("nuclear",))], period_start=T0,
        period_end=T0 + timedelta(days=1), timezone="UTC", watchlist=WATCHLIST, channel_actors=("*",),
        channel_topics=("*",),
    )
    assert message is not None
    text = message_to_text(message)
    assert (
        "\n## Iran\n\n• Story 1\n  TASS · 2024-03-14 08:00 UTC\n  About: Iran\n  https://tass.example/1\n"
    ) in text
    assert "\n## Nuclear talks\n\n• Story 2\n" in text
