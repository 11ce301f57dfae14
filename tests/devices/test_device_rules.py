"""Pure device rules: pairing codes, device secrets, the WebSocket frame schemas, buckets."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.domain.device_secret import hash_device_secret, new_device_secret
from actors.domain.pairing import (
    ALPHABET,
    LENGTH,
    display_pairing_code,
    new_pairing_code,
    normalize_pairing_code,
)
from actors.protocol import Ack, Hello, ProtocolError, decode_inbound
from actors.ratelimit import KeyedBuckets, TokenBucket


def test_pairing_alphabet_is_twenty_consonants_without_lookalikes() -> None:
    assert len(set(ALPHABET)) == 20
    assert not set(ALPHABET) & set("AEIOUY01")


def test_new_codes_are_canonical_and_round_trip_through_display() -> None:
    for _ in range(200):
        code = new_pairing_code()
        assert len(code) == LENGTH
        assert normalize_pairing_code(display_pairing_code(code)) == code
        assert normalize_pairing_code(display_pairing_code(code).lower()) == code


@given(st.text(max_size=20))
def test_normalize_accepts_only_alphabet_codes(raw: str) -> None:
    code = normalize_pairing_code(raw)
    if code is not None:
        assert len(code) == LENGTH
        assert set(code) <= set(ALPHABET)


def test_device_secret_has_256_bits_and_hashes_stably() -> None:
    secret = new_device_secret()
    assert len(secret) >= 4 + 43
    digest = hash_device_secret(secret)
    assert digest is not None
    assert len(digest) == 32
    assert digest == hash_device_secret(secret)
    assert hash_device_secret(new_device_secret()) != digest


@pytest.mark.parametrize("bad", ["", "Bearer x", "sds_" + "a" * 200, "not-a-secret"])
def test_malformed_secret_is_not_hashed(bad: str) -> None:
    assert hash_device_secret(bad) is None


def test_hello_and_ack_decode() -> None:
    assert decode_inbound(b'{"type":"hello","token":"t","last_seq":4}') == Hello("t", 4)
    ack = decode_inbound(b'{"type":"ack","manifest_version":3}')
    assert ack == Ack(manifest_version=3)


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"[]",
        b'{"type":"nope"}',
        b'{"type":"hello"}',
        b'{"type":"hello","token":"t","admin":true}',
        b'{"type":"ack"}',
        b'{"type":"ack","emergency_id":"not-a-uuid"}',
        b'{"type":"heartbeat","uptime_s":"long"}',
    ],
)
def test_bad_frames_are_protocol_errors(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_inbound(frame)


def test_heartbeat_ignores_unknown_status_fields() -> None:
    beat = decode_inbound(b'{"type":"heartbeat","uptime_s":5,"cpu_temp":61}')
    assert msgspec.structs.asdict(beat)["uptime_s"] == 5


def test_bucket_grants_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, updated=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0


def test_keyed_buckets_are_bounded_and_independent() -> None:
    now = [0.0]
    buckets = KeyedBuckets(rate=1.0, burst=1, max_keys=100, clock=lambda: now[0])
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0
    for i in range(1000):
        buckets.take(f"flood-{i}")
    assert len(buckets) == 100
    now[0] += 1.0
    assert buckets.take("a") == 0.0
