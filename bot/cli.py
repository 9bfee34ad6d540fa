"""Command line: ``diplowatch demo|run|poll|classify|check-config``; errors are one clear line, exit 1."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.classify_command import classify_stream
from bot.config import Config, load_config, parse_config
from bot.demo import DemoFeedServer, demo_feeds, demo_watchlist_path
from bot.poller import FeedPollResult, PollRound
from bot.render import message_to_text, render_digest
from bot.scheduler import build_scheduler
from bot.service import Service, open_service, utc_now
from bot.status import status_lines
from feeds.errors import DiplowatchError
from feeds.watchlist_file import load_watchlist
from storage.db import open_database

log = logging.getLogger("diplowatch")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="diplowatch", description="Watch diplomatic news feeds and tell your team chat, fast and once."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole pipeline offline on the bundled sample feeds")
    demo.add_argument("--state", type=Path, default=Path("demo-state"), help="folder for the demo database")
    demo.add_argument("--port", type=int, default=8765, help="port of the local sample-feed server")

    run = sub.add_parser("run", help="poll feeds on schedule and deliver to the configured channels")
    run.add_argument("-c", "--config", type=Path, required=True)

    poll = sub.add_parser("poll", help="poll the due feeds")
    poll.add_argument("-c", "--config", type=Path, required=True)
    poll.add_argument("--once", action="store_true", required=True, help="poll once and exit")
    poll.add_argument("--all", action="store_true", help="poll every feed, not only the due ones")

    status = sub.add_parser("status", help="print feed health and channel delivery state from storage")
    status.add_argument("-c", "--config", type=Path, required=True)

    check = sub.add_parser("check-config", help="validate a config file and print a summary")
    check.add_argument("config", type=Path)

    classify = sub.add_parser(
        "classify",
        help="classify JSON lines (id, title, summary, …) against a watchlist; one JSON line out each",
    )
    classify.add_argument("input", nargs="?", type=Path, help="JSON-lines file (default: stdin)")
    source = classify.add_mutually_exclusive_group(required=True)
    source.add_argument("-w", "--watchlist", type=Path, help="watchlist TOML file")
    source.add_argument("-c", "--config", type=Path, help="config file whose watchlist to use")
    classify.add_argument(
        "--explain", action="store_true", help="after each line, every hit and why it was kept"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # APScheduler logs every job run at INFO: too chatty next to our own progress lines.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        if args.command == "check-config":
            return check_config(args.config, sys.stdout)
        if args.command == "classify":
            return run_classify(args, sys.stdout)
        if args.command == "demo":
            make_folder(args.state)
            return asyncio.run(run_demo(args.state, args.port, sys.stdout))
        if args.command == "poll":
            return asyncio.run(poll_once(load_config(args.config), sys.stdout, poll_all=args.all))
        if args.command == "status":
            return asyncio.run(print_status(load_config(args.config), sys.stdout))
        if args.command == "run":
            return asyncio.run(run_forever(load_config(args.config), sys.stdout))
    except DiplowatchError as e:
        print(f"diplowatch: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        sys.stderr.close()
        return 0
    return 2


async def print_status(config: Config, out: TextIO) -> int:
    """Print feed health and channel delivery state (opens only the database: no tokens needed)."""
    if not config.storage.path.exists():
        raise DiplowatchError(
            f"no database at {config.storage.path} yet: run `diplowatch poll` or `run` first"
        )
    async with await open_database(config.storage.path) as db:
        for line in await status_lines(db, utc_now()):
            print(line, file=out)
    return 0


def make_folder(path: Path) -> None:
    """Create ``path`` (and parents) or raise a clear error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DiplowatchError(f"cannot create the folder {path}: {e.strerror}") from e


def check_config(path: Path, out: TextIO) -> int:
    """Print a summary of a valid config (errors propagate as ConfigError)."""
    config = load_config(path)
    secrets = [
        name
        for name, present in (
            ("DISCORD_TOKEN", config.secrets.discord_token),
            ("SLACK_BOT_TOKEN", config.secrets.slack_bot_token),
            ("SLACK_SIGNING_SECRET", config.secrets.slack_signing_secret),
            ("SLACK_APP_TOKEN", config.secrets.slack_app_token),
        )
        if present
    ]
    print(f"{path}: OK", file=out)
    print(f"  storage: {config.storage.path}", file=out)
    print(f"  feeds: {len(config.feeds)}", file=out)
    for feed in config.feeds:
        print(f"    - {feed.name} <{feed.url}> every {feed.interval_s}s", file=out)
    print(
        f"  watchlist: {len(config.watchlist.actors)} actors, {len(config.watchlist.topics)} topics", file=out
    )
    print(f"  channels: {len(config.channels)}", file=out)
    for ch in config.channels:
        print(
            f"    - {ch.platform}:{ch.id} mode={ch.mode} actors={','.join(ch.actors)} "
            f"topics={','.join(ch.topics)}",
            file=out,
        )
    print(f"  secrets in environment: {', '.join(secrets) if secrets else 'none'}", file=out)
    return 0


