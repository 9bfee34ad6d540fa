"""``diplowatch classify``: JSON lines in, one JSON line out per item, in order (the evaluation contract)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from feeds.classify import compile_watchlist, explain_match, match_watchlist
from feeds.errors import DiplowatchError
from feeds.models import Item, Match, Watchlist
from feeds.normalize import (
    canonical_url,
    content_hash,
    html_to_text,
    item_identity,
    normalize_text,
    parse_date,
    published_or_fetch_time,
)
from feeds.stories import assign_stories

# Items without a date get this one, flagged as estimated, so output never depends on the wall clock.
_UNDATED = datetime(1970, 1, 1, tzinfo=UTC)


class InputLineError(DiplowatchError):
    """One input line is not a usable item."""


def item_from_json(obj: object) -> tuple[str | int, Item]:
    """The id and normalised Item of one decoded input object; InputLineError says what is wrong."""
    if not isinstance(obj, dict):
        raise InputLineError("expected a JSON object")
    raw_id = obj.get("id")
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
        raise InputLineError("'id' is missing or not a string")
    fields: dict[str, str] = {}
    for name in ("title", "summary", "link", "published", "source"):
        value = obj.get(name)
        if value is None:
            fields[name] = ""
        elif isinstance(value, str):
            fields[name] = value
        else:
            raise InputLineError(f"'{name}' must be a string")
    title = normalize_text(html_to_text(fields["title"]))
    summary = html_to_text(fields["summary"])
    if not title and not summary:
        raise InputLineError("'title' and 'summary' are both empty")
    published, estimated = published_or_fetch_time(
        parse_date(fields["published"]) if fields["published"] else None, fetched_at=_UNDATED
    )
    url = canonical_url(fields["link"]) if fields["link"] else None
    digest = content_hash(title, summary)
    item = Item(
        identity=item_identity(None, url, digest) if url else f"input:{raw_id}",
        guid=None,
        url=url,
        title=title,
        summary=summary,
        published=published,
        published_estimated=estimated or not fields["published"],
        content_hash=digest,
        source=fields["source"],
    )
    return raw_id, item


def classify_stream(
    lines: Iterable[str], out: TextIO, err: TextIO, watchlist: Watchlist, *, explain: bool = False
) -> int:
    """Classify every line as one batch; malformed lines are reported by number and skipped (exit 1)."""
    compiled = compile_watchlist(watchlist)
    ids: list[str | int] = []
    pairs: list[tuple[Item, Match]] = []
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item_id, item = item_from_json(json.loads(line))
        except json.JSONDecodeError as e:
            print(f"line {number}: not valid JSON: {e.msg} (column {e.colno})", file=err)
            bad += 1
            continue
        except InputLineError as e:
            print(f"line {number}: {e}", file=err)
            bad += 1
            continue
        ids.append(item_id)
        pairs.append((item, match_watchlist(item, compiled)))
    stories = assign_stories(pairs)
    for item_id, (item, match), story in zip(ids, pairs, stories, strict=True):
        record = {
            "id": item_id,
            "actors": sorted(match.actors),
            "topics": sorted(match.topics),
            "score": round(match.score, 4),
            "story": story,
        }
        print(json.dumps(record, ensure_ascii=False), file=out)
        if explain:
            for hit in explain_match(item, compiled):
                print(f"  # {hit.describe()}", file=out)
    return 1 if bad else 0
