"""Which channel wants which story, and when: filters, quiet hours and digest schedules (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from feeds.errors import ConfigError

if TYPE_CHECKING:
    # Only for annotations, so bot.config can import cron_trigger from here without a cycle.
    from bot.config import ChannelConfig

WILDCARD = "*"
# How far back previous_digest_at looks, widening step by step so frequent crons stay cheap; a cron that has
# not fired in eight years (e.g. "0 8 29 2 1") is treated as never having fired.
_LOOKBACK_STEPS = (
    timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367),
    timedelta(days=8 * 366),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestPeriod:
    """The stories a digest covers: first seen at or after ``start`` and before ``end`` (aware UTC)."""

    start: datetime
    end: datetime


def channel_wants(
    channel: ChannelConfig, story_actors: Sequence[str], story_topics: Sequence[str], score: float
) -> bool:
    """True when the story passes the channel's actor filter, topic filter and ``min_score``.

    ``*`` accepts any value including none, but a story must name at least one tracked actor or topic:
    a channel never gets untracked noise, whatever its filters.
    """
    if score < channel.min_score or (not story_actors and not story_topics):
        return False
    return _passes(channel.actors, story_actors) and _passes(channel.topics, story_topics)


def _passes(wanted: Sequence[str], present: Sequence[str]) -> bool:
    return WILDCARD in wanted or any(value in wanted for value in present)


def in_quiet_hours(channel: ChannelConfig, now: datetime) -> bool:
    """True when the wall clock in the channel's timezone is inside its quiet window (start inclusive)."""
    quiet = channel.quiet_hours
    if quiet is None:
        return False
    local = now.astimezone(ZoneInfo(channel.timezone)).time()
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def quiet_hours_end(channel: ChannelConfig, now: datetime) -> datetime:
    """When the current quiet window ends (aware UTC); ``now`` itself when the channel is not quiet.

    An end time that falls in a DST gap resolves to the first instant after the gap; one that occurs twice
    (clocks going back) resolves to the first occurrence still after ``now``.
    """
    quiet = channel.quiet_hours
    if quiet is None or not in_quiet_hours(channel, now):
        return now
    zone = ZoneInfo(channel.timezone)
    local = now.astimezone(zone)
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)
    for fold in (0, 1):
        candidate = _local_instant(day, quiet.end, zone, fold)
        if candidate > now:
            return candidate
    return now


def _local_instant(day: date, wall: time, zone: ZoneInfo, fold: int) -> datetime:
    naive = datetime.combine(day, wall).replace(tzinfo=zone, fold=fold)
    instant = naive.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive.replace(tzinfo=None):
        # The wall time does not exist (spring-forward gap): the window ends when the clocks jump.
        return _gap_end(naive, zone)
    return instant


def _gap_end(naive: datetime, zone: ZoneInfo) -> datetime:
    before = naive.replace(fold=0).astimezone(UTC)
    after = naive.replace(fold=1).astimezone(UTC)
    low, high = min(before, after), max(before, after)
    # The transition lies between the two readings; find the first minute whose offset differs from ``low``'s.
    offset = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def next_digest_at(channel: ChannelConfig, now: datetime) -> datetime:
    """The first firing of the channel's digest cron strictly after ``now`` (aware UTC).

    A wall time that occurs twice when clocks go back fires once (at its first occurrence), like cron.
    """
    trigger = _trigger(channel)
    fire = _next_firing(trigger, channel, now + timedelta(microseconds=1))
    if fire is None:
        raise ConfigError(
            f"channel {channel.platform}:{channel.id}: digest_cron {channel.digest_cron!r} never fires "
            "(check the day and month fields)"
        )
    return fire


def previous_digest_at(channel: ChannelConfig, now: datetime) -> datetime | None:
    """The last firing of the channel's digest cron at or before ``now`` (aware UTC), if any in 8 years."""
    trigger = _trigger(channel)
    for step in _LOOKBACK_STEPS:
        latest: datetime | None = None
        fire = _next_firing(trigger, channel, now - step)
        while fire is not None and fire <= now:
            latest = fire
            fire = _next_firing(trigger, channel, fire + timedelta(microseconds=1))
        if latest is not None:
            return latest
    return None


def digest_period(channel: ChannelConfig, end: datetime, *, last_end: datetime | None = None) -> DigestPeriod:
    """The period a digest firing at ``end`` covers.

    It starts where the last digest sent ended (``last_end``) so nothing is skipped after downtime, else at
    the cron's previous firing before ``end``, else one day before ``end``.
    """
    if last_end is not None and last_end < end:
        return DigestPeriod(start=last_end.astimezone(UTC), end=end.astimezone(UTC))
    previous = previous_digest_at(channel, end - timedelta(microseconds=1))
    start = previous if previous is not None else end - timedelta(days=1)
    return DigestPeriod(start=start.astimezone(UTC), end=end.astimezone(UTC))


def _trigger(channel: ChannelConfig) -> CronTrigger:
    return cron_trigger(channel.digest_cron, channel.timezone)


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a standard 5-field crontab line, read in ``timezone``.

    APScheduler 3 numbers weekdays from Monday = 0 (``from_crontab`` passes the field through unchanged), so
    ``0 8 * * 1-5`` would fire Tuesday to Saturday; numeric weekdays are translated to names here so they
    mean what cron means (0 or 7 = Sunday). As in APScheduler, day of month and weekday must both match.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(f"digest_cron {expression!r} is not a 5-field cron expression like '0 8 * * 1-5'")
    minute, hour, day, month, weekday = fields
    try:
        trigger = CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=_weekday_names(weekday),
            timezone=ZoneInfo(timezone),
        )
    except (ValueError, KeyError) as e:
        raise ConfigError(f"digest_cron {expression!r} is not a valid cron expression: {e}") from e
    return trigger


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday_names(field: str) -> str:
    """A cron weekday field (numbers 0-7 or names, ranges, lists, steps) as a list of weekday names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"weekday step in {field!r} must be at least 1")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            low, high = base.split("-", 1)
            first, last = _weekday_number(low), _weekday_number(high)
        else:
            first = _weekday_number(base)
            last = 7 if step_text else first
        if first > last:
            raise ValueError(f"weekday range {base!r} runs backwards")
        days.update(value % 7 for value in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday_number(text: str) -> int:
    if text in _WEEKDAYS:
        return _WEEKDAYS.index(text)
    value = int(text)
    if not 0 <= value <= 7:
        raise ValueError(f"weekday {text!r} is not between 0 and 7")
    return value


def _next_firing(trigger: CronTrigger, channel: ChannelConfig, at_or_after: datetime) -> datetime | None:
    fire = _fire_time(trigger, at_or_after)
    while fire is not None and _repeats_previous_firing(trigger, channel, fire):
        fire = _fire_time(trigger, fire + timedelta(microseconds=1))
    return fire


def _fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The first firing at or after ``now``."""
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    # Compare in UTC only: aware datetimes sharing a tzinfo compare by wall time and ignore ``fold``.
    return None if fire is None else fire.astimezone(UTC)


def _repeats_previous_firing(trigger: CronTrigger, channel: ChannelConfig, fire: datetime) -> bool:
    """True for the second reading of an ambiguous wall time when the firing just before it was the first."""
    local = fire.astimezone(ZoneInfo(channel.timezone))
    if not local.fold:
        return False
    first = local.replace(fold=0).astimezone(UTC)
    if first == fire:
        return False
    after_first = _fire_time(trigger, first + timedelta(microseconds=1))
    return _fire_time(trigger, first) == first and after_first == fire
