"""``python -m bench [--quick] [--only poll,peer,classify,stories,search,deliver] [--seed N]``: run the
benchmarks in order and print each table (then its JSON lines) as it finishes."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.feedserver import DEFAULT_SEED
from bench.report import Section, machine_line, print_section
from bench.rounds import PollRun


@dataclass(frozen=True, slots=True, kw_only=True)
class Benchmark:
    """One benchmark: its name on the command line and the module whose ``run`` measures it."""

    name: str
    module: str
    takes_poll_runs: bool = False


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(name="poll", module="bench.bench_poll", takes_poll_runs=True),
    Benchmark(name="peer", module="bench.bench_peer", takes_poll_runs=True),
    Benchmark(name="classify", module="bench.bench_classify"),
    Benchmark(name="stories", module="bench.bench_stories"),
    Benchmark(name="search", module="bench.bench_search"),
    Benchmark(name="deliver", module="bench.bench_deliver"),
)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: finishes in about a minute")
    parser.add_argument(
        "--only", default="", help="comma-separated subset of: " + ",".join(b.name for b in BENCHMARKS)
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"generator seed (default {DEFAULT_SEED})"
    )
    return parser.parse_args(argv)


def selected(only: str) -> list[Benchmark]:
    """The benchmarks to run, in their fixed order; exits with a message on an unknown name."""
    if not only.strip():
        return list(BENCHMARKS)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {b.name for b in BENCHMARKS}
    if unknown:
        sys.exit(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from "
            + ", ".join(b.name for b in BENCHMARKS)
        )
    return [b for b in BENCHMARKS if b.name in wanted]


def run_one(benchmark: Benchmark, *, quick: bool, seed: int, poll_runs: dict[int, PollRun]) -> Section:
    """Import and run one benchmark."""
    module = importlib.import_module(benchmark.module)
    run: Callable[..., Section] = module.run
    if benchmark.takes_poll_runs:
        return run(quick=quick, seed=seed, runs=poll_runs)
    return run(quick=quick, seed=seed)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; 1 if any of them failed to run (timings are never judged)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    mode = "quick" if args.quick else "full"
    print(f"diplowatch benchmarks ({mode}, seed {args.seed}) — {machine_line()}", flush=True)
    poll_runs: dict[int, PollRun] = {}
    failed: list[str] = []
    started = time.perf_counter()
    for benchmark in selected(args.only):
        begun = time.perf_counter()
        try:
            section = run_one(benchmark, quick=args.quick, seed=args.seed, poll_runs=poll_runs)
        except Exception:
            failed.append(benchmark.name)
            print(f"== {benchmark.name}: could not run ==", flush=True)
            traceback.print_exc()
            print(flush=True)
            continue
        print_section(section)
        print(f"({benchmark.name} took {time.perf_counter() - begun:.1f} s)\n", flush=True)
    print(
        f"all done in {time.perf_counter() - started:.1f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
