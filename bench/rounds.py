"""What the poll and peer benchmarks share: round results, isolated client processes, resource readings."""

from __future__ import annotations

import multiprocessing
import os
import resource
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from bench.feedserver import FeedServerControl
from bench.report import Figure, at_least, at_most

RoundName = Literal["first", "unchanged", "changed"]
ROUNDS: tuple[RoundName, ...] = ("first", "unchanged", "changed")
CHANGED_FRACTION = 0.1
ITEMS_PER_FEED = 50
FEED_INTERVAL_S = 900
FETCH_CONCURRENCY = 50  # the config default (fetch.concurrency)

T = TypeVar("T")
A = TypeVar("A")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundResult:
    """One poll round as a client saw it."""

    round: RoundName
    feeds: int
    wall_s: float
    cpu_s: float
    new_items: int
    fetched: int  # feeds answered with a body
    not_modified: int  # feeds answered 304 (or otherwise unchanged)
    failed: int
    peak_rss_mb: float  # the client process's high-water mark so far
    server_cpu_s: float
    worker_cpu_s: float | None = None  # the part of cpu_s spent in parse worker processes, when known
    worker_peak_rss_mb: float | None = None  # the part of peak_rss_mb that is parse worker processes
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    first_error: str | None = None

    @property
    def feeds_per_min(self) -> float:
        return self.feeds / self.wall_s * 60 if self.wall_s > 0 else 0.0

    @property
    def items_per_s(self) -> float:
        return self.new_items / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PollRun:
    """Three rounds of one client over one feed population."""

    client: str
    feeds: int
    items_per_feed: int
    setup_s: float
    rounds: tuple[RoundResult, ...]

    def round(self, name: RoundName) -> RoundResult:
        """The result of round ``name``."""
        return next(r for r in self.rounds if r.round == name)


@dataclass(frozen=True, slots=True, kw_only=True)
class PollSpec:
    """What a client process needs: the server to poll, how many feeds, the seed for its own randomness."""

    control: FeedServerControl
    items_per_feed: int
    seed: int
    workers: int = 1  # reader only
    rounds: tuple[RoundName, ...] = ROUNDS
    feeds: int | None = None  # poll only the first this many of the server's feeds (default: all)

    @property
    def urls(self) -> list[str]:
        """The feed URLs this client polls."""
        count = self.control.feeds if self.feeds is None else min(self.feeds, self.control.feeds)
        return [self.control.url(i) for i in range(count)]


def run_isolated(function: Callable[[A], T], argument: A) -> T:
    """Run ``function(argument)`` in a fresh spawned process (own CPU and RSS accounting); its result."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, argument).result()


def _cpu_note(r: RoundResult) -> str:
    split = ""
    if r.worker_cpu_s is not None:
        split = f"main process {r.cpu_s - r.worker_cpu_s:.2f} CPU s, parse workers {r.worker_cpu_s:.2f}; "
    return f"{split}wall {r.wall_s:.2f} s; server process used {r.server_cpu_s:.2f} CPU s (not counted)"


def cpu_seconds(workers: Iterable[int] = (), *, own: bool = True) -> float:
    """User + system CPU of this process (all threads, unless ``own`` is false) plus its live ``workers``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime if own else 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in workers:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def peak_rss_mb(workers: Iterable[int] = (), *, own: bool = True) -> float:
    """Peak resident set of this process (unless ``own`` is false) plus its live worker processes (each
    one's high-water mark)."""
    total_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if own else 0
    for pid in workers:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def round_figures(bench: str, run: PollRun, *, targets: bool) -> list[Figure]:
    """feeds/min, items/s, CPU s, peak RSS and commit latency of each round of ``run``."""
    figures: list[Figure] = []
    for r in run.rounds:
        params = (("client", run.client), ("feeds", run.feeds), ("round", r.round))
        health = f"{r.fetched} fetched, {r.not_modified} unchanged, {r.failed} failed"
        if r.first_error:
            health += f" (first error: {r.first_error})"
        feeds_target = None
        if targets and r.round == "first" and run.feeds == 1000:
            feeds_target = at_least(10_000, ">= 10,000 feeds/min")
        elif targets and r.round == "unchanged":
            feeds_target = at_least(50_000, ">= 50,000 feeds/min")
        figures.append(
            Figure(
                bench=bench,
                name="feeds/min",
                value=r.feeds_per_min,
                unit="feeds/min",
                params=params,
                target=feeds_target,
                note=health,
            )
        )
        figures.append(
            Figure(bench=bench, name="items/s", value=r.items_per_s, unit="new items/s", params=params)
        )
        figures.append(
            Figure(
                bench=bench,
                name="cpu",
                value=r.cpu_s,
                unit="CPU s (client)",
                params=params,
                note=_cpu_note(r),
            )
        )
        rss_target = at_most(200, "<= 200 MB") if targets and run.feeds >= 10_000 else None
        figures.append(
            Figure(
                bench=bench,
                name="peak RSS",
                value=r.peak_rss_mb,
                unit="MB",
                params=params,
                target=rss_target,
                note=""
                if r.worker_peak_rss_mb is None
                else f"main process {r.peak_rss_mb - r.worker_peak_rss_mb:,.0f} MB + parse workers "
                f"{r.worker_peak_rss_mb:,.0f} MB",
            )
        )
        # Only the diplowatch client is instrumented for this; a 304 round stores nothing.
        if r.round != "unchanged" and r.latency_p50_ms is not None:
            figures.append(
                Figure(
                    bench=bench,
                    name="received→committed p50",
                    value=r.latency_p50_ms,
                    unit="ms",
                    params=params,
                )
            )
            figures.append(
                Figure(
                    bench=bench,
                    name="received→committed p95",
                    value=r.latency_p95_ms,
                    unit="ms",
                    params=params,
                )
            )
    return figures
