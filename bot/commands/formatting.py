"""Small text forms shared by the command answers: times, ages, intervals, sparklines and story lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from feeds.models import Story

SPARK_CHARS: Final = "▁▂▃▄▅▆▇█"
MAX_TITLE_CHARS: Final = 160
MAX_SOURCES_SHOWN: Final = 3


def format_time(moment: datetime, timezone: str = "UTC") -> str:
    """``2024-05-01 14:00 Europe/Berlin`` (``UTC`` by default)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {timezone}"


def format_age(moment: datetime, now: datetime) -> str:
    """How long ago, coarsely: ``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def format_interval(seconds: int) -> str:
    """A poll interval: ``45 s``, ``10 min``, ``2 h``, ``1 d`` (exact units only, else the next smaller)."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def sparkline(counts: Sequence[int]) -> str:
    """One bar per count, ``▁`` for zero and ``█`` for the largest; all zero is a flat ``▁`` line."""
    peak = max(counts, default=0)
    if peak <= 0:
        return SPARK_CHARS[0] * len(counts)
    steps = len(SPARK_CHARS) - 1
    return "".join(
        SPARK_CHARS[0] if count <= 0 else SPARK_CHARS[max(1, round(count / peak * steps))] for count in counts
    )


def shorten(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    """``text`` on one line, cut with ``…`` beyond ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def story_line(story: Story) -> str:
    """``• title — Source A, Source B (+2) · 2024-05-01 · url``: one story on one line."""
    ordered = sorted(story.sources, key=lambda s: s.published)
    names = list(dict.fromkeys(s.source for s in ordered if s.source))
    shown = ", ".join(names[:MAX_SOURCES_SHOWN])
    if len(names) > MAX_SOURCES_SHOWN:
        shown += f" (+{len(names) - MAX_SOURCES_SHOWN})"
    lead = ordered[0] if ordered else None
    parts = [f"• {shorten(story.title)}"]
    if shown:
        parts.append(f" — {shown}")
    parts.append(f" · {story.first_seen:%Y-%m-%d}")
    if lead is not None and lead.url:
        parts.append(f" · {lead.url}")
    return "".join(parts)
