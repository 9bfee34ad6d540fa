"""``feeds add`` probes a real local feed server; the other feed commands run on a real database."""

from __future__ import annotations

from bot.commands import CommandRunner, CommandSettings, fetcher_probe
from feeds.fetch import Fetcher
from feeds.models import FeedState
from storage.audit import AuditRepository
from storage.db import Database
from storage.feeds import FeedRepository
from tests.bot.commands.conftest import (
    ADMIN,
    T0,
    USER,
    FeedsAdded,
    ManualClock,
    add_feed,
    make_item,
    make_runner,
    store_story,
)
from tests.fakes.feed_server import FeedServer


def _rss(*titles: str, title: str = "Example World News") -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/news/{i}</link><guid>item-{i}</guid>"
        f"<pubDate>Mon, 20 May 2024 10:{i:02d}:00 GMT</pubDate><description>About {t}.</description></item>"
        for i, t in enumerate(titles)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://example.org/</link><description>News</description>{items}</channel></rss>").encode()


async def test_feeds_add_probes_the_feed_and_polls_it_at_once(
    runner: CommandRunner, db: Database, feed_server: FeedServer, feeds_added: FeedsAdded
) -> None:
    body = _rss("Talks resume in Geneva", "Sanctions widened", "Envoy named", "Fourth")
    feed_server.serve("/world.xml", body)
    url = feed_server.url("/world.xml")
    reply = await runner.run_text(ADMIN, f"feeds add {url} interval:15m")
    assert reply.kind == "result", reply.to_text()
    [feed] = await FeedRepository(db).all()
    assert (feed.url, feed.name, feed.interval_s) == (url, "Example World News", 900)
    assert reply.title == f"Added feed #{feed.id} Example World News"
    assert reply.lines[:5] == (
        "Polled every 15 min; first poll now.",
        "It has 4 items; the first:",
        "• Talks resume in Geneva",
        "• Sanctions widened",
        "• Envoy named",
    )
    assert [f.id for f in feeds_added.feeds] == [feed.id]
    assert len(feed_server.requests_to("/world.xml")) == 1
    [entry] = await AuditRepository(db).recent(5)
    assert entry.command == "feeds add"
    assert entry.detail == f"added feed #{feed.id} Example World News <{url}> every 15 min"
    health = await FeedRepository(db).health(T0)
    assert health[0].origin == "chat"


async def test_feeds_add_with_a_name_and_the_default_interval(
    runner: CommandRunner, db: Database, feed_server: FeedServer
) -> None:
    feed_server.serve("/empty.xml", _rss())
    reply = await runner.run_text(ADMIN, f"feeds add {feed_server.url('/empty.xml')} My Desk Feed")
    assert "It parses as a feed but has no items right now." in reply.lines
    [feed] = await FeedRepository(db).all()
    assert (feed.name, feed.interval_s) == ("My Desk Feed", 600)


async def test_feeds_add_refuses_what_is_not_a_feed(
    runner: CommandRunner, db: Database, feed_server: FeedServer, feeds_added: FeedsAdded
) -> None:
    page = b"<!doctype html><html><body>Hello</body></html>"
    feed_server.serve("/page.html", page, content_type="text/html")
    feed_server.serve("/gone.xml", b"", status=404)
    html = await runner.run_text(ADMIN, f"feeds add {feed_server.url('/page.html')}")
    assert html.kind == "error"
    assert "cannot be used as a feed: not an RSS/Atom feed" in html.to_text()
    missing = await runner.run_text(ADMIN, f"feeds add {feed_server.url('/gone.xml')}")
    assert "cannot be used as a feed: HTTP 404" in missing.to_text()
    assert await FeedRepository(db).all() == []
    assert feeds_added.feeds == []
    assert await AuditRepository(db).count() == 0


