"""The load generator's RFC 6455 pieces without I/O: framing, handshake, percentiles."""

from __future__ import annotations

import pytest

from bench.loadgen.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameReader,
    ProtocolError,
    client_frame,
    close_code,
    mask,
)
from bench.loadgen.handshake import (
    HandshakeError,
    UpgradeRefused,
    accept_for,
    check_response,
    split_head,
    upgrade_request,
)
from bench.loadgen.summary import percentile, summarize_storm
from bench.loadgen.trigger import Triggered
from bench.loopback import NotLoopback, require_loopback

# RFC 6455 §5.7 examples.
RFC_KEY = bytes((0x37, 0xFA, 0x21, 0x3D))
RFC_MASKED_HELLO = bytes((0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58))
RFC_HELLO = bytes((0x81, 0x05)) + b"Hello"


def test_client_frame_matches_the_rfc_masked_example() -> None:
    assert client_frame(OP_TEXT, b"Hello", key=RFC_KEY) == RFC_MASKED_HELLO


def test_mask_is_its_own_inverse_at_every_length() -> None:
    for n in range(0, 70):
        payload = bytes(range(n))
        assert mask(mask(payload, RFC_KEY), RFC_KEY) == payload


@pytest.mark.parametrize(("size", "header_len"), [(125, 2), (126, 4), (65_535, 4), (65_536, 10)])
def test_client_frame_uses_the_shortest_length_encoding(size: int, header_len: int) -> None:
    frame = client_frame(OP_BINARY, b"a" * size, key=RFC_KEY)
    assert len(frame) == header_len + 4 + size
    assert frame[1] & 0x80  # masked


def test_reader_parses_the_rfc_unmasked_example() -> None:
    assert FrameReader().feed(RFC_HELLO) == [(OP_TEXT, b"Hello")]


def test_reader_reassembles_fragments_around_a_ping() -> None:
    data = bytes((0x01, 0x03)) + b"Hel" + bytes((0x89, 0x02)) + b"hi" + bytes((0x80, 0x02)) + b"lo"
    assert FrameReader().feed(data) == [(OP_PING, b"hi"), (OP_TEXT, b"Hello")]


def test_reader_gives_the_same_result_fed_one_byte_at_a_time() -> None:
    long_payload = b"m" * 70_000
    data = RFC_HELLO + bytes((0x82, 127)) + len(long_payload).to_bytes(8, "big") + long_payload
    reader = FrameReader()
    units = [unit for i in range(len(data)) for unit in reader.feed(data[i : i + 1])]
    assert units == [(OP_TEXT, b"Hello"), (OP_BINARY, long_payload)]


def test_reader_reads_close_codes() -> None:
    [(opcode, payload)] = FrameReader().feed(bytes((0x88, 0x02)) + (4401).to_bytes(2, "big"))
    assert opcode == OP_CLOSE
    assert close_code(payload) == 4401
    assert close_code(b"") is None


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (RFC_MASKED_HELLO, "masked"),
        (bytes((0xC1, 0x00)), "reserved bits"),
        (bytes((0x80, 0x00)), "continuation"),
        (bytes((0x09, 0x00)), "control frame"),
        (bytes((0x83, 0x00)), "reserved data opcode"),
        (bytes((0x81, 127)) + (2**21).to_bytes(8, "big"), "exceeds"),
        (bytes((0x01, 0x01)) + b"a" + RFC_HELLO, "inside a fragmented"),
    ],
)
def test_reader_refuses_protocol_violations(data: bytes, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        FrameReader().feed(data)


def test_accept_matches_the_rfc_example() -> None:
    assert accept_for(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_upgrade_request_carries_the_key_and_an_optional_bearer() -> None:
    request = upgrade_request("127.0.0.1:8000", "/api/v1/devices/ws", b"abc=", bearer="s3cr3t")
    assert request.startswith(b"GET /api/v1/devices/ws HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert b"\r\nSec-WebSocket-Key: abc=\r\n" in request
    assert b"\r\nAuthorization: Bearer s3cr3t\r\n" in request
    assert request.endswith(b"\r\n\r\n")
    assert b"Authorization" not in upgrade_request("h", "/", b"abc=")
    with pytest.raises(ValueError, match="CR or LF"):
        upgrade_request("h", "/", b"abc=", bearer="x\r\nEvil: 1")


def _response(status: bytes, accept: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept
    )


def test_check_response_accepts_a_correct_101() -> None:
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    check_response(_response(b"101 Switching Protocols", accept_for(key)), key)


def test_a_refused_upgrade_says_its_retry_after() -> None:
    head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\ncontent-length: 0"
    with pytest.raises(UpgradeRefused, match="HTTP 503") as refused:
        check_response(head, b"dGhlIHNhbXBsZSBub25jZQ==")
    assert refused.value.retry_after_s == 2.0
    with pytest.raises(UpgradeRefused) as bare:
        check_response(b"HTTP/1.1 429 Too Many", b"dGhlIHNhbXBsZSBub25jZQ==")
    assert bare.value.retry_after_s is None


@pytest.mark.parametrize(
    ("head", "complaint"),
    [
        (_response(b"401 Unauthorized", b"x"), "HTTP 401"),
        (_response(b"101 Switching Protocols", b"wrong"), "Accept"),
        (b"SSH-2.0-OpenSSH", "not an HTTP response"),
    ],
)
def test_check_response_names_what_is_wrong(head: bytes, complaint: str) -> None:
    with pytest.raises(HandshakeError, match=complaint):
        check_response(head, b"dGhlIHNhbXBsZSBub25jZQ==")


def test_split_head_keeps_the_frames_behind_the_101() -> None:
    assert split_head(b"HTTP/1.1 101 X\r\n") is None
    assert split_head(b"HTTP/1.1 101 X\r\nA: b\r\n\r\n" + RFC_HELLO) == (
        b"HTTP/1.1 101 X\r\nA: b",
        RFC_HELLO,
    )
    with pytest.raises(HandshakeError, match="too long"):
        split_head(b"x" * 20_000)


def test_percentiles_count_missing_sessions_as_infinitely_late() -> None:
    known = [float(i) for i in range(1, 100)]  # 99 of 100 arrived
    assert percentile(known, 0.50, 100) == 50.0
    assert percentile(known, 0.99, 100) == 99.0
    assert percentile(known, 1.0, 100) is None
    assert percentile([], 0.5, 0) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.9", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    assert require_loopback(host) == host


@pytest.mark.parametrize("host", ["10.0.0.1", "0.0.0.0", "example.com", "", None])  # noqa: S104
def test_other_hosts_are_refused(host: str | None) -> None:
    with pytest.raises(NotLoopback):
        require_loopback(host)


def test_storm_latency_runs_from_the_later_of_the_trigger_and_the_welcome() -> None:
    triggered = Triggered(sent_at=10.0, answered_at=10.05, status=201, body=b"{}")
    delivery = summarize_storm(
        triggered=triggered,
        screens=4,
        # back before the POST; back after it (1.5 s from its welcome); frame before welcome
        arrivals=[(10.2, 9.0), (13.5, 12.0), (10.0, 10.1)],
    )
    assert (delivery.received, delivery.missed, delivery.welcomed_before) == (3, 1, 1)
    assert delivery.p50_ms == pytest.approx(200.0)
    assert delivery.p99_ms is None  # the screen that missed it counts as infinitely late
    assert delivery.max_ms is None
    assert delivery.answered_ms == pytest.approx(50.0)
