"""Build hook: compiles the CPU-heavy modules of ``feeds`` with mypyc when a C compiler is at hand.

Every module stays plain Python too: without a compiler, or with DIPLOWATCH_PURE_PYTHON=1, the package
installs and runs uncompiled, only slower. Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

# Parse, normalise, match and fingerprint: where a poll's CPU time goes. Keep in step with
# feeds/compiled.py and the Makefile (tests/feeds/test_compiled.py compares them).
COMPILED = [
    "feeds/classify.py",
    "feeds/normalize.py",
    "feeds/parse.py",
    "feeds/stories.py",
    "feeds/textnorm.py",
]


def _fall_back(what: str, error: Exception) -> None:
    print(f"diplowatch: compiling {what} failed ({error}); it runs as plain Python", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Falls back to the plain modules when the C build fails: slower, never broken."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler or no headers: speed alone must not fail an install
            _fall_back("feeds", e)

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:
            _fall_back(ext.name, e)


def compiled_extensions() -> list[Any]:
    """mypyc's extensions for COMPILED; none when mypyc is missing or DIPLOWATCH_PURE_PYTHON=1."""
    if os.environ.get("DIPLOWATCH_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    # The build environment holds mypy but not our dependencies: their types are taken as Any there.
    return mypycify(["--ignore-missing-imports", *COMPILED], opt_level="3", group_name="diplowatch_native")


setup(ext_modules=compiled_extensions(), cmdclass={"build_ext": OptionalBuildExt})
