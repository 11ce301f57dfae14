"""Token buckets: the rate limits on everything untrusted (registration, polls, frames).

Pure and clock-injected, so tests drive time by hand. One bucket holds ``burst`` tokens and
refills at ``rate`` per second; :meth:`TokenBucket.take` says how long to wait when empty.
:class:`KeyedBuckets` keeps one bucket per key (a source address, a device) in a bounded,
least-recently-used table, so a flood of distinct keys costs bounded memory: the coldest
key is forgotten first (it gets a fresh, full bucket if it comes back — a leak in the
attacker's favour of at most ``burst`` per eviction, which the bound makes expensive).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.domain.throttle import address_key
from actors.errors import Throttled

Clock = Callable[[], float]

UNKNOWN_SOURCE = "unknown"


def source_key(address: str | None) -> str:
    """The key untrusted callers are counted under: an IPv4 address, or the /64 of an
    IPv6 one (one subscriber holds a whole /64: keying on the full address would give it
    2^64 budgets), the same folding as failed logins (:func:`~actors.domain.throttle.
    address_key`). Unknown or malformed addresses share one key."""
    key = address_key(address)
    return UNKNOWN_SOURCE if key is None else key.removeprefix("address:")


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a bucket needs rate > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0.0 if granted, else seconds until it would be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class KeyedBuckets:
    """One bucket per key, at most ``max_keys`` of them (least recently used evicted)."""

    def __init__(self, rate: float, burst: float, *, max_keys: int, clock: Clock) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, cost: float = 1.0) -> float:
        """0.0 if ``key`` may proceed now, else the seconds it must wait (Retry-After)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, cost)

    def check(self, key: str, what: str) -> None:
        """Take one token for ``key``.

        :raises Throttled: (429) naming ``what`` and when to retry, if none is left.
        """
        wait = self.take(key)
        if wait:
            raise Throttled(f"too many {what}", retry_after=math.ceil(wait))

    def __len__(self) -> int:
        return len(self._buckets)
