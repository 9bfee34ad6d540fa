"""The labelled evaluation set: micro-F1 of actors and topics, by shared/eval/score.py's own metric."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from feeds.classify import compile_watchlist, match_watchlist
from feeds.models import Item
from feeds.normalize import html_to_text, normalize_text
from feeds.watchlist_file import load_watchlist

EVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "eval"
MIN_ACTORS_F1 = 0.98
MIN_TOPICS_F1 = 0.90


def _score_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shared_eval_score", EVAL / "score.py")
    if spec is None or spec.loader is None:
        pytest.skip(f"../shared not found: cannot load {EVAL / 'score.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures() -> dict[str, tuple[float, float, float]]:
    """(precision, recall, F1) for actors and topics over dev.jsonl, as ``score.py`` computes them."""
    if not (EVAL / "dev.jsonl").exists():
        pytest.skip(f"../shared not found: {EVAL / 'dev.jsonl'}")
    score = _score_module()
    load = cast(Callable[[str], list[dict[str, Any]]], score.load)
    set_scores = cast(Callable[..., tuple[tuple[float, float, float], Any]], score.set_scores)
    compiled = compile_watchlist(load_watchlist(EVAL / "watchlist.toml"))
    gold = load(str(EVAL / "dev.jsonl"))
    predictions: dict[str, dict[str, list[str]]] = {}
    for labelled in gold:
        item = Item(
            identity=f"eval:{labelled['id']}",
            guid=None,
            url=None,
            title=normalize_text(html_to_text(labelled["title"])),
            summary=html_to_text(labelled["summary"]),
            published=datetime(2025, 1, 1, tzinfo=UTC),
            published_estimated=True,
            content_hash="",
        )
        match = match_watchlist(item, compiled)
        predictions[labelled["id"]] = {"actors": list(match.actors), "topics": list(match.topics)}
    actors, _ = set_scores(gold, predictions, "actors")
    topics, _ = set_scores(gold, predictions, "topics")
    print(
        f"\ndev.jsonl: actors P={actors[0]:.3f} R={actors[1]:.3f} F1={actors[2]:.3f} | "
        f"topics P={topics[0]:.3f} R={topics[1]:.3f} F1={topics[2]:.3f}"
    )
    return {"actors": actors, "topics": topics}


def test_actor_micro_f1_meets_the_bar(figures: dict[str, tuple[float, float, float]]) -> None:
    precision, recall, f1 = figures["actors"]
    assert f1 >= MIN_ACTORS_F1, f"actors P={precision:.3f} R={recall:.3f} F1={f1:.3f} < {MIN_ACTORS_F1}"


def test_topic_micro_f1_meets_the_bar(figures: dict[str, tuple[float, float, float]]) -> None:
    precision, recall, f1 = figures["topics"]
    assert f1 >= MIN_TOPICS_F1, f"topics P={precision:.3f} R={recall:.3f} F1={f1:.3f} < {MIN_TOPICS_F1}"
