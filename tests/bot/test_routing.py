"""Routing tables: channel filters, quiet hours across midnight and DST, digest cron firings."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.config import ChannelConfig, QuietHours
from bot.routing import (
    DigestPeriod,
    channel_wants,
    cron_trigger,
    digest_period,
    in_quiet_hours,
    next_digest_at,
    previous_digest_at,
    quiet_hours_end,
)
from feeds.errors import ConfigError

MOSCOW = "Europe/Moscow"
NEW_YORK = "America/New_York"
NIGHT = ("22:00", "07:00")


def channel(
    *,
    actors: tuple[str, ...] = ("*",),
    topics: tuple[str, ...] = ("*",),
    min_score: float = 0.0,
    timezone: str = "UTC",
    quiet: tuple[str, str] | None = None,
    cron: str = "0 8 * * *",
) -> ChannelConfig:
    return ChannelConfig(
        platform="console", id="news", actors=actors, topics=topics, min_score=min_score, timezone=timezone,
        quiet_hours=None if quiet is None else QuietHours(
            start=time.fromisoformat(quiet[0]), end=time.fromisoformat(quiet[1])
        ),
        digest_cron=cron,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, zone: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def msk(text: str) -> datetime:
    return local(text, MOSCOW)


@pytest.mark.parametrize(
    ("actors", "topics", "min_score", "story_actors", "story_topics", "score", "wanted"),
    [
        # wildcards take anything tracked, but never a story that names nothing tracked
        (("*",), ("*",), 0.0, ("lavrov",), (), 0.1, True),
        (("*",), ("*",), 0.0, (), ("sanctions",), 0.1, True),
        (("*",), ("*",), 0.0, (), (), 0.9, False),
        # an actor list: one listed actor is enough; topics are free
        (("lavrov", "iran"), ("*",), 0.0, ("iran", "un"), (), 0.5, True),
        (("lavrov",), ("*",), 0.0, ("un",), ("sanctions",), 0.5, False),
        (("lavrov",), ("*",), 0.0, (), ("sanctions",), 0.5, False),
        # a topic list: actor-less stories pass only through a listed topic
        (("*",), ("sanctions",), 0.0, (), ("sanctions",), 0.5, True),
        (("*",), ("sanctions",), 0.0, (), ("nuclear",), 0.5, False),
        (("*",), ("sanctions",), 0.0, ("lavrov",), (), 0.5, False),
        # both lists: both must match
        (("lavrov",), ("sanctions",), 0.0, ("lavrov",), ("sanctions", "nuclear"), 0.5, True),
        (("lavrov",), ("sanctions",), 0.0, ("lavrov",), ("nuclear",), 0.5, False),
        (("lavrov",), ("sanctions",), 0.0, ("iran",), ("sanctions",), 0.5, False),
        # min_score is inclusive
        (("*",), ("*",), 0.5, ("lavrov",), (), 0.5, True),
        (("*",), ("*",), 0.5, ("lavrov",), (), 0.49, False),
    ],
)
def test_channel_wants(
    actors: tuple[str, ...], topics: tuple[str, ...], min_score: float, story_actors: tuple[str, ...],
    story_topics: tuple[str, ...], score: float, wanted: bool,
) -> None:
    assert channel_wants(channel(actors=actors, topics=topics, min_score=min_score), story_actors,
                         story_topics, score) is wanted


@pytest.mark.parametrize(
    ("zone", "quiet", "now", "quiet_now", "ends"),
    [
        # no quiet hours at all
        ("UTC", None, utc("2024-03-14T03:00"), False, utc("2024-03-14T03:00")),
        # a daytime window
        ("UTC", ("12:00", "13:30"), utc("2024-03-14T12:00"), True, utc("2024-03-14T13:30")),
        ("UTC", ("12:00", "13:30"), utc("2024-03-14T13:30"), False, utc("2024-03-14T13:30")),
        # Moscow (UTC+3, no DST): a window wrapping midnight, before and after midnight
        (MOSCOW, NIGHT, msk("2024-03-14T21:59"), False, msk("2024-03-14T21:59")),
        (MOSCOW, NIGHT, msk("2024-03-14T22:00"), True, msk("2024-03-15T07:00")),
        (MOSCOW, NIGHT, utc("2024-03-14T23:30"), True, utc("2024-03-15T04:00")),
        (MOSCOW, NIGHT, msk("2024-03-15T06:59"), True, utc("2024-03-15T04:00")),
        (MOSCOW, NIGHT, msk("2024-03-15T07:00"), False, msk("2024-03-15T07:00")),
        # Moscow still had DST in 2010: the window follows the wall clock through the spring change
        (MOSCOW, ("01:00", "04:00"), utc("2010-03-27T23:30"), True, utc("2010-03-28T00:00")),
        # New York, spring forward (02:00 EST → 03:00 EDT on 2024-03-10): the night is an hour shorter
        (NEW_YORK, NIGHT, utc("2024-03-10T03:00"), True, utc("2024-03-10T11:00")),
        # an end time inside the gap ends the window when the clocks jump
        (NEW_YORK, ("01:00", "02:30"), utc("2024-03-10T06:30"), True, utc("2024-03-10T07:00")),
        # New York, fall back (02:00 EDT → 01:00 EST on 2024-11-03): the night is an hour longer
        (NEW_YORK, NIGHT, utc("2024-11-03T03:00"), True, utc("2024-11-03T12:00")),
        # an end time that happens twice ends the window at its first occurrence ...
        (NEW_YORK, ("00:00", "01:30"), utc("2024-11-03T05:00"), True, utc("2024-11-03T05:30")),
        # ... unless that is already past: 01:15 the second time round (EST) ends at 01:30 EST
        (NEW_YORK, ("00:00", "01:30"), local("2024-11-03T01:15", NEW_YORK, 1), True, utc("2024-11-03T06:30")),
    ],
)
def test_quiet_hours(
    zone: str, quiet: tuple[str, str] | None, now: datetime, quiet_now: bool, ends: datetime
) -> None:
    ch = channel(timezone=zone, quiet=quiet)
    assert in_quiet_hours(ch, now) is quiet_now
    end = quiet_hours_end(ch, now)
    assert end == ends
    assert end.utcoffset() is not None
    if quiet_now:
        assert end > now and not in_quiet_hours(ch, end)


@pytest.mark.parametrize(
    ("zone", "cron", "now", "expected"),
    [
        ("UTC", "0 8 * * *", utc("2024-03-14T07:59"), utc("2024-03-14T08:00")),
        # strictly after now
        ("UTC", "0 8 * * *", utc("2024-03-14T08:00"), utc("2024-03-15T08:00")),
        # weekdays only: Friday → Monday
        ("UTC", "0 8 * * 1-5", utc("2024-03-15T09:00"), utc("2024-03-18T08:00")),
        # 08:00 in Moscow is 05:00 UTC
        (MOSCOW, "0 8 * * *", utc("2024-03-14T06:00"), utc("2024-03-15T05:00")),
        # 08:00 in New York moves from 13:00 to 12:00 UTC across the spring change
        (NEW_YORK, "0 8 * * *", utc("2024-03-09T14:00"), utc("2024-03-10T12:00")),
        # a firing time inside the spring gap happens once, right after the jump
        (NEW_YORK, "30 2 * * *", utc("2024-03-10T05:00"), utc("2024-03-10T07:30")),
        # a firing time repeated when clocks go back fires once, at its first occurrence
        (NEW_YORK, "30 1 * * *", utc("2024-11-03T04:00"), utc("2024-11-03T05:30")),
        (NEW_YORK, "30 1 * * *", utc("2024-11-03T05:30"), utc("2024-11-04T06:30")),
        # ... while a frequent cron keeps firing through the repeated hour
        (NEW_YORK, "*/30 * * * *", utc("2024-11-03T05:30"), utc("2024-11-03T06:00")),
    ],
)
def test_next_digest_at(zone: str, cron: str, now: datetime, expected: datetime) -> None:
    fire = next_digest_at(channel(timezone=zone, cron=cron), now)
    assert fire == expected
    assert fire.tzinfo == UTC


@pytest.mark.parametrize(
    ("zone", "cron", "now", "expected"),
    [
        ("UTC", "0 8 * * *", utc("2024-03-14T08:00"), utc("2024-03-14T08:00")),  # at or before now
        ("UTC", "0 8 * * *", utc("2024-03-14T07:59"), utc("2024-03-13T08:00")),
        ("UTC", "0 8 * * 1", utc("2024-03-14T07:59"), utc("2024-03-11T08:00")),
        ("UTC", "0 8 1 * *", utc("2024-03-14T07:59"), utc("2024-03-01T08:00")),
        ("UTC", "* * * * *", utc("2024-03-14T07:59:30"), utc("2024-03-14T07:59")),
        (MOSCOW, "0 8 29 2 *", utc("2027-03-10T00:00"), utc("2024-02-29T05:00")),
        (NEW_YORK, "30 1 * * *", utc("2024-11-03T06:45"), utc("2024-11-03T05:30")),
    ],
)
def test_previous_digest_at(zone: str, cron: str, now: datetime, expected: datetime) -> None:
    assert previous_digest_at(channel(timezone=zone, cron=cron), now) == expected


def test_previous_digest_at_gives_up_after_eight_years() -> None:
    # 30 February never comes.
    assert previous_digest_at(channel(cron="0 8 30 2 *"), utc("2024-03-14T00:00")) is None


def test_digest_period() -> None:
    daily = channel(timezone=MOSCOW, cron="0 8 * * *")
    end = utc("2024-03-15T05:00")
    assert digest_period(daily, end) == DigestPeriod(start=utc("2024-03-14T05:00"), end=end)
    # After downtime the period reaches back to the last digest that went out, so nothing is skipped.
    assert digest_period(daily, end, last_end=utc("2024-03-12T05:00")) == DigestPeriod(
        start=utc("2024-03-12T05:00"), end=end
    )
    # A last end at or after this one is ignored.
    assert digest_period(daily, end, last_end=end).start == utc("2024-03-14T05:00")
    # Across the New York spring change a daily digest covers 23 hours.
    ny = channel(timezone=NEW_YORK, cron="0 8 * * *")
    period = digest_period(ny, utc("2024-03-10T12:00"))
    assert period.end - period.start == utc("2024-03-10T12:00") - utc("2024-03-09T13:00")


def test_a_cron_that_never_fires_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="never fires"):
        next_digest_at(channel(cron="0 8 30 2 *"), utc("2024-03-14T00:00"))


@pytest.mark.parametrize(
    ("weekdays", "fires_on"),
    [
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("6,0", ["Sat", "Sun"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("*", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ],
)
def test_weekdays_mean_what_cron_means(weekdays: str, fires_on: list[str]) -> None:
    # APScheduler 3 alone would read 0 as Monday; 2024-03-11 is a Monday.
    ch = channel(cron=f"0 8 * * {weekdays}")
    seen: list[str] = []
    now = utc("2024-03-10T09:00")
    for _ in range(len(fires_on)):
        now = next_digest_at(ch, now)
        seen.append(now.strftime("%a"))
    assert sorted(seen) == sorted(fires_on)
    assert now < utc("2024-03-17T09:00")


@pytest.mark.parametrize("cron", ["0 8 * *", "0 8 * * 8", "0 8 * * fri-mon", "0 25 * * *", "0 8 * * x"])
def test_bad_cron_is_a_config_error(cron: str) -> None:
    with pytest.raises(ConfigError, match="digest_cron"):
        cron_trigger(cron, "UTC")
