"""Platform-neutral chat commands: typed specs, a text-line parser, handlers and neutral replies.

Adapters build a :class:`CommandContext`, then call :meth:`CommandRunner.run_text` (Slack's text line) or
:meth:`CommandRunner.run` (Discord's typed options as an :class:`Invocation`), and render the :class:`Reply`.
"""

from bot.commands.call import CommandSettings, FeedAddedHook
from bot.commands.invocation import CommandContext, Invocation, RawArgument
from bot.commands.parsing import format_invocation, parse_line, split_words
from bot.commands.permissions import AdminPolicy
from bot.commands.probe import FeedProbe, ProbeResult, fetcher_probe
from bot.commands.replies import Attachment, Confirmation, NextPage, Reply, ReplyBlock
from bot.commands.runner import CommandRunner, Completion
from bot.commands.specs import COMMANDS, ArgSpec, CommandSpec, find_command, visible_commands

__all__ = [
    "COMMANDS",
    "AdminPolicy",
    "ArgSpec",
    "Attachment",
    "CommandContext",
    "CommandRunner",
    "CommandSettings",
    "CommandSpec",
    "Completion",
    "Confirmation",
    "FeedAddedHook",
    "FeedProbe",
    "Invocation",
    "NextPage",
    "ProbeResult",
    "RawArgument",
    "Reply",
    "ReplyBlock",
    "fetcher_probe",
    "find_command",
    "format_invocation",
    "parse_line",
    "split_words",
    "visible_commands",
]
