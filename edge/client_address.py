"""The caller's network address, for throttling and the audit trail.

Behind a reverse proxy the socket's peer is the proxy, so the real client comes from
``X-Forwarded-For`` — but only as many hops as the operator declares trusted
(``TRUSTED_PROXY_HOPS``): a client can prepend anything it likes to that header, so we
read it from the right and never further than the trusted proxies wrote.
"""

from __future__ import annotations

import ipaddress


def client_address(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The address to attribute a request to.

    ``peer`` is the TCP peer; ``forwarded_for`` the raw ``X-Forwarded-For`` header. With
    ``trusted_hops == 0`` the header is ignored. A malformed entry falls back to the peer.
    """
    fallback = peer or "unknown"
    if trusted_hops <= 0 or not forwarded_for:
        return fallback
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if len(hops) < trusted_hops:
        return fallback
    candidate = hops[-trusted_hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return fallback
