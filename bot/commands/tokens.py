"""Short random tokens for values kept in memory a little while (pending imports, further pages)."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Held(Generic[T]):
    value: T
    expires_at: datetime


class ExpiringTokens(Generic[T]):
    """Values under unguessable tokens until ``ttl`` passes; the oldest are dropped beyond ``capacity``."""

    def __init__(self, *, clock: Callable[[], datetime], ttl: timedelta, capacity: int = 1000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._capacity = capacity
        self._held: OrderedDict[str, _Held[T]] = OrderedDict()

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    def put(self, value: T) -> tuple[str, datetime]:
        """Keep ``value``; its token and when it expires."""
        self._drop_expired()
        while len(self._held) >= self._capacity:
            self._held.popitem(last=False)
        token = secrets.token_urlsafe(6)
        expires_at = self._clock() + self._ttl
        self._held[token] = _Held(value=value, expires_at=expires_at)
        return token, expires_at

    def get(self, token: str) -> T | None:
        """The value under ``token`` while it is fresh."""
        held = self._held.get(token)
        if held is None:
            return None
        if held.expires_at <= self._clock():
            del self._held[token]
            return None
        return held.value

    def discard(self, token: str) -> None:
        """Forget ``token`` (a used confirmation)."""
        self._held.pop(token, None)

    def _drop_expired(self) -> None:
        now = self._clock()
        for token in [t for t, held in self._held.items() if held.expires_at <= now]:
            del self._held[token]
