"""The platform-neutral answer to a command; adapters turn it into an ephemeral or visible message.

Every string in a reply may hold feed-derived or user-typed text (titles, names, aliases): adapters escape it
and never let it mention or ping anyone, as they do for alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.commands.invocation import Invocation

ReplyKind = Literal["result", "help", "error", "denied", "cooldown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyBlock:
    """A group of lines under an optional heading (a section of the answer)."""

    heading: str = ""
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A file sent with the reply (``export``): its name, bytes and media type."""

    filename: str
    content: bytes
    media_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NextPage:
    """How to show the next page of a paginated answer.

    ``token`` is short (fits a Discord ``custom_id``): run ``more <token>`` (``more_invocation``) while it is
    fresh. ``invocation``/``command_line`` re-run the command at the next offset and never expire.
    """

    token: str
    offset: int
    invocation: Invocation
    command_line: str
    more_invocation: Invocation
    label: str = "More"


@dataclass(frozen=True, slots=True, kw_only=True)
class Confirmation:
    """A change waiting for the same user's confirmation (``import``) until ``expires_at``.

    ``cancel_command_line`` drops the change at once instead of letting it expire.
    """

    prompt: str
    token: str
    invocation: Invocation
    command_line: str
    expires_at: datetime
    label: str = "Confirm"
    cancel_command_line: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What a command answers: a title, blocks of text and the optional extras adapters render."""

    title: str
    blocks: tuple[ReplyBlock, ...] = ()
    kind: ReplyKind = "result"
    ephemeral: bool = True
    attachment: Attachment | None = None
    next_page: NextPage | None = None
    confirmation: Confirmation | None = None

    @property
    def lines(self) -> tuple[str, ...]:
        """Every line of every block, in order (headings left out)."""
        return tuple(line for block in self.blocks for line in block.lines)

    def to_text(self) -> str:
        """Plain text for a terminal, a log or a fallback message."""
        out = [self.title]
        for block in self.blocks:
            if block.heading:
                out += ["", block.heading]
            out += list(block.lines)
        if self.next_page is not None:
            out += ["", f"More: /diplowatch {self.next_page.command_line}"]
        if self.confirmation is not None:
            out += ["", self.confirmation.prompt, f"Confirm: /diplowatch {self.confirmation.command_line}"]
            if self.confirmation.cancel_command_line:
                out.append(f"Cancel: /diplowatch {self.confirmation.cancel_command_line}")
        if self.attachment is not None:
            out += ["", f"Attached: {self.attachment.filename} ({len(self.attachment.content)} bytes)"]
        return "\n".join(out)


def error_reply(message: str, *, kind: ReplyKind = "error", title: str = "Cannot do that") -> Reply:
    """An ephemeral error answer with one line."""
    return Reply(title=title, blocks=(ReplyBlock(lines=(message,)),), kind=kind, ephemeral=True)
