"""Typed configuration from TOML: every error names its key path; secrets come only from the environment."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feeds.errors import ConfigError, FetchError
from feeds.fetch import check_feed_url
from feeds.models import FeedSource, Watchlist
from feeds.watchlist_file import load_watchlist, parse_watchlist

Platform = Literal["discord", "slack", "console"]
ChannelMode = Literal["alert", "digest", "both"]
SECRET_VARIABLES = ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageConfig:
    """Where the SQLite file lives and how long items are kept."""

    path: Path
    retention_days: int = 90


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchConfig:
    """Limits for polite, safe fetching."""

    concurrency: int = 50
    per_host: int = 4
    timeout_s: float = 20.0
    max_body_bytes: int = 10 * 1024 * 1024
    allow_private_networks: bool = False
    default_interval_s: int = 600
    workers: int = 0  # parse and classify processes; 0 = one per CPU but one, 1 = a thread of this process


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietHours:
    """A daily window (in the channel's timezone) during which alerts are held."""

    start: time
    end: time


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConfig:
    """One chat channel and what it wants to hear about."""

    platform: Platform
    id: str
    actors: tuple[str, ...] = ("*",)
    topics: tuple[str, ...] = ("*",)
    mode: ChannelMode = "alert"
    min_score: float = 0.0
    digest_cron: str = "0 8 * * *"
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    backfill: int = 0
    empty_digest: Literal["skip", "note"] = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackConfig:
    """Slack app settings (tokens come from the environment)."""

    api_base_url: str = "https://slack.com/api/"
    mode: Literal["http", "socket"] = "http"
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    admins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordConfig:
    """Discord bot settings (the token comes from the environment)."""

    admin_role_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Secrets:
    """Tokens read from the environment; never printed."""

    discord_token: str | None = None
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None

    def __repr__(self) -> str:
        present = [name for name, value in zip(SECRET_VARIABLES, self._values(), strict=True) if value]
        return f"Secrets(set={present})"

    def _values(self) -> tuple[str | None, ...]:
        return (self.discord_token, self.slack_bot_token, self.slack_signing_secret, self.slack_app_token)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration of one diplowatch instance."""

    source: Path | None
    storage: StorageConfig
    fetch: FetchConfig
    feeds: tuple[FeedSource, ...]
    watchlist: Watchlist
    channels: tuple[ChannelConfig, ...]
    slack: SlackConfig = field(default_factory=SlackConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    secrets: Secrets = field(default_factory=Secrets, repr=False)


def secrets_from_environment(environ: Mapping[str, str] | None = None) -> Secrets:
    """Read chat tokens from the environment (and only from there)."""
    env = os.environ if environ is None else environ
    values = [env.get(name) or None for name in SECRET_VARIABLES]
    return Secrets(
        discord_token=values[0],
        slack_bot_token=values[1],
        slack_signing_secret=values[2],
        slack_app_token=values[3],
    )


def parse_duration(value: object, *, key: str) -> int:
    """Seconds from ``"90s"``, ``"10m"``, ``"2h"``, ``"1d"`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration like '10m', got {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = int(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ConfigError(f"{key}: {value!r} is not a duration (use e.g. '90s', '10m', '2h', '1d')")
    if seconds < 30:
        raise ConfigError(f"{key}: {value!r} is too short; the smallest poll interval is 30s")
    return seconds


def parse_quiet_hours(value: str, *, key: str) -> QuietHours:
    """``"22:00-07:00"`` → a window; it may wrap past midnight."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not m:
        raise ConfigError(f"{key}: {value!r} is not a window like '22:00-07:00'")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ConfigError(f"{key}: {value!r} has an impossible time of day")
    if (h1, m1) == (h2, m2):
        raise ConfigError(f"{key}: {value!r} is an empty window (start equals end)")
    return QuietHours(start=time(h1, m1), end=time(h2, m2))


def check_cron(expression: str, timezone: str, *, key: str) -> None:
    """Raise ConfigError (naming ``key``) unless ``expression`` is a valid 5-field cron expression."""
    from bot.routing import cron_trigger  # routing imports this module's types

    try:
        cron_trigger(expression, timezone)
    except ConfigError as e:
        raise ConfigError(f"{key}: {str(e).removeprefix('digest_cron ')}") from e


def check_timezone(name: str, *, key: str) -> None:
    """Raise ConfigError unless ``name`` is an IANA timezone known to zoneinfo."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(
            f"{key}: {name!r} is not a known timezone (use an IANA name like 'Europe/Moscow')"
        ) from e


def check_http_url(url: str, *, key: str) -> str:
    """The URL, stripped, when it is an absolute http(s) URL with a host; else ConfigError."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError as e:
        raise ConfigError(f"{key}: {url!r} is not a valid URL: {e}") from e
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{key}: {url!r} is not an http(s) URL")
    if not host:
        raise ConfigError(f"{key}: {url!r} has no host")
    return text


def check_feed_source_url(url: str, *, key: str) -> str:
    """A feed URL the fetcher will accept (http(s), a host, no obfuscated numeric host); else ConfigError."""
    check_http_url(url, key=key)
    try:
        return check_feed_url(url.strip())
    except FetchError as e:
        raise ConfigError(f"{key}: {e}") from e


class _Table:
    """A TOML table being read: typed getters that name the key path, and unknown-key detection."""

    def __init__(self, data: Mapping[str, object], path: str) -> None:
        self.data = data
        self.path = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str) -> object | None:
        self.seen.add(name)
        return self.data.get(name)

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self.get(name)
        if value is None:
            if required or default is None:
                raise ConfigError(f"{self.key(name)}: missing (a string is required)")
            return default
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.key(name)}: expected a non-empty string, got {value!r}")
        return value.strip()

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.key(name)}: expected an integer, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(f"{self.key(name)}: {value} must be {bound}")
        return value

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.key(name)}: expected a number, got {value!r}")
        if not minimum <= float(value) <= maximum:
            raise ConfigError(f"{self.key(name)}: {value} must be between {minimum} and {maximum}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self.key(name)}: expected true or false, got {value!r}")
        return value

    def strings(self, name: str, default: Sequence[str]) -> tuple[str, ...]:
        value = self.get(name)
        if value is None:
            return tuple(default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{self.key(name)}: expected a list of non-empty strings, got {value!r}")
        return tuple(v.strip() for v in value)

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self.string(name, default)
        if value not in choices:
            raise ConfigError(f"{self.key(name)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def table(self, name: str) -> _Table:
        value = self.get(name)
        if value is None:
            return _Table({}, self.key(name))
        if not isinstance(value, dict):
            raise ConfigError(f"{self.key(name)}: expected a table, got {type(value).__name__}")
        return _Table(value, self.key(name))

    def tables(self, name: str) -> list[_Table]:
        value = self.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{self.key(name)}: expected an array of tables ([[{name}]])")
        return [_Table(v, f"{self.key(name)}[{i}]") for i, v in enumerate(value)]

    def reject_unknown(self, allowed: Sequence[str] | None = None) -> None:
        """Unknown keys are errors (with a did-you-mean), since a typo would silently change behaviour."""
        known = set(allowed) if allowed is not None else self.seen
        for name in self.data:
            if name in known:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{self.key(name)}: unknown key{hint}")


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; raises ConfigError naming the key path of the first problem."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"config file {source} does not exist (copy config.example.toml to start)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {source}: {e}") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from e
    return parse_config(data, base_dir=source.parent, source=source, environ=environ)


def parse_config(
    data: Mapping[str, object],
    *,
    base_dir: Path,
    source: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate an already-loaded TOML document; relative paths resolve against ``base_dir``."""
    root = _Table(data, "")
    for secret_key in ("token", "discord_token", "slack_bot_token", "signing_secret", "app_token"):
        if _contains_key(data, secret_key):
            raise ConfigError(
                f"{secret_key}: secrets are not read from config files; set "
                f"{', '.join(SECRET_VARIABLES)} in the environment instead"
            )

    st = root.table("storage")
    storage_path = Path(st.string("path", "diplowatch.db"))
    storage = StorageConfig(
        path=storage_path if storage_path.is_absolute() else base_dir / storage_path,
        retention_days=st.integer("retention_days", 90, minimum=1),
    )
    st.reject_unknown()

    ft = root.table("fetch")
    default_interval = ft.get("default_interval")
    fetch = FetchConfig(
        concurrency=ft.integer("concurrency", 50, minimum=1, maximum=1000),
        per_host=ft.integer("per_host", 4, minimum=1, maximum=100),
        timeout_s=ft.number("timeout_s", 20.0, minimum=1.0, maximum=600.0),
        max_body_bytes=ft.integer("max_body_bytes", 10 * 1024 * 1024, minimum=1024),
        allow_private_networks=ft.boolean("allow_private_networks", False),
        workers=ft.integer("workers", 0, minimum=0, maximum=64),
        default_interval_s=(
            600
            if default_interval is None
            else parse_duration(default_interval, key=ft.key("default_interval"))
        ),
    )
    ft.reject_unknown()

    feeds: list[FeedSource] = []
    seen_urls: dict[str, str] = {}
    for t in root.tables("feeds"):
        url = check_feed_source_url(t.string("url", required=True), key=t.key("url"))
        interval = t.get("interval")
        feed = FeedSource(
            url=url,
            name=t.string("name", urlsplit(url).hostname or url),
            interval_s=fetch.default_interval_s
            if interval is None
            else parse_duration(interval, key=t.key("interval")),
        )
        t.reject_unknown()
        if url in seen_urls:
            raise ConfigError(f"{t.key('url')}: {url!r} is listed twice (also at {seen_urls[url]})")
        seen_urls[url] = t.key("url")
        feeds.append(feed)

    watchlist = _load_watchlists(root.table("watchlist"), base_dir)

    channels = tuple(_parse_channel(t, watchlist) for t in root.tables("channels"))
    seen_channels: set[tuple[str, str]] = set()
    for i, ch in enumerate(channels):
        if (ch.platform, ch.id) in seen_channels:
            raise ConfigError(f"channels[{i}]: channel {ch.platform}:{ch.id} is listed twice")
        seen_channels.add((ch.platform, ch.id))

    sl = root.table("slack")
    slack = SlackConfig(
        api_base_url=check_http_url(
            sl.string("api_base_url", "https://slack.com/api/"), key=sl.key("api_base_url")
        ),
        mode="socket" if sl.choice("mode", "http", ("http", "socket")) == "socket" else "http",
        http_host=sl.string("http_host", "127.0.0.1"),
        http_port=sl.integer("http_port", 3000, minimum=1, maximum=65535),
        admins=sl.strings("admins", ()),
    )
    sl.reject_unknown()
    dc = root.table("discord")
    discord = DiscordConfig(admin_role_ids=dc.strings("admin_role_ids", ()))
    dc.reject_unknown()

    root.reject_unknown(["storage", "fetch", "feeds", "watchlist", "channels", "slack", "discord"])
    return Config(
        source=source,
        storage=storage,
        fetch=fetch,
        feeds=tuple(feeds),
        watchlist=watchlist,
        channels=channels,
        slack=slack,
        discord=discord,
        secrets=secrets_from_environment(environ),
    )


def _contains_key(data: object, name: str) -> bool:
    if isinstance(data, dict):
        return any(k == name or _contains_key(v, name) for k, v in data.items())
    if isinstance(data, list):
        return any(_contains_key(v, name) for v in data)
    return False


def _load_watchlists(wt: _Table, base_dir: Path) -> Watchlist:
    parts: list[Watchlist] = []
    for i, name in enumerate(wt.strings("include", ())):
        path = Path(name) if Path(name).is_absolute() else base_dir / name
        try:
            parts.append(load_watchlist(path))
        except ConfigError as e:
            raise ConfigError(f"{wt.key('include')}[{i}]: {e}") from e
    inline = {k: wt.get(k) for k in ("actors", "topics") if wt.data.get(k) is not None}
    if inline:
        parts.append(parse_watchlist(inline, origin=wt.path))
    wt.reject_unknown()
    return merge_watchlists(parts, key=wt.path)


def merge_watchlists(parts: Sequence[Watchlist], *, key: str) -> Watchlist:
    """One watchlist from several files; an id defined twice is an error naming it."""
    actors: dict[str, object] = {}
    topics: dict[str, object] = {}
    for part in parts:
        for actor in part.actors:
            if actor.id in actors:
                raise ConfigError(f"{key}: actor id {actor.id!r} is defined in more than one watchlist")
            actors[actor.id] = actor
        for topic in part.topics:
            if topic.id in topics:
                raise ConfigError(f"{key}: topic id {topic.id!r} is defined in more than one watchlist")
            topics[topic.id] = topic
    return Watchlist(
        actors=tuple(a for part in parts for a in part.actors),
        topics=tuple(t for part in parts for t in part.topics),
    )


def _parse_channel(t: _Table, watchlist: Watchlist) -> ChannelConfig:
    platform = t.choice("platform", "console", ("discord", "slack", "console"))
    channel_id = t.string("id", required=True)
    if platform == "discord" and not channel_id.isdigit():
        raise ConfigError(f"{t.key('id')}: {channel_id!r} is not a Discord channel id (a number)")
    if platform == "slack" and not re.fullmatch(r"[CGD][A-Z0-9]{6,}", channel_id):
        raise ConfigError(f"{t.key('id')}: {channel_id!r} is not a Slack channel id (like C0123456789)")
    actors = t.strings("actors", ("*",))
    topics = t.strings("topics", ("*",))
    _check_ids(actors, {a.id for a in watchlist.actors}, key=t.key("actors"), what="actor")
    _check_ids(topics, {tp.id for tp in watchlist.topics}, key=t.key("topics"), what="topic")
    timezone = t.string("timezone", "UTC")
    check_timezone(timezone, key=t.key("timezone"))
    cron = t.string("digest_cron", "0 8 * * *")
    check_cron(cron, timezone, key=t.key("digest_cron"))
    quiet = t.get("quiet_hours")
    if quiet is not None and not isinstance(quiet, str):
        raise ConfigError(f"{t.key('quiet_hours')}: expected a window like '22:00-07:00', got {quiet!r}")
    mode = t.choice("mode", "alert", ("alert", "digest", "both"))
    empty = t.choice("empty_digest", "skip", ("skip", "note"))
    channel = ChannelConfig(
        platform="discord" if platform == "discord" else "slack" if platform == "slack" else "console",
        id=channel_id,
        actors=actors,
        topics=topics,
        mode="digest" if mode == "digest" else "both" if mode == "both" else "alert",
        min_score=t.number("min_score", 0.0, minimum=0.0, maximum=1.0),
        digest_cron=cron,
        timezone=timezone,
        quiet_hours=None if quiet is None else parse_quiet_hours(quiet, key=t.key("quiet_hours")),
        backfill=t.integer("backfill", 0, minimum=0, maximum=1000),
        empty_digest="note" if empty == "note" else "skip",
    )
    t.reject_unknown()
    return channel


def _check_ids(ids: Sequence[str], known: set[str], *, key: str, what: str) -> None:
    for i, value in enumerate(ids):
        if value == "*":
            if len(ids) > 1:
                raise ConfigError(f"{key}: '*' already means every {what}; list ids or '*' alone")
            continue
        if value not in known:
            close = difflib.get_close_matches(value, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{key}[{i}]: unknown {what} id {value!r}{hint}")
