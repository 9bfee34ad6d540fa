"""Config watchlist files seed the database once; later edits to the files are applied as a diff."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime

from feeds.models import Actor, Topic, Watchlist
from feeds.watchlist_file import dump_watchlist, parse_watchlist
from storage.watchlists import WatchlistRepository


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchlistDiff:
    """What changed between two watchlists, by id."""

    added_actors: tuple[Actor, ...] = ()
    changed_actors: tuple[Actor, ...] = ()
    removed_actors: tuple[str, ...] = ()
    added_topics: tuple[Topic, ...] = ()
    changed_topics: tuple[Topic, ...] = ()
    removed_topics: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing changed."""
        return not (
            self.added_actors
            or self.changed_actors
            or self.removed_actors
            or self.added_topics
            or self.changed_topics
            or self.removed_topics
        )

    def describe(self) -> list[str]:
        """One line per change, for logs and previews."""
        lines = [f"actor added: {a.id}" for a in self.added_actors]
        lines += [f"actor changed: {a.id}" for a in self.changed_actors]
        lines += [f"actor removed: {i}" for i in self.removed_actors]
        lines += [f"topic added: {t.id}" for t in self.added_topics]
        lines += [f"topic changed: {t.id}" for t in self.changed_topics]
        lines += [f"topic removed: {i}" for i in self.removed_topics]
        return lines


def diff_watchlists(old: Watchlist, new: Watchlist) -> WatchlistDiff:
    """The changes that turn ``old`` into ``new``."""
    old_actors = {a.id: a for a in old.actors}
    new_actors = {a.id: a for a in new.actors}
    old_topics = {t.id: t for t in old.topics}
    new_topics = {t.id: t for t in new.topics}
    return WatchlistDiff(
        added_actors=tuple(a for i, a in new_actors.items() if i not in old_actors),
        changed_actors=tuple(a for i, a in new_actors.items() if i in old_actors and old_actors[i] != a),
        removed_actors=tuple(i for i in old_actors if i not in new_actors),
        added_topics=tuple(t for i, t in new_topics.items() if i not in old_topics),
        changed_topics=tuple(t for i, t in new_topics.items() if i in old_topics and old_topics[i] != t),
        removed_topics=tuple(i for i in old_topics if i not in new_topics),
    )


def apply_diff(current: Watchlist, diff: WatchlistDiff) -> Watchlist:
    """``current`` with ``diff`` applied; edits made from chat to other entries are kept."""
    replaced_actors = {a.id: a for a in (*diff.changed_actors, *diff.added_actors)}
    replaced_topics = {t.id: t for t in (*diff.changed_topics, *diff.added_topics)}
    actors = [replaced_actors.pop(a.id, a) for a in current.actors if a.id not in diff.removed_actors]
    topics = [replaced_topics.pop(t.id, t) for t in current.topics if t.id not in diff.removed_topics]
    return Watchlist(actors=(*actors, *replaced_actors.values()), topics=(*topics, *replaced_topics.values()))


async def sync_config_watchlist(
    repo: WatchlistRepository, configured: Watchlist, *, now: datetime
) -> list[str]:
    """Seed the stored watchlist from config on first start, else apply the config files' own changes.

    Runs inside the caller's transaction. Returns the changes made, one line each, for the log.
    """
    snapshot_text = await repo.config_snapshot()
    if snapshot_text is None:
        current = await repo.load()
        if current.actors or current.topics:
            diff = diff_watchlists(Watchlist(), configured)
            await repo.replace(apply_diff(current, diff))
        else:
            await repo.replace(configured)
        await repo.save_config_snapshot(dump_watchlist(configured), now=now)
        n_a, n_t = len(configured.actors), len(configured.topics)
        return (
            [f"seeded from config: {n_a} actors, {n_t} topics"]
            if configured.actors or configured.topics
            else []
        )
    previous = parse_watchlist(tomllib.loads(snapshot_text), origin="stored config snapshot")
    diff = diff_watchlists(previous, configured)
    if diff.is_empty:
        return []
    await repo.replace(apply_diff(await repo.load(), diff))
    await repo.save_config_snapshot(dump_watchlist(configured), now=now)
    return diff.describe()
