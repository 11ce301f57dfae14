"""Login throttling rules: which keys a failed login counts against, and for how long a
key is then blocked. Pure; the counts themselves live in PostgreSQL (``login_throttle``).

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


def account_key(email: str) -> str:
    """The key for a (normalised) email, known account or not; stored as a digest so the
    table does not collect the addresses people mistyped."""
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
