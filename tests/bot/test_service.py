"""Service wiring: the parse worker pool."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    from bot.service import parse_executor

    if __name__ == "__main__":
        pool = parse_executor(2)
        heavy = "('aiohttp', 'bot', 'discord', 'slack_bolt')"
        probe = f"sorted(m for m in {heavy} if m in __import__('sys').modules)"
        print(sorted({tuple(pool.submit(eval, probe).result()) for _ in range(6)}))
        pool.shutdown()
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
    assert out.stdout.strip() == "[()]"
