"""Who is an admin: one rule for every adapter, from the platform's own facts and the configured admins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.commands.invocation import CommandContext
from bot.commands.specs import CommandSpec
from bot.config import Config
from feeds.errors import CommandError


class PermissionDenied(CommandError):
    """A non-admin ran an admin command."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminPolicy:
    """Configured admins: Slack user ids (``[slack] admins``), Discord roles (``admin_role_ids``)."""

    slack_admin_user_ids: tuple[str, ...] = ()
    discord_admin_role_ids: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> AdminPolicy:
        """The admins the config names."""
        return cls(
            slack_admin_user_ids=config.slack.admins, discord_admin_role_ids=config.discord.admin_role_ids
        )

    def is_admin(
        self, *, platform: str, user_id: str, role_ids: Sequence[str] = (), platform_admin: bool = False
    ) -> bool:
        """True for a platform admin (Discord Manage Server, Slack workspace admin/owner, the console user)
        or a configured admin (Slack user id, Discord role)."""
        if platform_admin:
            return True
        if platform == "slack":
            return user_id in self.slack_admin_user_ids
        if platform == "discord":
            return any(role in self.discord_admin_role_ids for role in role_ids)
        return False


def require_admin(context: CommandContext, spec: CommandSpec) -> None:
    """Refuse an admin command to a user the adapter did not find to be an admin."""
    if spec.admin and not context.is_admin:
        raise PermissionDenied(
            f"`{spec.name}` changes what the bot tracks, so only admins may run it "
            "(Discord: Manage Server or an admin role; Slack: a workspace admin or a configured admin)."
        )
