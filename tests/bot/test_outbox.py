"""Delivery through the outbox on a real SQLite file, with a recording chat platform implemented here."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ChannelConfig
from bot.outbox import (
    AfterSend,
    DeliveryOutbox,
    RetryPolicy,
    idempotency_key,
    message_from_json,
    message_to_json,
)
from bot.platforms.base import Message, SendReceipt
from bot.render import render_alert, render_digest, render_empty_digest_note
from feeds.errors import DeliveryError
from feeds.models import Actor, Span, Story, StorySource, Topic, Watchlist
from storage.db import Database, open_database
from storage.outbox import OutboxEntry, OutboxRepository
from storage.subscriptions import SubscriptionRepository

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
WATCHLIST = Watchlist(
    actors=(Actor(id="lavrov", name="Sergey Lavrov", kind="person"),),
    topics=(Topic(id="sanctions", name="Sanctions"),),
)
NEWS = ChannelConfig(platform="slack", id="C0NEWS01")
DESK = ChannelConfig(platform="slack", id="C0DESK01")
POLICY = RetryPolicy(base_delay_s=30, max_delay_s=600, jitter=0.5, max_attempts=5)


class SimulatedCrash(Exception):
    """The process dying between the platform's confirmation and the outbox update."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    channel_id: str
    message: Message
    idempotency_key: str


class RecordingPlatform:
    """A chat platform that records what it was asked to post and fails on demand, per channel."""

    def __init__(self, name: str = "slack") -> None:
        self.name = name
        self.delivered: list[Delivered] = []
        self.attempts: list[str] = []  # idempotency keys, one per send call
        self._failures: dict[str, list[BaseException]] = {}

    def fail_next(self, channel_id: str, *errors: BaseException) -> None:
        self._failures.setdefault(channel_id, []).extend(errors)

    async def start(self) -> None:
        self.delivered.clear()

    async def send(self, channel_id: str, message: Message, *, idempotency_key: str) -> SendReceipt:
        self.attempts.append(idempotency_key)
        pending = self._failures.get(channel_id)
        if pending:
            raise pending.pop(0)
        self.delivered.append(Delivered(
            channel_id=channel_id, message=message, idempotency_key=idempotency_key
        ))
        return SendReceipt(message_ids=(f"msg-{len(self.delivered)}",))

    async def close(self) -> None:
        self._failures.clear()


@dataclass
class Harness:
    db: Database
    outbox: DeliveryOutbox
    entries: OutboxRepository
    subscriptions: SubscriptionRepository
    platform: RecordingPlatform


def make_outbox(
    db: Database, platform: RecordingPlatform, after_send: AfterSend | None = None
) -> DeliveryOutbox:
    return DeliveryOutbox(
        outbox=OutboxRepository(db), subscriptions=SubscriptionRepository(db), platforms={"slack": platform},
        rng=random.Random(7), policy=POLICY, after_send=after_send,
    )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    db = await open_database(tmp_path / "delivery.db")
    platform = RecordingPlatform()
    outbox = make_outbox(db, platform)
    await outbox.sync_channels([NEWS, DESK], T0)
    try:
        yield Harness(
            db=db, outbox=outbox, entries=OutboxRepository(db), subscriptions=SubscriptionRepository(db),
            platform=platform,
        )
    finally:
        await db.close()


def story(story_id: int) -> Story:
    return Story(
        id=story_id, key=f"k{story_id}", title=f"Lavrov statement {story_id}", first_seen=T0,
        actors=("lavrov",), topics=("sanctions",), score=0.7,
        sources=(
            StorySource(source="TASS", title="t", url=f"https://tass.example/{story_id}", published=T0),
        ),
    )


def alert(story_id: int) -> Message:
    text = "Sergey Lavrov said new sanctions would fail."
    spans = [Span(field="summary", start=0, end=13, target="lavrov", phrase="sergey lavrov")]
    return render_alert(story(story_id), item_snippet=text, spans=spans, watchlist=WATCHLIST)


async def queue(h: Harness, story_id: int, channel: ChannelConfig = NEWS, now: datetime = T0) -> bool:
    return await h.outbox.queue_alert(channel, story_id=story_id, message=alert(story_id), now=now)


async def only_entry(h: Harness) -> OutboxEntry:
    rows = await h.db.fetch_all("SELECT id FROM outbox")
    assert len(rows) == 1
    entry = await h.entries.get(int(rows[0]["id"]))
    assert entry is not None
    return entry