def run_classify(args: argparse.Namespace, out: TextIO) -> int:
    """The ``classify`` contract: JSON lines in, one JSON line out per input line, in order."""
    watchlist = load_watchlist(args.watchlist) if args.watchlist else load_config(args.config).watchlist
    if args.input is None:
        return classify_stream(sys.stdin, out, sys.stderr, watchlist, explain=args.explain)
    try:
        with args.input.open(encoding="utf-8") as stream:
            return classify_stream(stream, out, sys.stderr, watchlist, explain=args.explain)
    except OSError as e:
        raise DiplowatchError(f"cannot read {args.input}: {e.strerror}") from e


def print_results(results: Sequence[FeedPollResult], out: TextIO) -> None:
    """One progress line per feed."""
    lines = ProgressLines()
    for result in results:
        lines.add(result)
    lines.print(out)


class ProgressLines:
    """A poll's progress lines gathered as results stream in (a line each, not the items), printed sorted."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.tally = PollRound()

    def add(self, result: FeedPollResult) -> None:
        """Note one feed's result."""
        self.lines.append((result.feed.name.casefold(), result.describe()))
        self.tally.count(result)

    def print(self, out: TextIO) -> None:
        """A line per feed by name, then the totals."""
        for _, line in sorted(self.lines):
            print(f"  {line}", file=out)
        t = self.tally
        failed = len(t.failures)
        print(f"  → {t.new_items} new items; {t.unchanged} feeds unchanged; {failed} failed", file=out)


async def poll_once(config: Config, out: TextIO, *, poll_all: bool = False) -> int:
    """Poll due (or all) feeds once, print a line per feed and the new stories."""
    lines = ProgressLines()
    async with await open_service(config) as service:
        if poll_all:
            await service.poller.stream_feeds(await service.poller.feeds.all(), lines.add)
        else:
            await service.poller.stream_due(lines.add)
    lines.print(out)
    return 0


async def run_demo(state: Path, port: int, out: TextIO) -> int:
    """Serve the sample feeds on 127.0.0.1, poll them twice through the real path, print the digest."""
    feeds = demo_feeds()
    async with DemoFeedServer(feeds, port=port) as server:
        watchlist = load_watchlist(demo_watchlist_path())
        base = load_config_for_demo(state, server, [f.filename for f in feeds], [f.name for f in feeds])
        config = replace(base, watchlist=watchlist)
        async with await open_service(config) as service:
            all_feeds = await service.poller.feeds.all()
            print(f"Polling {len(all_feeds)} sample feeds from {server.base_url} …", file=out)
            print_results(await service.poller.poll_feeds(all_feeds), out)
            print("Polling again (conditional GET: expect 304s and nothing new) …", file=out)
            print_results(await service.poller.poll_feeds(await service.poller.feeds.all()), out)
            print("", file=out)
            await print_stored_digest(service, out)
    print(f"\n(database: {config.storage.path}; run `make demo` again: nothing new is found)", file=out)
    return 0


def load_config_for_demo(
    state: Path, server: DemoFeedServer, filenames: Sequence[str], names: Sequence[str]
) -> Config:
    """The demo's config: the sample feeds on the local server, private networks allowed explicitly."""
    data: dict[str, object] = {
        "storage": {"path": str((state / "diplowatch.db").resolve())},
        "fetch": {"allow_private_networks": True, "timeout_s": 10, "workers": 1},
        "feeds": [
            {"url": server.url(f), "name": n, "interval": "10m"}
            for f, n in zip(filenames, names, strict=True)
        ],
    }
    return parse_config(data, base_dir=state)


# The demo digest shows what a channel with this min_score gets: a lone passing mention of a tracked state
# scores about 0.4, a story with a topic or a named official well above.
DEMO_MIN_SCORE = 0.5


async def print_stored_digest(
    service: Service, out: TextIO, *, limit: int = 40, min_score: float = DEMO_MIN_SCORE
) -> None:
    """Print the stored stories that name a tracked actor or topic and score at least ``min_score``,
    grouped by actor and topic, as a channel with that ``min_score`` would get them."""
    since = datetime(1970, 1, 1, tzinfo=UTC)
    tracked = [s for s in await service.poller.stories.recent(since, limit=1000) if s.actors or s.topics]
    stories = [s for s in tracked if s.score >= min_score]
    if not stories:
        print("No stored story names a tracked actor or topic yet.", file=out)
        return
    message = render_digest(
        stories,
        period_start=min(src.published for s in stories for src in s.sources),
        period_end=max(src.published for s in stories for src in s.sources),
        timezone="UTC",
        watchlist=service.poller.classifier.watchlist,
        channel_actors=["*"],
        channel_topics=["*"],
        max_stories=limit,
    )
    if message is not None:
        print(message_to_text(message), file=out, end="")
    weak = len(tracked) - len(stories)
    if weak:
        print(
            f"\n({weak} weaker {'story' if weak == 1 else 'stories'} scoring under {min_score} left out, "
            f"as for a channel with min_score = {min_score}.)",
            file=out,
        )


async def run_forever(config: Config, out: TextIO) -> int:
    """Poll, alert and send digests on schedule until interrupted (SIGINT/SIGTERM)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with await open_service(config) as service:
        await service.start_platforms()
        await service.serve_slack()
        now = service.clock()
        await service.dispatcher.catch_up_digests(now=now, watchlist=service.poller.classifier.watchlist)
        scheduler = await build_scheduler(service, out=out)
        scheduler.start()
        print(
            f"diplowatch running: {len(config.feeds)} feeds, {len(config.channels)} channels; Ctrl-C to stop",
            file=out,
        )
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
    return 0
