"""``help`` and ``help <command>``, generated from the command specs."""

from __future__ import annotations

import difflib

from bot.commands.replies import Reply, ReplyBlock
from bot.commands.specs import ArgSpec, CommandSpec, find_command, visible_commands
from feeds.errors import CommandError

SYNTAX_LINES = (
    'Put a value with spaces in double quotes: watch add-actor "Kaja Kallas" person Kallas',
    'Inside quotes write \\" for a quote and \\\\ for a backslash.',
    "Give options as name:value (since:7d, mode:both, public:true); lists take several values or commas.",
    "Look-ups answer only you unless you add public:true.",
)


def help_reply(topic: str | None, *, public: bool = False) -> Reply:
    """The command list (``topic`` None), one command's details, or a group's commands (``help watch``)."""
    if topic is None or not topic.strip():
        return _overview(public)
    words = tuple(w.casefold() for w in topic.split())
    group = [s for s in visible_commands() if s.path[0] == words[0] and len(s.path) == 2]
    if len(words) == 1 and group:
        lines = tuple(f"{s.usage()} — {s.summary}" for s in group)
        return Reply(title=f"/diplowatch {words[0]} …", blocks=(ReplyBlock(lines=lines),), kind="help",
                     ephemeral=not public)
    spec = find_command(words)
    if spec is not None and not spec.hidden:
        return _details(spec, public)
    names = [s.name for s in visible_commands()]
    close = difflib.get_close_matches(" ".join(words), names, n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(f'`{c}`' for c in close)}?" if close else ""
    raise CommandError(f"there is no command `{' '.join(words)}`.{hint} `/diplowatch help` lists them all.")


def _overview(public: bool) -> Reply:
    lookups = tuple(f"{s.usage()} — {s.summary}" for s in visible_commands() if not s.admin)
    admin = tuple(f"{s.usage()} — {s.summary}" for s in visible_commands() if s.admin)
    return Reply(
        title="diplowatch commands (/diplowatch <command> …)",
        blocks=(
            ReplyBlock(heading="Look-ups (everyone)", lines=lookups),
            ReplyBlock(heading="Changes (admins)", lines=admin),
            ReplyBlock(heading="How to type them", lines=(*SYNTAX_LINES, "help <command> explains one.")),
        ),
        kind="help",
        ephemeral=not public,
    )


def _details(spec: CommandSpec, public: bool) -> Reply:
    blocks = [ReplyBlock(lines=(spec.summary, f"Usage: /diplowatch {spec.usage()}"))]
    described = [_arg_line(a) for a in spec.args if not a.hidden]
    if spec.lookup:
        described.append("public:true — show the answer to the whole channel")
    if described:
        blocks.append(ReplyBlock(heading="Arguments", lines=tuple(described)))
    if spec.examples:
        blocks.append(ReplyBlock(heading="Examples", lines=tuple(f"/diplowatch {e}" for e in spec.examples)))
    if spec.admin:
        blocks.append(ReplyBlock(lines=("Admins only.",)))
    return Reply(title=f"/diplowatch {spec.name}", blocks=tuple(blocks), kind="help", ephemeral=not public)


def _arg_line(arg: ArgSpec) -> str:
    notes = ["required" if arg.required else "optional"]
    if not arg.positional:
        notes.append(f"write {arg.name}:<value>")
    if arg.variadic:
        notes.append("several values")
    if arg.choices:
        notes.append("one of " + ", ".join(arg.choices))
    return f"{arg.name} ({arg.kind}; {'; '.join(notes)}) — {arg.help}"