async def test_an_alert_is_queued_once_and_sent_once(harness: Harness) -> None:
    h = harness
    assert await queue(h, 1)
    assert not await queue(h, 1, now=T0 + SECOND)
    assert await queue(h, 1, channel=DESK)

    report = await h.outbox.deliver_due(T0)
    assert (report.sent, report.retrying, report.failed, report.held) == (2, 0, 0, 0)
    assert sorted(d.channel_id for d in h.platform.delivered) == ["C0DESK01", "C0NEWS01"]
    assert all(d.message == alert(1) for d in h.platform.delivered)
    # Sent entries stay sent: neither a later round nor re-queueing the story sends it again.
    assert not await queue(h, 1, now=T0 + 10 * SECOND)
    assert (await h.outbox.deliver_due(T0 + 60 * SECOND)).sent == 0
    assert len(h.platform.delivered) == 2
    rows = await h.db.fetch_all("SELECT state, attempts, message_ids, sent_at FROM outbox ORDER BY id")
    assert [(r["state"], r["attempts"], r["sent_at"]) for r in rows] == [("sent", 1, T0.timestamp())] * 2
    assert sorted(r["message_ids"] for r in rows) == ['["msg-1"]', '["msg-2"]']


async def test_transient_errors_back_off_then_send(harness: Harness) -> None:
    h = harness
    await queue(h, 1)
    h.platform.fail_next(NEWS.id, DeliveryError("HTTP 502 from Slack"), DeliveryError("HTTP 503 from Slack"))
    expected_rng = random.Random(7)

    first = await h.outbox.deliver_due(T0)
    assert (first.sent, first.retrying) == (0, 1)
    assert first.errors == ("slack:C0NEWS01: HTTP 502 from Slack",)
    entry = await only_entry(h)
    delay1 = POLICY.delay_s(1, expected_rng)
    assert 15 <= delay1 <= 30
    assert entry.next_attempt_at == T0 + timedelta(seconds=delay1)
    assert (entry.attempts, entry.last_error, entry.state) == (1, "HTTP 502 from Slack", "pending")

    # Not due yet: nothing is attempted.
    early = await h.outbox.deliver_due(T0 + timedelta(seconds=delay1) - SECOND)
    assert (early.sent, early.retrying) == (0, 0)
    assert len(h.platform.attempts) == 1

    second_at = entry.next_attempt_at
    await h.outbox.deliver_due(second_at)
    entry = await only_entry(h)
    delay2 = POLICY.delay_s(2, expected_rng)
    assert 30 <= delay2 <= 60  # the delay doubles
    assert entry.next_attempt_at == second_at + timedelta(seconds=delay2)

    done = await h.outbox.deliver_due(entry.next_attempt_at)
    assert done.sent == 1
    entry = await only_entry(h)
    assert (entry.state, entry.attempts, entry.last_error) == ("sent", 3, None)
    # Every attempt carried the same idempotency key.
    assert h.platform.attempts == [idempotency_key(entry)] * 3
    assert [d.message for d in h.platform.delivered] == [alert(1)]


def test_backoff_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [POLICY.delay_s(attempt, rng) for attempt in range(1, 10)]
    assert all(300 <= d <= 600 for d in delays[5:])  # capped at max_delay_s, less up to half
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered
    assert RetryPolicy(jitter=0.0).delay_s(3, rng) == 120.0


async def test_retry_after_is_honoured(harness: Harness) -> None:
    h = harness
    await queue(h, 1)
    h.platform.fail_next(NEWS.id, DeliveryError("rate limited", retry_after_s=42.0))
    await h.outbox.deliver_due(T0)
    entry = await only_entry(h)
    assert entry.next_attempt_at == T0 + 42 * SECOND
    assert (await h.outbox.deliver_due(T0 + 41 * SECOND)).sent == 0
    assert (await h.outbox.deliver_due(T0 + 42 * SECOND)).sent == 1


async def test_permanent_error_fails_the_entry_and_flags_the_channel(harness: Harness) -> None:
    h = harness
    await queue(h, 1)
    gone = "channel_not_found: the bot cannot see C0NEWS01"
    h.platform.fail_next(NEWS.id, DeliveryError(gone, permanent=True))
    report = await h.outbox.deliver_due(T0)
    assert (report.sent, report.retrying, report.failed) == (0, 0, 1)
    entry = await only_entry(h)
    assert (entry.state, entry.attempts) == ("failed", 1)
    assert entry.last_error == gone
    sub = await h.subscriptions.get("slack", NEWS.id)
    assert sub is not None
    assert (sub.failing, sub.last_error, sub.last_error_at) == (True, gone, T0)
    # Never retried.
    await h.outbox.deliver_due(T0 + timedelta(days=1))
    assert len(h.platform.attempts) == 1
    assert await h.entries.pending_count("slack", NEWS.id) == 0

    # Once a later message gets through, the channel is healthy again.
    await queue(h, 2, now=T0 + timedelta(days=1))
    assert (await h.outbox.deliver_due(T0 + timedelta(days=1))).sent == 1
    healthy = await h.subscriptions.get("slack", NEWS.id)
    assert healthy is not None and not healthy.failing


