"""The quality bar as the evaluation measures it: `diplowatch classify` output scored by score.py."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType

import pytest

from bot.classify_command import classify_stream
from feeds.watchlist_file import load_watchlist

EVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "eval"


def load_score_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("diplowatch_eval_score", EVAL / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (EVAL / "dev.jsonl").exists(), reason="../shared/eval not found beside the checkout")
def test_dev_set_meets_the_quality_bar() -> None:
    score = load_score_module()
    out = io.StringIO()
    with (EVAL / "dev.jsonl").open(encoding="utf-8") as lines:
        assert classify_stream(lines, out, io.StringIO(), load_watchlist(EVAL / "watchlist.toml")) == 0
    gold = score.load(str(EVAL / "dev.jsonl"))
    predictions = {p["id"]: p for p in map(json.loads, out.getvalue().splitlines())}
    assert set(predictions) == {g["id"] for g in gold}
    (_, _, actors_f1), _ = score.set_scores(gold, predictions, "actors")
    (_, _, topics_f1), _ = score.set_scores(gold, predictions, "topics")
    _, _, stories_f1 = score.story_scores(gold, predictions)
    print(f"actors F1={actors_f1:.3f} topics F1={topics_f1:.3f} stories F1={stories_f1:.3f}")
    assert actors_f1 >= 0.98
    assert topics_f1 >= 0.90
    assert stories_f1 >= 0.85
