"""APScheduler 3 jobs: poll due feeds, deliver the outbox, one digest job per channel, retention.

No two runs of one job overlap (``max_instances=1``), missed runs are coalesced into one, and a run
that misfires within the grace period still happens. Digest periods live in storage, so a restart
neither skips nor repeats a digest (see ``Dispatcher.catch_up_digests``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import ChannelConfig
from bot.delivery import digest_channels
from bot.poller import FeedPollResult
from bot.routing import cron_trigger, previous_digest_at
from bot.service import Service
from feeds.errors import DiplowatchError
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

POLL_TICK_S = 15
DELIVERY_TICK_S = 5
REPLAN_TICK_S = 60
JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 300}


async def build_scheduler(service: Service, *, out: TextIO) -> AsyncIOScheduler:
    """A scheduler for ``service``: the poll job wakes every few seconds and polls only due feeds."""
    scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    clock = service.clock

    async def poll_job() -> None:
        try:
            tally = await service.poll_and_dispatch()
        except DiplowatchError as e:
            log.error("poll failed: %s", e)
            return
        report_failures(tally.failures, out)

    async def delivery_job() -> None:
        try:
            await service.dispatcher.deliver(clock())
        except DiplowatchError as e:
            log.error("delivery failed: %s", e)

    async def retention_job() -> None:
        cutoff = clock() - timedelta(days=service.config.storage.retention_days)
        try:
            async with service.db.transaction():
                removed = await service.poller.items.delete_older_than(cutoff)
                removed_messages = await OutboxRepository(service.db).delete_older_than(cutoff)
        except DiplowatchError as e:
            log.error("retention failed: %s", e)
            return
        if removed or removed_messages:
            log.info(
                "retention: %d items and %d messages older than %s deleted",
                removed,
                removed_messages,
                cutoff.date(),
            )

    now = clock()
    scheduler.add_job(poll_job, IntervalTrigger(seconds=POLL_TICK_S), id="poll", next_run_time=now)
    scheduler.add_job(delivery_job, IntervalTrigger(seconds=DELIVERY_TICK_S), id="deliver")
    scheduler.add_job(retention_job, IntervalTrigger(hours=6), id="retention", next_run_time=now)
    await plan_digest_jobs(scheduler, service)

    async def replan_job() -> None:
        # Channels subscribed or changed from chat get their digest schedule without a restart.
        try:
            await plan_digest_jobs(scheduler, service)
        except DiplowatchError as e:
            log.error("digest planning failed: %s", e)

    scheduler.add_job(replan_job, IntervalTrigger(seconds=REPLAN_TICK_S), id="plan-digests")
    return scheduler


async def plan_digest_jobs(scheduler: AsyncIOScheduler, service: Service) -> None:
    """One digest job per subscribed digest channel, matching its current cron and timezone."""
    wanted = {
        f"digest:{c.platform}:{c.id}:{c.digest_cron}:{c.timezone}": c
        for c in digest_channels(await service.dispatcher.channels())
    }
    for job in scheduler.get_jobs():
        if job.id.startswith("digest:") and job.id not in wanted:
            job.remove()
    for job_id, channel in wanted.items():
        if scheduler.get_job(job_id) is None:
            scheduler.add_job(
                DigestJob(service, channel), cron_trigger(channel.digest_cron, channel.timezone), id=job_id
            )


class DigestJob:
    """Queues and sends one channel's digest when its cron fires."""

    def __init__(self, service: Service, channel: ChannelConfig) -> None:
        self._service = service
        self._channel = channel

    async def __call__(self) -> None:
        service = self._service
        now = service.clock()
        # The period ends at the firing this run stands for, even when it runs late within the grace time.
        fire = previous_digest_at(self._channel, now) or now
        try:
            await service.dispatcher.run_digest(
                self._channel, fire_time=fire, now=now, watchlist=service.poller.classifier.watchlist
            )
            await service.dispatcher.deliver(now)
        except DiplowatchError as e:
            log.error("digest for %s:%s failed: %s", self._channel.platform, self._channel.id, e)


def report_failures(failures: Sequence[FeedPollResult], out: TextIO) -> None:
    """Print a line for each feed that failed this round."""
    for result in failures:
        print(f"[poll] {result.describe()}", file=out)
