"""Login throttling rules: which keys an attempt counts against, how many attempts may be
checked at once, and for how long a key is blocked. Pure; the counts themselves live in
PostgreSQL (``login_throttle``).

An attempt **reserves** a slot on each of its keys before any password work and settles
it with its outcome. A key may have only as many attempts in flight as failures are left
in its free budget (at least one): a burst of simultaneous guesses is checked no faster
than the same guesses one after another, and the rest are refused (429) before hashing.

Only failures count, never successes: a building behind one NAT address, where many
admins log in correctly, is never blocked by its own traffic; the per-address budget is
sized for a whole office mistyping, the per-account one for one person.
"""

from __future__ import annotations

import hashlib
import ipaddress

import msgspec

#: IPv6 clients are counted per /64: one subscriber usually holds a whole /64.
IPV6_PREFIX = 64
#: A reservation not settled within this (its node died mid-attempt) lapses by itself.
#: Far above the longest attempt: a full hashing queue plus a statement timeout.
RESERVATION_TTL_S = 60
#: What a caller refused because the key's slots are all in flight is told to wait: the
#: attempts ahead of it finish within a hash's time.
BUSY_RETRY_AFTER_S = 1


class KeyState(msgspec.Struct, frozen=True):
    """A key as a reservation found it (its own slot included in ``in_flight``)."""

    #: Failures within the window.
    failures: int
    in_flight: int
    #: Seconds the key is still blocked (0: not blocked).
    blocked_s: int


class ThrottlePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """``max_failures`` within ``window_s`` are free; each further failure blocks the key
    for ``base_block_s * 2**(n - max_failures)`` seconds, at most ``max_block_s``. A key
    whose last failure is older than ``window_s`` starts counting afresh."""

    max_failures: int
    window_s: int
    base_block_s: int
    max_block_s: int

    def block_for(self, failures: int) -> int:
        """Seconds to block a key that has just reached ``failures`` (0: not blocked)."""
        if failures < self.max_failures:
            return 0
        exponent = min(failures - self.max_failures, 30)
        return min(self.max_block_s, self.base_block_s << exponent)

    def slots(self, failures: int) -> int:
        """Attempts that may be in flight at once on a key with ``failures`` in its
        window: what is left of the free budget, and one at a time past it (each failure
        then blocks the key again)."""
        return max(1, self.max_failures - failures)

    def refusal(self, state: KeyState) -> int:
        """Seconds to tell a reservation that found ``state`` to wait (0: admitted)."""
        if state.blocked_s > 0:
            return state.blocked_s
        if state.in_flight > self.slots(state.failures):
            return BUSY_RETRY_AFTER_S
        return 0


def account_key(email: str) -> str:
    """The key for a (normalised) email, known account or not; stored as a digest so the
    table does not collect the addresses people mistyped. The audit trail names failed
    logins for unknown emails by the same digest."""
    return "account:" + hashlib.sha256(email.encode()).hexdigest()


def address_key(source_ip: str | None) -> str | None:
    """The key for a source address (IPv6 folded to its /64); ``None`` if unknown."""
    if not source_ip:
        return None
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"address:{address.ipv4_mapped}"
        network = ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False)
        return f"address:{network}"
    return f"address:{address}"
