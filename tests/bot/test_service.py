"""Service wiring: the parse worker pool."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.service import parse_executor, parse_worker_count, tune_main_process

SCRIPT = textwrap.dedent(
    """
    import asyncio

    from bot.service import parse_executor

    async def main():
        pool = parse_executor(2)
        heavy = "('aiohttp', 'bot', 'discord', 'slack_bolt')"
        probe = f"sorted(m for m in {heavy} if m in __import__('sys').modules)"
        loop = asyncio.get_running_loop()
        loaded = await asyncio.gather(*(loop.run_in_executor(pool, eval, probe) for _ in range(6)))
        print(sorted({tuple(modules) for modules in loaded}), len(pool.pids))
        pool.shutdown()

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


def test_parse_workers_do_not_rerun_the_main_script(tmp_path: Path) -> None:
    # Like the `diplowatch` console script, a main script that imports the whole application: a spawned
    # worker would run it again (chat clients and all) unless the pool starts its workers under a bare main.
    script = tmp_path / "main_script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=root, timeout=120
    )
    assert out.stdout.strip() == "[()] 2"


PLATFORMS_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import bot.cli  # what the `diplowatch` console script loads
    from bot.service import build_platforms
    from tests.bot.conftest import make_config

    def loaded():
        heavy = ("discord", "slack_bolt", "slack_sdk", "fastfeedparser", "feedparser", "lxml")
        return sorted(m for m in heavy if m in sys.modules)

    print(loaded())
    config = make_config(
        Path(sys.argv[1]),
        {},
        channels=[{"platform": "slack", "id": "C0123456789"}],
        environ={"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s"},
    )
    print(sorted(build_platforms(config)), loaded())
    """
)


def test_a_chat_library_is_loaded_only_for_a_platform_in_use(tmp_path: Path) -> None:
    # discord.py and slack-bolt take tens of MB and most of the start-up: `diplowatch poll`, `classify` or a
    # Slack-only team need not load discord.py. The feed parsers load where feeds are parsed (the workers).
    script = tmp_path / "platforms_script.py"
    script.write_text(PLATFORMS_SCRIPT, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert out.stdout.splitlines() == ["[]", "['slack'] ['slack_bolt', 'slack_sdk']"]


@pytest.mark.parametrize(
    ("configured", "cpus", "processes"),
    [
        (0, 1, 0),  # a single CPU: parsing stays in the main process
        (0, 2, 1),  # the main process fetches and writes on one CPU, a worker parses on the other
        (0, 8, 7),
        (0, None, 0),  # CPU count unknown
        (1, 8, 0),  # 1: parse in the main process, whatever the machine
        (3, 2, 3),  # an explicit count is taken as given
    ],
)
def test_parse_worker_count(
    monkeypatch: pytest.MonkeyPatch, configured: int, cpus: int | None, processes: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert parse_worker_count(configured) == processes


def test_no_parse_pool_when_parsing_stays_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert parse_executor(0) is None
    assert parse_executor(1) is None


def test_tune_main_process_shortens_the_gil_switch_interval_and_collects_less_often() -> None:
    before, thresholds = sys.getswitchinterval(), gc.get_threshold()
    try:
        sys.setswitchinterval(0.005)
        gc.set_threshold(700, 10, 10)
        tune_main_process()
        assert sys.getswitchinterval() == pytest.approx(0.0002, rel=0.01)
        assert gc.get_threshold() == (20_000, 10, 10)
    finally:
        sys.setswitchinterval(before)
        gc.set_threshold(*thresholds)