async def test_too_many_attempts_fail_the_entry(harness: Harness) -> None:
    h = harness
    await queue(h, 1)
    h.platform.fail_next(NEWS.id, *(DeliveryError(f"timeout {n}") for n in range(POLICY.max_attempts)))
    now = T0
    outcomes = []
    for _ in range(POLICY.max_attempts):
        report = await h.outbox.deliver_due(now)
        outcomes.append((report.retrying, report.failed))
        now = (await only_entry(h)).next_attempt_at
    assert outcomes == [(1, 0)] * (POLICY.max_attempts - 1) + [(0, 1)]
    entry = await only_entry(h)
    assert entry.state == "failed"
    last = POLICY.max_attempts
    assert entry.last_error == f"gave up after {last} attempts: timeout {last - 1}"
    sub = await h.subscriptions.get("slack", NEWS.id)
    assert sub is not None and sub.failing


async def test_channel_order_is_kept_behind_a_retry(harness: Harness) -> None:
    h = harness
    for story_id in (1, 2, 3):
        await queue(h, story_id)
    await queue(h, 9, channel=DESK)
    h.platform.fail_next(NEWS.id, DeliveryError("HTTP 500"))

    report = await h.outbox.deliver_due(T0)
    assert (report.sent, report.retrying, report.held) == (1, 1, 2)
    assert [d.channel_id for d in h.platform.delivered] == [DESK.id]

    # Later entries of the channel do not overtake the one waiting to be retried.
    assert (await h.outbox.deliver_due(T0 + SECOND)).sent == 0
    later = await h.outbox.deliver_due(T0 + timedelta(minutes=5))
    assert later.sent == 3
    titles = [d.message.sections[0].stories[0].title for d in h.platform.delivered if d.channel_id == NEWS.id]
    assert titles == ["Lavrov statement 1", "Lavrov statement 2", "Lavrov statement 3"]


async def test_a_crash_between_send_and_confirm_resends_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    platform = RecordingPlatform()

    async def die(entry: OutboxEntry, receipt: SendReceipt) -> None:
        raise SimulatedCrash(f"killed after {receipt.message_ids} for entry {entry.id}")

    db = await open_database(path)
    try:
        crashing = make_outbox(db, platform, after_send=die)
        await crashing.sync_channels([NEWS], T0)
        await crashing.queue_alert(NEWS, story_id=1, message=alert(1), now=T0)
        with pytest.raises(SimulatedCrash):
            await crashing.deliver_due(T0)
    finally:
        await db.close()
    assert len(platform.delivered) == 1  # the platform did post it

    reopened = await open_database(path)
    try:
        restarted = make_outbox(reopened, platform)
        assert await OutboxRepository(reopened).pending_count("slack", NEWS.id) == 1
        report = await restarted.deliver_due(T0 + SECOND)
        assert report.sent == 1
        rows = await reopened.fetch_all("SELECT state, attempts FROM outbox")
        assert [tuple(r) for r in rows] == [("sent", 1)]
    finally:
        await reopened.close()
    # At least once: posted twice, with one idempotency key the platform can use to drop the copy.
    assert [d.message for d in platform.delivered] == [alert(1), alert(1)]
    assert len({d.idempotency_key for d in platform.delivered}) == 1


async def test_an_adapter_bug_is_retried_not_fatal(harness: Harness) -> None:
    h = harness
    await queue(h, 1)
    h.platform.fail_next(NEWS.id, RuntimeError("socket went away"))
    report = await h.outbox.deliver_due(T0)
    assert report.retrying == 1
    entry = await only_entry(h)
    assert entry.last_error == "slack adapter failed unexpectedly: RuntimeError('socket went away')"
    assert (await h.outbox.deliver_due(entry.next_attempt_at)).sent == 1


