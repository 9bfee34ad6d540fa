"""The command line: demo, classify contract, check-config, status — clear one-line errors, exit codes."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest

from bot.classify_command import classify_stream
from bot.cli import main
from feeds.models import Actor, Topic, Watchlist

WATCHLIST = Watchlist(
    actors=(
        Actor(id="putin", name="Vladimir Putin", kind="person", aliases=("Putin", "Путин*")),
        Actor(id="witkoff", name="Steve Witkoff", kind="person", aliases=("Witkoff", "Уиткофф*")),
    ),
    topics=(Topic(id="peace-talks", name="Peace talks", any=("talks", "переговор*")),),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_demo_twice_finds_nothing_new_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    assert main(["demo", "--state", str(tmp_path / "state"), "--port", str(port)]) == 0
    first = capsys.readouterr().out
    assert "Reuters World: 5 new" in first
    assert "0 new (304 not modified)" in first  # the second poll of the same run
    assert "## " in first and "Also reported by" in first  # grouped digest with sources
    # A story that only mentions a tracked state in passing stays out of the digest, and the demo says so.
    assert "Kyiv cafes adapt to blackout schedules" not in first
    assert "weaker stories scoring under 0.5 left out" in first
    assert main(["demo", "--state", str(tmp_path / "state"), "--port", str(port)]) == 0
    second = capsys.readouterr().out
    assert "→ 0 new items; 6 feeds unchanged; 0 failed" in second


def test_demo_port_in_use_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["demo", "--state", str(tmp_path), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("diplowatch: error: cannot start the demo feed server") and err.count("\n") == 1


def test_classify_contract() -> None:
    lines = [
        json.dumps(
            {"id": "a", "title": "Putin meets Witkoff for talks", "summary": "<p>In the Kremlin.</p>"}
        ),
        "{not json",
        json.dumps({"id": "b", "title": "Путин и Уиткофф провели переговоры", "summary": ""}),
        json.dumps({"title": "no id"}),
        json.dumps({"id": 7, "title": "Weather", "summary": "Sunny."}),
    ]
    out, err = io.StringIO(), io.StringIO()
    assert classify_stream(lines, out, err, WATCHLIST) == 1
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in records] == ["a", "b", 7]
    assert records[0]["actors"] == ["putin", "witkoff"] and records[0]["topics"] == ["peace-talks"]
    assert records[1]["actors"] == ["putin", "witkoff"]
    assert records[2]["actors"] == [] and records[2]["score"] == 0
    assert isinstance(records[0]["story"], str) and records[0]["story"] != records[2]["story"]
    assert "line 2: not valid JSON" in err.getvalue()
    assert "line 4: 'id' is missing" in err.getvalue()


def test_classify_explain_names_each_hit() -> None:
    out = io.StringIO()
    line = json.dumps({"id": "a", "title": "Putin's talks", "summary": ""})
    assert classify_stream([line], out, io.StringIO(), WATCHLIST, explain=True) == 0
    text = out.getvalue()
    assert "  # " in text and "putin" in text.lower()


def test_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[feeds]]\nurl = "https://example.org/rss"\nname = "Example"\n', encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    assert "feeds: 1" in capsys.readouterr().out
    path.write_text('[[feeds]]\nurl = "ftp://x"\n', encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    assert capsys.readouterr().err == "diplowatch: error: feeds[0].url: 'ftp://x' is not an http(s) URL\n"


def test_unwritable_database_path_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\npath = "{blocker}/sub/dw.db"\n', encoding="utf-8")
    assert main(["poll", "-c", str(path), "--once"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("diplowatch: error: cannot open database") and "Traceback" not in err


def test_status_reads_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["demo", "--state", str(tmp_path / "state"), "--port", str(port)]) == 0
    capsys.readouterr()
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\npath = "{tmp_path / "state" / "diplowatch.db"}"\n', encoding="utf-8")
    assert main(["status", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Feeds: 6 (0 paused, 0 failing)" in out and "TASS" in out
