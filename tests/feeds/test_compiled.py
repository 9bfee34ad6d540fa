"""The compiled build (setup.py): the same modules everywhere, and never older than their sources."""

from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import pytest

import feeds
from feeds import compiled
from feeds.compiled import COMPILED_MODULES, compiled_modules, stale_compiled_modules

ROOT = Path(feeds.__file__).parent.parent


def _setup_py_list() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(v) for v in value]
    raise AssertionError("setup.py has no COMPILED list")


def _as_paths(modules: tuple[str, ...]) -> list[str]:
    return [m.replace(".", "/") + ".py" for m in modules]


def test_setup_py_and_makefile_compile_the_listed_modules() -> None:
    assert _setup_py_list() == _as_paths(COMPILED_MODULES)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    listed = re.search(r"^COMPILED := (.*)$", makefile, re.MULTILINE)
    assert listed is not None
    assert listed.group(1).split() == _as_paths(COMPILED_MODULES)


def test_compiled_modules_are_a_subset_of_the_list() -> None:
    assert set(compiled_modules()) <= set(COMPILED_MODULES)


def test_no_compiled_module_is_older_than_its_source() -> None:
    # A stale extension shadows the edited source: the suite would test old code. `make test` reinstalls
    # (and so rebuilds) whenever one of these sources changes.
    assert stale_compiled_modules() == [], "sources edited after compiling: run `make test`, which rebuilds"


def test_an_edited_source_makes_its_compiled_module_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = tmp_path / "stories.cpython-311-x86_64-linux-gnu.so"
    source = tmp_path / "stories.py"
    built.write_bytes(b"")
    source.write_text("")
    now = time.time()
    os.utime(built, (now, now))
    os.utime(source, (now - 60, now - 60))
    origins = {"feeds.stories": str(built), "feeds.parse": str(tmp_path / "parse.py")}
    monkeypatch.setattr(compiled, "_origin", lambda name: origins.get(name, f"/src/{name}.py"))
    assert compiled_modules() == ["feeds.stories"]
    assert stale_compiled_modules() == []
    os.utime(source, (now + 60, now + 60))
    assert stale_compiled_modules() == ["feeds.stories"]