async def test_unreadable_payload_fails_without_sending(harness: Harness) -> None:
    h = harness
    await h.entries.queue(
        platform="slack", channel_id=NEWS.id, kind="alert", payload='{"v": 1, "kind"', now=T0, story_id=5
    )
    report = await h.outbox.deliver_due(T0)
    assert report.failed == 1
    assert h.platform.attempts == []
    entry = await only_entry(h)
    assert entry.state == "failed"
    assert entry.last_error is not None and entry.last_error.startswith("stored message cannot be read back")


async def test_entries_for_a_platform_without_an_adapter_wait(harness: Harness) -> None:
    h = harness
    discord = ChannelConfig(platform="discord", id="123456789")
    await h.outbox.queue_alert(discord, story_id=1, message=alert(1), now=T0)
    report = await h.outbox.deliver_due(T0)
    assert (report.sent, report.retrying, report.failed, report.held) == (0, 0, 0, 0)
    assert await h.entries.pending_count("discord", "123456789") == 1


async def test_quiet_hours_hold_an_alert_until_not_before(harness: Harness) -> None:
    h = harness
    await h.outbox.queue_alert(NEWS, story_id=1, message=alert(1), now=T0, not_before=T0 + timedelta(hours=7))
    assert (await h.outbox.deliver_due(T0 + timedelta(hours=6))).sent == 0
    assert (await h.outbox.deliver_due(T0 + timedelta(hours=7))).sent == 1


async def test_digests_are_keyed_by_period_end(harness: Harness) -> None:
    h = harness
    end = T0 + timedelta(hours=20)
    digest = render_digest(
        [story(1), story(2)], period_start=T0, period_end=end, timezone="UTC", watchlist=WATCHLIST,
        channel_actors=("*",), channel_topics=("*",),
    )
    assert digest is not None
    assert await h.outbox.queue_digest(NEWS, period_end=end, message=digest, now=end)
    assert not await h.outbox.queue_digest(NEWS, period_end=end, message=digest, now=end + SECOND)
    note = render_empty_digest_note(period_start=end, period_end=end + timedelta(days=1), timezone="UTC")
    assert await h.outbox.queue_digest(DESK, period_end=end, message=note, now=end)
    sub = await h.subscriptions.get("slack", NEWS.id)
    assert sub is not None and sub.last_digest_end == end

    assert (await h.outbox.deliver_due(end)).sent == 2
    kinds = await h.db.fetch_all("SELECT channel_id, kind FROM outbox ORDER BY id")
    assert [tuple(r) for r in kinds] == [(NEWS.id, "digest"), (DESK.id, "note")]
    assert {d.channel_id: d.message for d in h.platform.delivered} == {NEWS.id: digest, DESK.id: note}


def test_message_json_round_trip() -> None:
    digest = render_digest(
        [story(1), story(2)], period_start=T0, period_end=T0 + timedelta(days=1), timezone="Europe/Moscow",
        watchlist=WATCHLIST, channel_actors=("lavrov",), channel_topics=("*",),
    )
    assert digest is not None
    note = render_empty_digest_note(period_start=T0, period_end=T0, timezone="UTC")
    for message in (alert(1), digest, note):
        assert message_from_json(message_to_json(message)) == message
    assert "Сергей" in message_to_json(Message(kind="note", heading="Сергей", note=""))  # stored readable


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"v": 2, "kind": "note", "heading": "", "note": "", "sections": []}',
        '{"v": 1, "kind": "shout", "heading": "", "note": "", "sections": []}',
        '{"v": 1, "kind": "note", "heading": 3, "note": "", "sections": []}',
        '{"v": 1, "kind": "note", "heading": "", "note": ""}',
        '{"v":1,"kind":"alert","heading":"","note":"","sections":[{"heading":"","stories":[1]}]}',
        '{"v":1,"kind":"alert","heading":"","note":"","sections":[{"heading":"","stories":[{}]}]}',
    ],
)
def test_unreadable_payloads_are_permanent_delivery_errors(payload: str) -> None:
    with pytest.raises(DeliveryError) as caught:
        message_from_json(payload)
    assert caught.value.permanent


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("published", "2024-05-01T12:00:00"),  # no timezone
        ("published", "yesterday"),
        ("highlights", [[1]]),
        ("highlights", [[1, "2"]]),
        ("score", True),
        ("url", 5),
        ("actors", [1]),
        ("title", None),
    ],
)
def test_unreadable_story_fields_are_permanent_delivery_errors(field: str, value: object) -> None:
    data = json.loads(message_to_json(alert(1)))
    data["sections"][0]["stories"][0][field] = value
    with pytest.raises(DeliveryError, match="cannot be read back") as caught:
        message_from_json(json.dumps(data))
    assert caught.value.permanent
