"""Benchmark figures: a table for people and one JSON line per figure for machines. Targets are shown,
never asserted."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from feeds.compiled import COMPILED_MODULES, compiled_modules

ParamValue = str | int | float


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A figure a benchmark aims for: ``value`` is a floor (``at_least``) or a ceiling."""

    value: float
    at_least: bool
    text: str

    def met_by(self, value: float) -> bool:
        """Whether ``value`` meets the target."""
        return value >= self.value if self.at_least else value <= self.value


def at_least(value: float, text: str) -> Target:
    """A floor, shown as ``text`` (e.g. ``">= 10,000 feeds/min"``)."""
    return Target(value=value, at_least=True, text=text)


def at_most(value: float, text: str) -> Target:
    """A ceiling, shown as ``text``."""
    return Target(value=value, at_least=False, text=text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One measured number with what it measured, its unit and, if there is one, its target."""

    bench: str
    name: str
    value: float | None  # None: could not be measured (``note`` says why)
    unit: str
    params: tuple[tuple[str, ParamValue], ...] = ()
    target: Target | None = None
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        """True/False against the target; None without a target or a value."""
        if self.target is None or self.value is None:
            return None
        return self.target.met_by(self.value)

    def as_json(self) -> str:
        """The figure as one JSON object on one line."""
        return json.dumps(
            {
                "bench": self.bench,
                "figure": self.name,
                "value": None if self.value is None else round(self.value, 6),
                "unit": self.unit,
                "params": dict(self.params),
                "target": None if self.target is None else self.target.text,
                "meets_target": self.meets_target,
                "note": self.note or None,
            },
            ensure_ascii=False,
        )


def format_value(value: float | None) -> str:
    """A number with sensible precision for a table (thousands separated, 3 significant digits below 100)."""
    if value is None:
        return "n/a"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _params_text(params: tuple[tuple[str, ParamValue], ...]) -> str:
    return " ".join(f"{key}={format_value(v) if isinstance(v, float) else v}" for key, v in params)


def render_table(title: str, figures: Sequence[Figure], notes: Sequence[str] = ()) -> str:
    """A plain-text table of ``figures`` under ``title``, then the notes."""
    rows = [("figure", "params", "value", "unit", "target", "")]
    for f in figures:
        verdict = {True: "ok", False: "BELOW" if f.target and f.target.at_least else "ABOVE", None: ""}[
            f.meets_target
        ]
        rows.append(
            (
                f.name,
                _params_text(f.params),
                format_value(f.value),
                f.unit,
                f.target.text if f.target else "",
                verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    aligned_right = {2}
    lines = [f"== {title} =="]
    for number, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if i in aligned_right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    for f in figures:
        if f.note:
            params = _params_text(f.params)
            lines.append(f"  * {f.name}" + (f" ({params})" if params else "") + f": {f.note}")
    lines.extend(f"  - {note}" for note in notes)
    return "\n".join(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """What one benchmark reports: its figures and free-text notes (method, caveats, findings)."""

    title: str
    figures: tuple[Figure, ...]
    notes: tuple[str, ...] = ()


def print_section(section: Section, *, out: TextIO = sys.stdout) -> None:
    """The table, then the JSON lines, flushed so progress shows while later benchmarks run."""
    print(render_table(section.title, section.figures, section.notes), file=out)
    for figure in section.figures:
        print(figure.as_json(), file=out)
    print(file=out, flush=True)


def machine_line() -> str:
    """Where the figures come from: Python, platform, CPU count and how much of feeds runs compiled."""
    compiled = len(compiled_modules())
    return (
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {compiled} of {len(COMPILED_MODULES)} feeds modules compiled"
    )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays the report."""
    print(f"  .. {message}", file=sys.stderr, flush=True)
