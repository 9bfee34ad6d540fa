"""Third-party types stay at the edges and data flows one way: checked by walking every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("feeds", "storage", "bot")

# Which modules may import which third-party library (prefix match on the imported name).
CONFINED = {
    "feedparser": {"feeds/parse.py"},
    "fastfeedparser": {"feeds/parse.py"},
    "discord": {"bot/platforms/discord.py"},
    "slack_bolt": {"bot/platforms/slack.py"},
    "slack_sdk": {"bot/platforms/slack.py"},
    "aiosqlite": {"storage/db.py"},
    "sqlite3": {"storage/db.py"},
}
# Which of our packages each package must not import.
FORBIDDEN = {"feeds": {"storage", "bot"}, "storage": {"bot"}}


def imported_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_respect_the_layers(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    package = relative.split("/")[0]
    for name in imported_names(path):
        top = name.split(".")[0]
        allowed = CONFINED.get(top)
        assert allowed is None or relative in allowed, (
            f"{relative} imports {name}; only {sorted(allowed)} may"
        )
        assert top not in FORBIDDEN.get(package, set()), f"{relative} imports {name}: data flows one way"


def test_the_walk_sees_the_confined_imports() -> None:
    # Guards the test itself: if the walker found nothing, every module would pass.
    assert "feedparser" in imported_names(ROOT / "feeds" / "parse.py")
    assert "discord" in {n.split(".")[0] for n in imported_names(ROOT / "bot" / "platforms" / "discord.py")}
