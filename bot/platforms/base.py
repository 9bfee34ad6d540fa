"""The small interface every chat adapter implements, and the platform-neutral message it renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.commands import AdminPolicy, CommandRunner

MessageKind = Literal["alert", "digest", "note"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Highlight:
    """A character range of ``RenderedStory.snippet`` naming a tracked actor or topic."""

    start: int
    end: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedStory:
    """One story as a reader sees it. Every string here is feed-derived text: adapters must escape it."""

    title: str
    url: str | None
    source: str
    published: datetime
    snippet: str
    highlights: tuple[Highlight, ...] = ()
    actors: tuple[str, ...] = ()  # display names
    topics: tuple[str, ...] = ()  # display names
    topic_ids: tuple[str, ...] = ()  # for a colour per topic
    also_reported_by: tuple[str, ...] = ()
    score: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSection:
    """A group of stories under one heading (an actor or a topic in a digest)."""

    heading: str
    stories: tuple[RenderedStory, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A platform-neutral message: an alert (one story), a digest (sections) or a short note."""

    kind: MessageKind
    heading: str
    sections: tuple[MessageSection, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReceipt:
    """What the platform confirmed: one id per platform message the neutral message was split into."""

    message_ids: tuple[str, ...]


class ChatPlatform(Protocol):
    """A chat platform that can post a neutral message to a channel.

    ``send`` raises ``feeds.errors.DeliveryError`` with ``permanent=True`` for errors retrying will not fix
    (unknown channel, missing access, invalid token) and ``retry_after_s`` when the platform asked to wait.
    ``idempotency_key`` is stable across retries of the same outbox entry (Discord uses it as a nonce).
    """

    name: str

    async def start(self) -> None:
        """Connect and authenticate."""
        ...

    async def send(self, channel_id: str, message: Message, *, idempotency_key: str) -> SendReceipt:
        """Post ``message`` (split to the platform's limits) to ``channel_id``."""
        ...

    async def close(self) -> None:
        """Disconnect and release resources."""
        ...


@runtime_checkable
class CommandPlatform(ChatPlatform, Protocol):
    """A chat platform that also answers the ``/diplowatch`` slash command (Discord, Slack)."""

    def install_commands(self, runner: CommandRunner, admin_policy: AdminPolicy) -> None:
        """Answer the command with ``runner``, checking admin-only commands against ``admin_policy``."""
        ...