async def test_feeds_add_refuses_private_addresses_unless_allowed(
    db: Database, clock: ManualClock, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    feed_server.serve("/world.xml", _rss("One"))
    strict = make_runner(db, clock, fetcher, allow_private_networks=False)
    for url in (feed_server.url("/world.xml"), "http://localhost:9/feed.xml", "http://[::1]/feed.xml",
                "http://10.1.2.3/feed.xml"):
        reply = await strict.run_text(ADMIN, f"feeds add {url}")
        assert reply.kind == "error"
        assert "only public feeds can be added" in reply.to_text(), url
    assert feed_server.requests == ()
    assert await FeedRepository(db).all() == []


async def test_feeds_add_errors(runner: CommandRunner, db: Database, feed_server: FeedServer) -> None:
    feed_server.serve("/world.xml", _rss("One"))
    url = feed_server.url("/world.xml")
    assert (await runner.run_text(ADMIN, f"feeds add {url}")).kind == "result"
    duplicate = await runner.run_text(ADMIN, f"feeds add {url}")
    assert "that feed is already tracked as #1 Example World News" in duplicate.to_text()
    fast = await runner.run_text(ADMIN, f"feeds add {feed_server.url('/other.xml')} interval:10s")
    assert "interval must be between 30 s and 7 d, not 10 s" in fast.to_text()
    ftp = await runner.run_text(ADMIN, "feeds add ftp://example.org/feed.xml")
    assert "is not an http(s) URL" in ftp.to_text()
    assert len(await FeedRepository(db).all()) == 1


async def test_feeds_remove_pause_resume(runner: CommandRunner, db: Database) -> None:
    feed = await add_feed(db, 1, name="Reuters World")
    await store_story(db, feed, [make_item(1, "Talks", published=T0)], actors=("lavrov",))
    paused = await runner.run_text(ADMIN, "feeds pause reuters world")
    assert paused.title == "Feed #1 Reuters World paused"
    assert (await FeedRepository(db).get(feed.id)).paused
    again = await runner.run_text(ADMIN, "feeds pause #1")
    assert again.title == "Feed #1 Reuters World is already paused"
    resumed = await runner.run_text(ADMIN, "feeds resume https://example.org/feed-1.xml")
    assert resumed.title == "Feed #1 Reuters World resumed"
    removed = await runner.run_text(ADMIN, "feeds remove 1")
    assert removed.title == "Removed feed #1 Reuters World and its items"
    assert "comes from the config file" in removed.to_text()
    assert await FeedRepository(db).all() == []
    assert [e.detail for e in await AuditRepository(db).recent(10)] == [
        "removed feed #1 Reuters World <https://example.org/feed-1.xml>",
        "resumed feed #1 Reuters World",
        "paused feed #1 Reuters World",
    ]


async def test_unknown_feeds_get_a_did_you_mean(runner: CommandRunner, db: Database) -> None:
    await add_feed(db, 1, name="Reuters World")
    await add_feed(db, 2, name="Reuters World")
    typo = await runner.run_text(ADMIN, "feeds pause Reuters Wrld")
    assert "no feed is called 'Reuters Wrld'. Did you mean `Reuters World`?" in typo.to_text()
    twice = await runner.run_text(ADMIN, "feeds remove reuters world")
    assert "several feeds are called 'reuters world' (#1, #2); give the number instead" in twice.to_text()
    number = await runner.run_text(ADMIN, "feeds remove #9")
    assert "there is no feed number 9" in number.to_text()
    assert len(await FeedRepository(db).all()) == 2


async def test_feeds_list_shows_health_a_page_at_a_time(runner: CommandRunner, db: Database) -> None:
    one = await add_feed(db, 1, name="Reuters World")
    await store_story(db, one, [make_item(i, f"Report {i}", published=T0) for i in range(1, 8)])
    await FeedRepository(db).record_success(one.id, now=T0, etag=None, last_modified=None, body_hash="h",
                                            next_poll_at=T0)
    two = await add_feed(db, 2, name="TASS")
    await FeedRepository(db).record_failure(two.id, now=T0, error="HTTP 500 Internal Server Error",
                                            next_poll_at=T0)
    three = await add_feed(db, 3, name="Kyiv Independent")
    await FeedRepository(db).set_paused(three.id, True)
    for n in range(4, 20):
        await add_feed(db, n)
    reply = await runner.run_text(USER, "feeds")
    assert reply.title == "Feeds: 19 (1 paused, 1 failing)"
    assert reply.ephemeral
    assert reply.lines[0] == "#1 Reuters World — ok, last success just now · 1.0 items/day · every 10 min"
    assert reply.lines[1] == ("#2 TASS — failing ×1 just now: HTTP 500 Internal Server Error · "
                              "0.0 items/day · every 10 min")
    assert reply.lines[2].startswith("#3 Kyiv Independent — paused")
    assert reply.lines[3] == "#4 Feed 4 — not polled yet · 0.0 items/day · every 10 min"
    assert len(reply.lines) == 15
    assert reply.next_page is not None
    assert reply.next_page.command_line == "feeds list offset:15"
    following = await runner.run(USER, reply.next_page.more_invocation)
    assert [line.split(" ")[0] for line in following.lines] == ["#16", "#17", "#18", "#19"]
    assert following.next_page is None


async def test_a_failing_first_poll_does_not_undo_the_added_feed(
    db: Database, clock: ManualClock, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    async def broken_hook(feed: FeedState) -> None:
        raise RuntimeError(f"scheduler is down for {feed.url}")

    long_title = "A feed title that goes on and on " * 5
    feed_server.serve("/long.xml", _rss("One", title=long_title))
    feed_server.serve("/plain.xml", _rss("Two"))
    failing = CommandRunner(db=db, probe=fetcher_probe(fetcher, clock=clock), clock=clock,
                            settings=CommandSettings(allow_private_networks=True), on_feed_added=broken_hook)
    reply = await failing.run_text(ADMIN, f"feeds add {feed_server.url('/long.xml')}")
    assert reply.kind == "result", reply.to_text()
    assert reply.lines[0] == ("Polled every 10 min; the first poll failed to start, so it waits for the "
                              "next round.")
    [feed] = await FeedRepository(db).all()
    assert len(feed.name) <= 100 and feed.name.endswith("and on…")
    no_hook = make_runner(db, clock, fetcher, None, allow_private_networks=True)
    reply = await no_hook.run_text(ADMIN, f"feeds add {feed_server.url('/plain.xml')} Plain")
    assert reply.lines[0] == "Polled every 10 min; first poll with the next round."
    assert [f.name for f in await FeedRepository(db).all()] == [feed.name, "Plain"]
