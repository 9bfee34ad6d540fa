"""APScheduler 3 jobs: poll due feeds, retention; no two runs of one job overlap."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.poller import FeedPollResult
from bot.service import Service
from feeds.errors import DiplowatchError

log = logging.getLogger(__name__)

POLL_TICK_S = 15
JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 300}


def build_scheduler(service: Service, *, out: TextIO, clock: Callable[[], datetime]) -> AsyncIOScheduler:
    """A scheduler whose poll job wakes every few seconds and polls only the feeds that are due."""
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")

    async def poll_job() -> None:
        try:
            results = await service.poller.poll_due()
        except DiplowatchError as e:
            log.error("poll failed: %s", e)
            return
        report_new_items(results, out)

    async def retention_job() -> None:
        cutoff = clock() - timedelta(days=service.config.storage.retention_days)
        try:
            async with service.db.transaction():
                removed = await service.poller.items.delete_older_than(cutoff)
        except DiplowatchError as e:
            log.error("retention failed: %s", e)
            return
        if removed:
            log.info("retention: %d items older than %s deleted", removed, cutoff.date())

    scheduler.add_job(poll_job, IntervalTrigger(seconds=POLL_TICK_S), id="poll", next_run_time=clock())
    scheduler.add_job(retention_job, IntervalTrigger(hours=6), id="retention", next_run_time=clock())
    return scheduler


def report_new_items(results: list[FeedPollResult], out: TextIO) -> None:
    """Print each new item that matched the watchlist (the console delivery of `run`)."""
    for result in results:
        if result.status == "failed":
            print(f"[poll] {result.describe()}", file=out)
        for new in result.new_items:
            if new.match.is_empty:
                continue
            item = new.stored.item
            tags = ", ".join((*new.match.actors, *new.match.topics))
            print(f"[{item.source}] {item.title} ({tags}) {item.url or ''}", file=out)
