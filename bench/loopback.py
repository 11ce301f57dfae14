"""Loopback-only addressing for benchmarks: refuse anything that could leave the machine.

Benchmarks open thousands of sockets and fire triggers; pointed at a real host by mistake,
that is an attack. Every host a benchmark connects to or binds goes through
:func:`require_loopback` first.
"""

from __future__ import annotations

import ipaddress

#: Source addresses the load generator spreads its sockets over. Linux routes all of
#: 127.0.0.0/8 to ``lo``; each address has its own ~28,000 ephemeral ports, so several of
#: them keep 10,000+ sockets (and the TIME_WAIT left by earlier runs) clear of port exhaustion.
DEFAULT_SOURCE_ADDRESSES: tuple[str, ...] = tuple(f"127.0.0.{i}" for i in range(1, 9))


class NotLoopback(ValueError):
    """A benchmark was asked to talk to an address outside the loopback range."""


def require_loopback(host: str | None) -> str:
    """Return ``host`` if it is a loopback IP literal or ``localhost``.

    :raises NotLoopback: for any other name or address (names other than ``localhost`` are
        refused rather than resolved: resolution could say anything).
    """
    if host is None or host == "":
        raise NotLoopback("no host given; benchmarks need an explicit loopback address")
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise NotLoopback(f"{host!r} is not an IP literal; benchmarks use loopback only") from None
    if not address.is_loopback:
        raise NotLoopback(f"{host} is not a loopback address; benchmarks use loopback only")
    return host
