"""Who runs a command where (the context an adapter builds) and what they asked for (an invocation)."""

from __future__ import annotations

from dataclasses import dataclass

RawValue = str | int | float | bool | tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandContext:
    """The platform, channel and user of one command, as the adapter knows them.

    ``is_admin`` is the adapter's decision (Discord: Manage Server or a configured admin role; Slack: a
    configured admin or a workspace admin/owner; see :class:`bot.commands.permissions.AdminPolicy`). Admin
    commands check it on every call, whatever default permissions the platform was told about.
    """

    platform: str
    channel_id: str
    user_id: str
    user_name: str = ""
    is_admin: bool = False

    @property
    def who(self) -> str:
        """The user as the audit log records them: ``name (id)``, or the id alone."""
        return f"{self.user_name} ({self.user_id})" if self.user_name else self.user_id


@dataclass(frozen=True, slots=True, kw_only=True)
class RawArgument:
    """One argument as given, before checking: text from Slack, typed option values from Discord.

    A variadic argument may be given as a tuple of values or as one string, which is split like a command
    line (double quotes group words).
    """

    name: str
    value: RawValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """A command path (``("watch", "add-actor")``) with raw arguments; ``public`` asks for a visible reply."""

    path: tuple[str, ...]
    arguments: tuple[RawArgument, ...] = ()
    public: bool = False

    @property
    def name(self) -> str:
        """The command as typed after ``/diplowatch``, e.g. ``watch add-actor``."""
        return " ".join(self.path)

    def value(self, name: str) -> RawValue | None:
        """The raw value given for ``name``, if any."""
        return next((a.value for a in self.arguments if a.name == name), None)

    def with_value(self, name: str, value: RawValue) -> Invocation:
        """This invocation with ``name`` set to ``value`` (replacing any earlier value)."""
        kept = tuple(a for a in self.arguments if a.name != name)
        return Invocation(path=self.path, arguments=(*kept, RawArgument(name=name, value=value)),
                          public=self.public)
