"""Source addresses: X-Forwarded-For is believed only as far as the trusted proxies wrote it."""

from __future__ import annotations

from edge.client_address import client_address


def test_header_ignored_without_trusted_proxies() -> None:
    assert client_address("10.0.0.9", "1.2.3.4", 0) == "10.0.0.9"


def test_one_trusted_hop_takes_the_rightmost_entry() -> None:
    # The client forged "6.6.6.6"; the proxy appended the real peer 1.2.3.4.
    assert client_address("10.0.0.9", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"


def test_two_trusted_hops() -> None:
    assert client_address("10.0.0.9", "6.6.6.6, 1.2.3.4, 10.0.0.5", 2) == "1.2.3.4"


def test_missing_or_garbage_header_falls_back_to_peer() -> None:
    assert client_address("10.0.0.9", None, 1) == "10.0.0.9"
    assert client_address("10.0.0.9", "not-an-ip", 1) == "10.0.0.9"
    assert client_address(None, None, 0) == "unknown"


def test_ipv6_is_normalised() -> None:
    assert client_address("::1", "2001:DB8::1", 1) == "2001:db8::1"
