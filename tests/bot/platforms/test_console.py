"""The console platform prints plain text to a stream and honours idempotency keys."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from bot.platforms.base import ChatPlatform, Message, MessageSection, RenderedStory
from bot.platforms.console import ConsolePlatform
from bot.render import message_to_text
from feeds.errors import DeliveryError

NOTE = Message(kind="note", heading="Digest: nothing new", note="No tracked stories in this period.")


async def test_prints_each_message_under_its_channel() -> None:
    out = io.StringIO()
    console = ConsolePlatform(out)
    await console.start()
    first = await console.send("news", NOTE, idempotency_key="dw-1")
    second = await console.send("desk", NOTE, idempotency_key="dw-2")
    await console.close()
    assert first.message_ids == ("console-1",)
    assert second.message_ids == ("console-2",)
    text = message_to_text(NOTE)
    assert out.getvalue() == f"── #news ──\n{text}\n── #desk ──\n{text}\n"


async def test_a_resend_with_the_same_key_is_not_printed_twice() -> None:
    out = io.StringIO()
    console = ConsolePlatform(out)
    await console.start()
    first = await console.send("news", NOTE, idempotency_key="dw-7")
    again = await console.send("news", NOTE, idempotency_key="dw-7")
    assert first == again
    assert out.getvalue().count("── #news ──") == 1


async def test_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    console = ConsolePlatform()
    await console.start()
    await console.send("news", NOTE, idempotency_key="dw-1")
    assert "No tracked stories in this period." in capsys.readouterr().out


async def test_times_are_shown_in_the_given_timezone() -> None:
    story = RenderedStory(
        title="Talks resume", url=None, source="TASS", published=datetime(2024, 3, 14, 8, 0, tzinfo=UTC),
        snippet="",
    )
    message = Message(kind="alert", heading="Alert", sections=(MessageSection(heading="", stories=(story,)),))
    out = io.StringIO()
    console = ConsolePlatform(out, timezone="Europe/Moscow")
    await console.send("news", message, idempotency_key="dw-1")
    assert "  TASS · 2024-03-14 11:00 MSK\n" in out.getvalue()


async def test_closed_console_and_broken_stream_raise_delivery_errors() -> None:
    out = io.StringIO()
    console = ConsolePlatform(out)
    await console.close()
    with pytest.raises(DeliveryError, match="closed"):
        await console.send("news", NOTE, idempotency_key="dw-1")
    await console.start()
    out.close()
    with pytest.raises(DeliveryError, match="cannot write to the console") as caught:
        await console.send("news", NOTE, idempotency_key="dw-2")
    assert not caught.value.permanent
    await console.close()  # closing over a closed stream is quiet


def test_is_a_chat_platform() -> None:
    platform: ChatPlatform = ConsolePlatform(io.StringIO())
    assert platform.name == "console"
