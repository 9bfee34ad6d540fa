"""Config loading: valid files load into typed values; every error names its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config, parse_duration, parse_quiet_hours
from feeds.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

WATCHLIST = """
[[actors]]
id = "putin"
name = "Vladimir Putin"
kind = "person"
aliases = ["Putin", "Путин*"]

[[topics]]
id = "peace-talks"
name = "Peace talks"
any = ["peace talks", "negotiat*"]
"""


def write_config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "watchlist.toml").write_text(WATCHLIST, encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_example_config_loads(tmp_path: Path) -> None:
    example = write_config(tmp_path, (REPO / "config.example.toml").read_text(encoding="utf-8"))
    config = load_config(example, environ={})
    assert config.fetch.concurrency == 50
    assert config.fetch.max_body_bytes == 10485760
    assert config.fetch.default_interval_s == 600
    assert config.feeds[0].interval_s == 300
    assert config.channels[0].topics == ("peace-talks",)
    assert config.slack.api_base_url == "https://slack.com/api/"


def test_full_config(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
[storage]
path = "state/dw.db"
[fetch]
per_host = 2
allow_private_networks = true
default_interval = "2h"
[watchlist]
include = ["watchlist.toml"]
[[watchlist.actors]]
id = "witkoff"
name = "Steve Witkoff"
kind = "person"
aliases = ["Witkoff"]
[[feeds]]
url = "https://example.org/rss"
name = "Example"
[[feeds]]
url = "http://example.net/atom"
interval = "90s"
[[channels]]
platform = "discord"
id = "123456789012345678"
actors = ["putin", "witkoff"]
topics = ["*"]
mode = "both"
min_score = 0.3
digest_cron = "0 8 * * 1-5"
timezone = "Europe/Moscow"
quiet_hours = "22:00-07:00"
""",
    )
    config = load_config(path, environ={"SLACK_BOT_TOKEN": "xoxb-secret"})
    assert config.storage.path == tmp_path / "state" / "dw.db"
    assert config.fetch.per_host == 2 and config.fetch.allow_private_networks
    assert [f.interval_s for f in config.feeds] == [7200, 90]
    assert config.feeds[1].name == "example.net"
    assert [a.id for a in config.watchlist.actors] == ["putin", "witkoff"]
    channel = config.channels[0]
    assert channel.mode == "both" and channel.actors == ("putin", "witkoff")
    assert channel.quiet_hours is not None and channel.quiet_hours.start.hour == 22
    assert config.secrets.slack_bot_token == "xoxb-secret"
    assert "xoxb-secret" not in repr(config) and "xoxb-secret" not in repr(config.secrets)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[feeds]]\nurl = "ftp://x"', "feeds[0].url: 'ftp://x' is not an http(s) URL"),
        (
            '[[feeds]]\nurl = "https://a.org/"\n[[feeds]]\nurl = "https://a.org/"',
            "feeds[1].url: 'https://a.org/' is listed twice",
        ),
        ("[fetch]\nconcurency = 5", "fetch.concurency: unknown key; did you mean 'concurrency'?"),
        ('[fetch]\ntimeout_s = "soon"', "fetch.timeout_s: expected a number"),
        ("[fetch]\nper_host = 0", "fetch.per_host: 0 must be between 1 and 100"),
        (
            '[fetch]\ndefault_interval = "ten minutes"',
            "fetch.default_interval: 'ten minutes' is not a duration",
        ),
        ('[feeds]\nurl = "https://a.org"', "feeds: expected an array of tables"),
        ('[stroage]\npath = "x"', "stroage: unknown key; did you mean 'storage'?"),
        ('[slack]\ntoken = "xoxb-1"', "token: secrets are not read from config files"),
        (
            '[[channels]]\nplatform = "teams"\nid = "x"',
            "channels[0].platform: 'teams' is not one of discord, slack, console",
        ),
        (
            '[[channels]]\nplatform = "slack"\nid = "general"',
            "channels[0].id: 'general' is not a Slack channel id",
        ),
        (
            '[[channels]]\nplatform = "console"\nid = "x"\nactors = ["puttin"]',
            "channels[0].actors[0]: unknown actor id 'puttin'; did you mean 'putin'?",
        ),
        (
            '[[channels]]\nplatform = "console"\nid = "x"\ntimezone = "Mars/Olympus"',
            "channels[0].timezone: 'Mars/Olympus' is not a known timezone",
        ),
        (
            '[[channels]]\nplatform = "console"\nid = "x"\ndigest_cron = "every day"',
            "channels[0].digest_cron: 'every day' is not a 5-field cron",
        ),
        (
            '[[channels]]\nplatform = "console"\nid = "x"\ndigest_cron = "0 25 * * *"',
            "channels[0].digest_cron: '0 25 * * *' is not a valid cron",
        ),
        (
            '[[channels]]\nplatform = "console"\nid = "x"\nquiet_hours = "late"',
            "channels[0].quiet_hours: 'late' is not a window",
        ),
        (
            '[[channels]]\nplatform = "console"\nid = "x"\nmin_score = 2',
            "channels[0].min_score: 2 must be between",
        ),
        ('[watchlist]\ninclude = ["missing.toml"]', "watchlist.include[0]:"),
        ("[storage\n", "not valid TOML"),
    ],
)
def test_errors_name_the_key_path(tmp_path: Path, body: str, message: str) -> None:
    path = write_config(
        tmp_path,
        '[watchlist]\ninclude = ["watchlist.toml"]\n' + body
        if not body.startswith("[watchlist]") and not body.startswith("[storage\n")
        else body,
    )
    with pytest.raises(ConfigError) as e:
        load_config(path, environ={})
    assert message in str(e.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("value", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), (45, 45)]
)
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value, key="k") == seconds


@pytest.mark.parametrize("value", ["5s", "0m", "1w", "", True, 1.5])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^k: "):
        parse_duration(value, key="k")


def test_quiet_hours_wrap_midnight() -> None:
    window = parse_quiet_hours("22:00-07:30", key="q")
    assert (window.start.hour, window.end.hour, window.end.minute) == (22, 7, 30)
    with pytest.raises(ConfigError, match="impossible"):
        parse_quiet_hours("25:00-07:00", key="q")
