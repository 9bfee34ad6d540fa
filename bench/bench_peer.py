"""peer: the same feed server and rounds through the ``reader`` library, as the ratio diplowatch/reader.

reader (lemon24/reader) is a mature feed library on requests + feedparser + SQLite; it does not classify or
group stories, so the comparison is generous to it. Its worker count is tuned on the quick size first.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.feedserver import FeedServerProcess
from bench.report import Figure, Section, at_least, progress
from bench.rounds import (
    CHANGED_FRACTION,
    ITEMS_PER_FEED,
    ROUNDS,
    PollRun,
    PollSpec,
    RoundResult,
    cpu_seconds,
    peak_rss_mb,
    round_figures,
    run_isolated,
)

WORKER_CHOICES = (1, 10, 20)
TUNE_FEEDS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerTrial:
    """reader's first round at one worker count."""

    workers: int
    feeds_per_min: float


def poll_with_reader(spec: PollSpec) -> PollRun:
    """Three rounds through ``reader.update_feeds_iter(scheduled=False, workers=…)``; runs in this process."""
    from reader import make_reader

    control = spec.control
    setup_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reader-bench-") as tmp:
        reader = make_reader(str(Path(tmp) / "reader.sqlite"))
        try:
            for url in spec.urls:
                reader.add_feed(url)
            setup_s = time.perf_counter() - setup_started
            rounds: list[RoundResult] = []
            for name in spec.rounds:
                if name == "changed":
                    control.advance(CHANGED_FRACTION)
                server_before = control.counters().cpu_s
                cpu_before, started = cpu_seconds(), time.perf_counter()
                polled = new_items = fetched = unchanged = failed = 0
                first_error: str | None = None
                # scheduled=False: reader otherwise skips feeds it updated within the last hour.
                for result in reader.update_feeds_iter(scheduled=False, workers=spec.workers):
                    polled += 1
                    value = result.value
                    if value is None:
                        unchanged += 1
                    elif isinstance(value, Exception):
                        failed += 1
                        first_error = first_error or str(value)
                    else:
                        fetched += 1
                        new_items += value.new
                        if value.new == 0:
                            unchanged += 1
                wall = time.perf_counter() - started
                cpu = cpu_seconds() - cpu_before
                rounds.append(
                    RoundResult(
                        round=name,
                        feeds=polled,
                        wall_s=wall,
                        cpu_s=cpu,
                        new_items=new_items,
                        fetched=fetched,
                        not_modified=unchanged,
                        failed=failed,
                        peak_rss_mb=peak_rss_mb(),
                        server_cpu_s=control.counters().cpu_s - server_before,
                        first_error=first_error,
                    )
                )
        finally:
            reader.close()
    return PollRun(
        client=f"reader(workers={spec.workers})",
        feeds=len(spec.urls),
        items_per_feed=spec.items_per_feed,
        setup_s=setup_s,
        rounds=tuple(rounds),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TuneSpec:
    """Worker counts to try, each on a fresh reader database, first round only."""

    poll: PollSpec
    workers: tuple[int, ...]


def tune_reader_workers(spec: TuneSpec) -> tuple[WorkerTrial, ...]:
    """reader's first-round feeds/min at each worker count (server reset before each)."""
    trials = []
    for workers in spec.workers:
        spec.poll.control.reset()
        result = poll_with_reader(dataclasses.replace(spec.poll, workers=workers, rounds=("first",)))
        trials.append(WorkerTrial(workers=workers, feeds_per_min=result.round("first").feeds_per_min))
    return tuple(trials)


def _diplowatch_run(spec: PollSpec) -> PollRun:
    # Imported here: the diplowatch client pulls in the whole poll path; the reader client needs none of it.
    from bench.bench_poll import poll_with_diplowatch

    return poll_with_diplowatch(spec)


def run(*, quick: bool, seed: int, runs: dict[int, PollRun]) -> Section:
    """The peer benchmark; reuses the poll benchmark's diplowatch run of the same size when there is one."""
    compare_feeds = 200 if quick else 1000
    # The quick run tunes on fewer feeds to stay short; the full run tunes on the quick size. Tuning polls
    # the first feeds of the comparison server.
    tune_feeds = 30 if quick else TUNE_FEEDS
    with FeedServerProcess(feeds=compare_feeds, items_per_feed=ITEMS_PER_FEED, seed=seed) as control:
        progress(f"peer: tuning reader workers {WORKER_CHOICES} on {tune_feeds} feeds")
        trials = run_isolated(
            tune_reader_workers,
            TuneSpec(
                poll=PollSpec(control=control, items_per_feed=ITEMS_PER_FEED, seed=seed, feeds=tune_feeds),
                workers=WORKER_CHOICES,
            ),
        )
        best = max(trials, key=lambda t: t.feeds_per_min)
        control.reset()
        spec = PollSpec(control=control, items_per_feed=ITEMS_PER_FEED, seed=seed, workers=best.workers)
        ours = runs.get(compare_feeds)
        if ours is None:
            progress(f"peer: diplowatch polling {compare_feeds} feeds")
            ours = run_isolated(_diplowatch_run, spec)
        control.reset()
        progress(f"peer: reader (workers={best.workers}) polling {compare_feeds} feeds")
        theirs = run_isolated(poll_with_reader, spec)
    figures: list[Figure] = [
        Figure(
            bench="peer",
            name="reader 1st round",
            value=t.feeds_per_min,
            unit="feeds/min",
            params=(("feeds", tune_feeds), ("workers", t.workers)),
        )
        for t in trials
    ]
    figures += round_figures("peer", theirs, targets=False)
    for name in ROUNDS:
        mine, other = ours.round(name), theirs.round(name)
        target = at_least(6, ">= 6x") if name == "first" else None
        figures.append(
            Figure(
                bench="peer",
                name="diplowatch/reader feeds/min",
                value=mine.feeds_per_min / other.feeds_per_min,
                unit="x",
                params=(("feeds", compare_feeds), ("round", name)),
                target=target,
                note=f"diplowatch {mine.feeds_per_min:,.0f} vs reader {other.feeds_per_min:,.0f} feeds/min",
            )
        )
        if other.cpu_s > 0 and mine.cpu_s > 0:
            figures.append(
                Figure(
                    bench="peer",
                    name="reader/diplowatch CPU s",
                    value=other.cpu_s / mine.cpu_s,
                    unit="x",
                    params=(("feeds", compare_feeds), ("round", name)),
                    note=f"diplowatch {mine.cpu_s:.2f} vs reader {other.cpu_s:.2f} CPU s",
                )
            )
    return Section(
        title=f"peer: reader {reader_version()} on the same feeds and rounds (ratio diplowatch/reader)",
        figures=tuple(figures),
        notes=(
            f"reader.update_feeds_iter(scheduled=False, workers={best.workers}) (best of {WORKER_CHOICES} on "
            f"{tune_feeds} feeds); reader's defaults otherwise (its search index off until enabled). "
            "reader only stores entries: it neither classifies nor groups stories nor maintains a full-text "
            "index, so the ratio flatters it.",
            "Each client runs in its own process against a feed server in a third process (reset between "
            "clients, same seed, so both see the same bytes).",
        ),
    )


def reader_version() -> str:
    """The installed reader version."""
    from importlib.metadata import version

    return version("reader")
