"""The pure rules of webhooks: signatures a receiver can check and replays it can refuse,
where deliveries may go, which URLs are accepted, and when a failure is tried again."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from actors.domain.webhooks import (
    SIGNATURE_TOLERANCE_S,
    DestinationPolicy,
    RetryPolicy,
    new_secret,
    parse_url,
    signature_header,
    verify,
)
from actors.errors import Invalid

SECRET = "whsec_" + "k" * 43
BODY = b'{"id":"1","type":"emergency.triggered"}'


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_the_body() -> None:
    header = signature_header(SECRET, BODY, 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify(SECRET, BODY, header, now=1_700_000_000)


def test_a_changed_body_or_another_secret_does_not_verify() -> None:
    header = signature_header(SECRET, BODY, 1_700_000_000)
    assert not verify(SECRET, BODY + b" ", header, now=1_700_000_000)
    assert not verify(SECRET + "x", BODY, header, now=1_700_000_000)


def test_a_replay_outside_the_tolerance_does_not_verify() -> None:
    header = signature_header(SECRET, BODY, 1_700_000_000)
    assert verify(SECRET, BODY, header, now=1_700_000_000 + SIGNATURE_TOLERANCE_S)
    assert not verify(SECRET, BODY, header, now=1_700_000_000 + SIGNATURE_TOLERANCE_S + 1)
    # The timestamp is signed: moving it forward breaks the signature.
    forged = header.replace("t=1700000000", f"t={1_700_000_000 + 3600}")
    assert not verify(SECRET, BODY, forged, now=1_700_000_000 + 3600)


def test_secrets_are_long_random_and_recognisable() -> None:
    one, two = new_secret(), new_secret()
    assert one != two
    assert one.startswith("whsec_")
    assert len(one) >= 48


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.10",
        "172.16.5.5",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 - an address refused, not a bind
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
    ],
)
def test_the_default_policy_refuses_every_non_public_address(address: str) -> None:
    assert DestinationPolicy().refusal(ipaddress.ip_address(address)) is not None


def test_the_default_policy_allows_public_addresses() -> None:
    policy = DestinationPolicy()
    assert policy.refusal(ipaddress.ip_address("93.184.216.34")) is None
    assert policy.refusal(ipaddress.ip_address("2606:2800:220:1::1")) is None


def test_listed_networks_are_allowed_and_nothing_else_of_the_private_ranges() -> None:
    policy = DestinationPolicy.parse(
        allow_public=False, allowed_networks="10.20.0.0/16, 127.0.0.1/32", allow_http=False
    )
    assert policy.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.21.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("93.184.216.34")) is not None  # public off


def test_a_malformed_network_is_named() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        DestinationPolicy.parse(allow_public=True, allowed_networks="10.0.0.0/33", allow_http=False)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "http"),
        ("http://example.com/x", "https"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://example.com/x#frag", "fragment"),
        ("https:///nohost", "host"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com:99999/", "valid"),
    ],
)
def test_urls_of_the_wrong_shape_are_refused_naming_the_field(url: str, why: str) -> None:
    with pytest.raises(Invalid, match=why) as caught:
        DestinationPolicy().check_url(url)
    assert caught.value.field == "url"


def test_an_ip_literal_the_policy_refuses_is_refused_at_creation() -> None:
    with pytest.raises(Invalid, match=r"169\.254\.169\.254"):
        DestinationPolicy().check_url("https://169.254.169.254/latest/meta-data")


def test_a_url_keeps_its_path_query_and_port() -> None:
    target = parse_url("https://hooks.example.com:8443/in?src=signage", allow_http=False)
    assert (target.scheme, target.host, target.port, target.target) == (
        "https",
        "hooks.example.com",
        8443,
        "/in?src=signage",
    )
    assert parse_url("http://h.example", allow_http=True).target == "/"


def test_backoff_doubles_with_jitter_up_to_its_cap_then_gives_up() -> None:
    policy = RetryPolicy(max_attempts=5, base_s=2.0, max_s=10.0)
    assert policy.delay_after(1, lambda: 0.0) == 1.0  # half of 2 s, no jitter
    assert policy.delay_after(1, lambda: 0.999) == pytest.approx(2.0, abs=0.01)
    assert policy.delay_after(2, lambda: 0.0) == 2.0
    assert policy.delay_after(3, lambda: 0.5) == 6.0  # step 8: 4 + 2
    assert policy.delay_after(4, lambda: 0.0) == 5.0  # step capped at 10
    assert policy.delay_after(5, lambda: 0.0) is None
