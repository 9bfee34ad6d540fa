"""A token bucket per user: bursts are fine, a stream of commands is asked to slow down."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: datetime


class CommandCooldown:
    """``capacity`` commands at once, refilled at ``per_second``; ``clock`` gives aware UTC datetimes."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        capacity: int = 5,
        per_second: float = 0.5,
        max_users: int = 10_000,
    ) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a cooldown needs a capacity of at least 1 and a positive refill rate")
        self._clock = clock
        self._capacity = float(capacity)
        self._rate = per_second
        self._max_users = max_users
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def take(self, platform: str, user_id: str) -> float:
        """Spend one token for the user: 0 when allowed, else the seconds until they may try again."""
        now = self._clock()
        key = (platform, user_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_users:
                self._forget_rested(now)
            bucket = self._buckets[key] = _Bucket(tokens=self._capacity, updated=now)
        self._refill(bucket, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def _refill(self, bucket: _Bucket, now: datetime) -> None:
        elapsed = max((now - bucket.updated).total_seconds(), 0.0)
        bucket.tokens = min(self._capacity, bucket.tokens + elapsed * self._rate)
        bucket.updated = max(now, bucket.updated)

    def _forget_rested(self, now: datetime) -> None:
        # A full bucket is the same as no bucket, so forgetting it loses nothing.
        for key, bucket in list(self._buckets.items()):
            self._refill(bucket, now)
            if bucket.tokens >= self._capacity:
                del self._buckets[key]


def cooldown_message(wait_s: float) -> str:
    """The polite answer to a user who must wait ``wait_s`` seconds."""
    return f"Slow down: try again in {max(1, math.ceil(wait_s))} s."
