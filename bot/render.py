"""Stories → platform-neutral messages: alerts, digests, notes, and a plain-text rendering of any message.

Digest grouping rule: a story is listed once, under one of the channel's actors it names — the one with the
most stories in this digest (ties: the order the story names them); a story naming none of them goes under
its biggest topic the same way. Who acted is what readers scan a diplomatic digest for, and big groups soak up
multi-actor stories, so the digest has fewer, fuller sections and no repeats; each line still shows all of the
story's actors and topics. Sections come in the order of their best story; stories rank by score,
then recency (first seen, newest first).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.platforms.base import Highlight, Message, MessageSection, RenderedStory
from feeds.models import Span, Story, StorySource, Watchlist

SNIPPET_MAX_CHARS = 300
ELLIPSIS = "…"
WILDCARD = "*"
# How much text to keep before the first highlighted name when the snippet has to start mid-text.
_LEAD_CONTEXT_CHARS = 60
OTHER_SECTION = "Other"


@dataclass(frozen=True, slots=True, kw_only=True)
class Snippet:
    """A short excerpt of an item's text and the ranges in it that name tracked actors or topics."""

    text: str
    highlights: tuple[Highlight, ...] = ()


def render_alert(story: Story, *, item_snippet: str, spans: Sequence[Span], watchlist: Watchlist) -> Message:
    """An alert for one story; ``item_snippet`` is the alerting item's summary and ``spans`` index into it."""
    snippet = build_snippet(item_snippet, spans)
    rendered = _render_story(story, watchlist=watchlist, snippet=snippet)
    names = (*rendered.actors, *rendered.topics)
    heading = f"Alert: {', '.join(names)}" if names else "Alert"
    return Message(kind="alert", heading=heading, sections=(MessageSection(heading="", stories=(rendered,)),))


def render_digest(
    stories: Sequence[Story],
    *,
    period_start: datetime,
    period_end: datetime,
    timezone: str,
    watchlist: Watchlist,
    channel_actors: Sequence[str],
    channel_topics: Sequence[str],
    max_stories: int = 50,
) -> Message | None:
    """A digest of ``stories`` grouped by actor and topic (see module docstring); None when there are none."""
    if not stories:
        return None
    ranked = sorted(stories, key=_rank_key)
    shown = ranked[:max_stories]
    groups = _group_stories(shown, channel_actors=channel_actors, channel_topics=channel_topics)
    sections = tuple(
        MessageSection(
            heading=_group_heading(group, watchlist),
            stories=tuple(_render_story(s, watchlist=watchlist, snippet=Snippet(text="")) for s in members),
        )
        for group, members in groups
    )
    count = len(ranked)
    noun = "story" if count == 1 else "stories"
    heading = f"Digest: {count} {noun}, {_period_text(period_start, period_end, timezone)}"
    hidden = count - len(shown)
    note = f"{hidden} more {'story' if hidden == 1 else 'stories'} not shown." if hidden else ""
    return Message(kind="digest", heading=heading, sections=sections, note=note)


def render_empty_digest_note(*, period_start: datetime, period_end: datetime, timezone: str) -> Message:
    """The note a channel with ``empty_digest = "note"`` gets when a digest period had no stories."""
    return Message(
        kind="note",
        heading=f"Digest: {_period_text(period_start, period_end, timezone)}",
        note="No tracked stories in this period.",
    )


def build_snippet(text: str, spans: Sequence[Span], *, max_chars: int = SNIPPET_MAX_CHARS) -> Snippet:
    """At most ``max_chars`` of ``text`` (whitespace collapsed, cut at word boundaries, ``…`` marking cuts).

    Summary spans become highlights re-based into the snippet; a span the cut would split is left out.
    When the first highlight lies beyond the limit the snippet starts shortly before it.
    """
    clean, origin = _collapse_whitespace(text)
    highlights = _map_spans(spans, origin, len(text))
    if len(clean) <= max_chars:
        return Snippet(text=clean, highlights=highlights)

    start = _window_start(clean, highlights, max_chars)
    prefix = ELLIPSIS if start > 0 else ""
    if len(clean) - start <= max_chars - len(prefix):
        body, suffix = clean[start:], ""
    else:
        budget = max_chars - len(prefix) - len(ELLIPSIS)
        body, suffix = clean[start : _window_end(clean, start, start + budget, highlights)].rstrip(), ELLIPSIS
    snippet_text = prefix + body + suffix
    shift = len(prefix) - start
    kept = tuple(
        Highlight(start=h.start + shift, end=h.end + shift)
        for h in highlights
        if h.start >= start and h.end <= start + len(body)
    )
    return Snippet(text=snippet_text, highlights=kept)


def message_to_text(message: Message, *, timezone: str = "UTC") -> str:
    """Plain text for a terminal or log: highlights are marked with ``*``, times shown in ``timezone``."""
    zone = ZoneInfo(timezone)
    lines = [message.heading, "=" * min(len(message.heading), 72)]
    for section in message.sections:
        if section.heading:
            lines += ["", f"## {section.heading}"]
        for story in section.stories:
            lines.append("")
            lines += _story_lines(story, zone)
    if message.note:
        lines += ["", message.note]
    return "\n".join(lines) + "\n"


def lead_source(story: Story) -> StorySource | None:
    """The earliest report of a story (the one an alert names), or None for a story without sources."""
    if not story.sources:
        return None
    return min(story.sources, key=lambda s: s.published)


