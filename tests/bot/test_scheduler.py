"""Scheduling: digest jobs follow stored subscriptions; chat subscriptions get alerts without a restart."""

from __future__ import annotations

import io
from pathlib import Path

from bot.commands import CommandContext
from bot.scheduler import JOB_DEFAULTS, build_scheduler, plan_digest_jobs
from bot.service import open_service
from tests.bot.conftest import Clock, make_config
from tests.bot.test_end_to_end import SLACK_CHANNEL, TALKS, serve_history
from tests.fakes.feed_server import FeedServer
from tests.fakes.rss import rss_document
from tests.fakes.slack_api import FakeSlackApi

OTHER_CHANNEL = "C0999999999"


async def test_digest_jobs_follow_subscriptions(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    serve_history(feed_server)
    async with FakeSlackApi() as slack:
        config = make_config(
            tmp_path,
            {"A": feed_server.url("/a.xml")},
            channels=[
                {
                    "platform": "slack",
                    "id": SLACK_CHANNEL,
                    "mode": "both",
                    "digest_cron": "0 8 * * 1-5",
                    "timezone": "Europe/Moscow",
                }
            ],
            slack_api=slack.base_url,
            environ={"SLACK_BOT_TOKEN": slack.token},
        )
        async with await open_service(config, clock=clock) as service:
            scheduler = await build_scheduler(service, out=io.StringIO())
            ids = {job.id for job in scheduler.get_jobs()}
            assert {"poll", "deliver", "retention", "plan-digests"} <= ids
            assert f"digest:slack:{SLACK_CHANNEL}:0 8 * * 1-5:Europe/Moscow" in ids
            assert JOB_DEFAULTS["max_instances"] == 1 and JOB_DEFAULTS["coalesce"] is True
            # A channel subscribed from chat gets a digest job at the next planning, no restart.
            assert service.commands is not None
            admin = CommandContext(platform="slack", channel_id=OTHER_CHANNEL, user_id="U1", is_admin=True)
            reply = await service.commands.run_text(admin, 'subscribe mode:digest digest_cron:"0 9 * * *"')
            assert reply.kind == "result", reply.to_text()
            await plan_digest_jobs(scheduler, service)
            ids = {job.id for job in scheduler.get_jobs()}
            assert f"digest:slack:{OTHER_CHANNEL}:0 9 * * *:UTC" in ids


async def test_channel_subscribed_from_chat_gets_alerts(
    tmp_path: Path, feed_server: FeedServer, clock: Clock
) -> None:
    serve_history(feed_server)
    async with FakeSlackApi() as slack:
        config = make_config(
            tmp_path,
            {"A": feed_server.url("/a.xml")},
            slack_api=slack.base_url,
            environ={"SLACK_BOT_TOKEN": slack.token},
        )
        async with await open_service(config, clock=clock) as service:
            await service.start_platforms()
            await service.poll_and_dispatch()
            assert service.commands is not None
            admin = CommandContext(platform="slack", channel_id=OTHER_CHANNEL, user_id="U1", is_admin=True)
            reply = await service.commands.run_text(admin, "subscribe actors:putin mode:alert")
            assert reply.kind == "result", reply.to_text()
            feed_server.serve("/a.xml", rss_document("A", [TALKS]))
            clock.advance(minutes=11)
            await service.poll_and_dispatch()
            assert [m.channel for m in slack.messages] == [OTHER_CHANNEL]
