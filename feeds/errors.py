"""One error tree for the whole project; every error carries a message a user can act on."""

from __future__ import annotations


class DiplowatchError(Exception):
    """Base of every error diplowatch raises on purpose; ``str(e)`` is fit to show a user."""


class ConfigError(DiplowatchError):
    """The configuration (file, watchlist file or environment) is missing or invalid."""


class FeedError(DiplowatchError):
    """A feed could not be fetched or parsed."""


class FetchError(FeedError):
    """Fetching a feed failed (network, HTTP status, limits, refused address)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
        self.permanent = permanent


class ParseError(FeedError):
    """A fetched body is not a usable RSS/Atom document."""


class StorageError(DiplowatchError):
    """The database could not be opened, migrated or written."""


class DeliveryError(DiplowatchError):
    """A chat message could not be delivered; ``permanent`` means retrying will not help."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.permanent = permanent


class CommandError(DiplowatchError):
    """A chat command was given bad arguments or is not allowed."""
