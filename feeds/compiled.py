"""Which CPU-heavy modules run compiled: setup.py builds them with mypyc when a C compiler is at hand, and
each stays plain Python otherwise (same behaviour, slower)."""

from __future__ import annotations

import importlib
from pathlib import Path

# Keep in step with COMPILED in setup.py and the Makefile (a test compares them).
COMPILED_MODULES = ("feeds.classify", "feeds.normalize", "feeds.parse", "feeds.stories", "feeds.textnorm")


def compiled_modules() -> list[str]:
    """The modules of ``COMPILED_MODULES`` imported from a compiled extension rather than from source."""
    return [name for name in COMPILED_MODULES if not _origin(name).endswith(".py")]


def stale_compiled_modules() -> list[str]:
    """Compiled modules whose source changed after they were built: Python imports the extension over
    the edited source, so these run old code until reinstalled (``make test`` and ``make demo`` do it)."""
    stale = []
    for name in compiled_modules():
        built = Path(_origin(name))
        source = built.with_name(name.rpartition(".")[2] + ".py")
        if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
            stale.append(name)
    return stale


def _origin(name: str) -> str:
    return importlib.import_module(name).__file__ or ""
