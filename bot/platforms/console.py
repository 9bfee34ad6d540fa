"""A chat platform that prints messages as plain text: for the demo and when no chat token is set."""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

from bot.platforms.base import Message, SendReceipt
from bot.render import message_to_text
from feeds.errors import DeliveryError

# Resends arrive soon after the original (the next delivery round), so a short memory of keys suffices.
REMEMBERED_KEYS = 1024


class ConsolePlatform:
    """Writes each message to a text stream (stdout by default), headed by its channel id.

    A message resent with an idempotency key already printed is not printed again; the earlier receipt is
    returned, as a platform that honours idempotency keys would.
    """

    name = "console"

    def __init__(self, stream: TextIO | None = None, *, timezone: str = "UTC") -> None:
        self._stream = stream
        self._timezone = timezone
        self._receipts: dict[str, SendReceipt] = {}
        self._sent = 0
        self._closed = False

    @property
    def stream(self) -> TextIO:
        """Where messages go; stdout is looked up at send time so redirections made later still apply."""
        return self._stream if self._stream is not None else sys.stdout

    async def start(self) -> None:
        """Ready at once: there is nothing to connect to."""
        self._closed = False

    async def send(self, channel_id: str, message: Message, *, idempotency_key: str) -> SendReceipt:
        """Print ``message`` under a ``#channel`` rule; one receipt id per message."""
        if self._closed:
            raise DeliveryError("the console platform is closed; start it again before sending")
        earlier = self._receipts.get(idempotency_key)
        if earlier is not None:
            return earlier
        text = f"── #{channel_id} ──\n{message_to_text(message, timezone=self._timezone)}\n"
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as e:
            raise DeliveryError(f"cannot write to the console: {e}") from e
        self._sent += 1
        receipt = SendReceipt(message_ids=(f"console-{self._sent}",))
        self._receipts[idempotency_key] = receipt
        if len(self._receipts) > REMEMBERED_KEYS:
            del self._receipts[next(iter(self._receipts))]
        return receipt

    async def close(self) -> None:
        """Flush what was written; later sends fail until ``start`` is called again."""
        self._closed = True
        # A stream closed under us has nothing left to flush.
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()