def _story_lines(story: RenderedStory, zone: ZoneInfo) -> list[str]:
    lines = [f"• {story.title}"]
    when = story.published.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    lines.append(f"  {story.source} · {when}" if story.source else f"  {when}")
    about = [", ".join(names) for names in (story.actors, story.topics) if names]
    if about:
        lines.append(f"  About: {' · '.join(about)}")
    if story.snippet:
        lines.append(f"  {_mark_highlights(story.snippet, story.highlights)}")
    if story.url:
        lines.append(f"  {story.url}")
    if story.also_reported_by:
        lines.append(f"  Also reported by: {', '.join(story.also_reported_by)}")
    return lines


def _mark_highlights(text: str, highlights: Sequence[Highlight]) -> str:
    out: list[str] = []
    position = 0
    for h in sorted(highlights, key=lambda h: h.start):
        out += [text[position:h.start], "*", text[h.start:h.end], "*"]
        position = h.end
    out.append(text[position:])
    return "".join(out)


def _render_story(story: Story, *, watchlist: Watchlist, snippet: Snippet) -> RenderedStory:
    lead = lead_source(story)
    ordered = sorted(story.sources, key=lambda s: s.published)
    lead_name = lead.source if lead else ""
    others: list[str] = []
    for source in ordered:
        if source.source and source.source != lead_name and source.source not in others:
            others.append(source.source)
    return RenderedStory(
        title=story.title,
        url=lead.url if lead else None,
        source=lead_name,
        published=lead.published if lead else story.first_seen,
        snippet=snippet.text,
        highlights=snippet.highlights,
        actors=tuple(_actor_name(a, watchlist) for a in story.actors),
        topics=tuple(_topic_name(t, watchlist) for t in story.topics),
        topic_ids=story.topics,
        also_reported_by=tuple(others),
        score=story.score,
    )


def _actor_name(actor_id: str, watchlist: Watchlist) -> str:
    actor = watchlist.actor(actor_id)
    return actor.name if actor else actor_id


def _topic_name(topic_id: str, watchlist: Watchlist) -> str:
    topic = watchlist.topic(topic_id)
    return topic.name if topic else topic_id


def _rank_key(story: Story) -> tuple[float, float, int]:
    return (-story.score, -story.first_seen.timestamp(), story.id)


_Group = tuple[str, str]  # ("actor" | "topic" | "other", id)


def _group_stories(
    ranked: Sequence[Story], *, channel_actors: Sequence[str], channel_topics: Sequence[str]
) -> list[tuple[_Group, list[Story]]]:
    def candidates(story: Story) -> list[_Group]:
        actors = [("actor", a) for a in story.actors if WILDCARD in channel_actors or a in channel_actors]
        topics = [("topic", t) for t in story.topics if WILDCARD in channel_topics or t in channel_topics]
        return actors + topics

    sizes: dict[_Group, int] = {}
    for story in ranked:
        for group in candidates(story):
            sizes[group] = sizes.get(group, 0) + 1

    members: dict[_Group, list[Story]] = {}  # insertion order = order of each group's best story
    for story in ranked:
        options = candidates(story)
        # max() keeps the first of equal keys, i.e. the story's own order breaks the last tie
        chosen = max(options, key=lambda g: (g[0] == "actor", sizes[g])) if options else ("other", "")
        members.setdefault(chosen, []).append(story)
    return list(members.items())


def _group_heading(group: _Group, watchlist: Watchlist) -> str:
    kind, group_id = group
    if kind == "actor":
        return _actor_name(group_id, watchlist)
    if kind == "topic":
        return _topic_name(group_id, watchlist)
    return OTHER_SECTION


def _period_text(start: datetime, end: datetime, timezone: str) -> str:
    zone = ZoneInfo(timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    return f"{local_start:%Y-%m-%d %H:%M} – {local_end:%Y-%m-%d %H:%M} ({timezone})"


def _collapse_whitespace(text: str) -> tuple[str, list[int]]:
    """``text`` with whitespace runs collapsed to one space, ends stripped; ``origin``: source indexes."""
    chars: list[str] = []
    origin: list[int] = []
    pending_space = -1
    for index, ch in enumerate(text):
        if ch.isspace():
            if pending_space < 0:
                pending_space = index
            continue
        if pending_space >= 0 and chars:
            chars.append(" ")
            origin.append(pending_space)
        pending_space = -1
        chars.append(ch)
        origin.append(index)
    return "".join(chars), origin


def _map_spans(spans: Sequence[Span], origin: list[int], source_length: int) -> tuple[Highlight, ...]:
    ranges: list[tuple[int, int]] = []
    for span in spans:
        if span.field != "summary" or not 0 <= span.start < span.end <= source_length:
            continue
        start, end = bisect_left(origin, span.start), bisect_left(origin, span.end)
        if start < end:
            ranges.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(Highlight(start=s, end=e) for s, e in merged)


def _window_start(clean: str, highlights: Sequence[Highlight], max_chars: int) -> int:
    if not highlights or highlights[0].end <= max_chars - len(ELLIPSIS):
        return 0
    first = highlights[0].start
    # Near the end of the text, start earlier so the snippet still uses its whole length.
    target = max(0, min(first - _LEAD_CONTEXT_CHARS, len(clean) - (max_chars - len(ELLIPSIS))))
    if target == 0:
        return 0
    if clean[target - 1] == " ":
        return target
    space = clean.find(" ", target, first)
    return first if space < 0 else space + 1


def _window_end(clean: str, start: int, limit: int, highlights: Sequence[Highlight]) -> int:
    if limit >= len(clean):
        return len(clean)
    end = limit
    if clean[end] != " " and clean[end - 1] != " ":
        space = clean.rfind(" ", start, end)
        if space > start:
            end = space
    for h in highlights:
        if h.start < end < h.end and h.start > start:
            end = h.start
    return end

