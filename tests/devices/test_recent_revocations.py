"""The tenant actor's record of recent revocations: per device or per secret, time-limited
and bounded (actors/node/recent_revocations.py)."""

from __future__ import annotations

from uuid import uuid4

from actors.events import TENANT_EVENTS, DeviceSecretRotated
from actors.node.recent_revocations import RecentRevocations, keep_for
from actors.ports.relay import RELAY_MESSAGES
from actors.relay import RelayCodec

OLD = b"o" * 32
NEW = b"n" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_revoked_device_is_refused_whatever_its_secret_until_the_record_expires() -> None:
    clock = Clock()
    record = RecentRevocations(30.0, clock=clock)
    device = uuid4()
    record.revoked(device)
    assert record.refuses(device, OLD)
    assert record.refuses(device, NEW)
    assert not record.refuses(uuid4(), OLD)
    clock.now += 30.0
    assert not record.refuses(device, OLD)


def test_a_rotation_refuses_the_old_secret_only() -> None:
    record = RecentRevocations(30.0, clock=Clock())
    device = uuid4()
    record.revoked(device, OLD)
    assert record.refuses(device, OLD)
    assert not record.refuses(device, NEW)


def test_expired_entries_are_forgotten_and_the_record_is_bounded() -> None:
    clock = Clock()
    record = RecentRevocations(30.0, limit=3, clock=clock)
    first = uuid4()
    record.revoked(first)
    clock.now += 31.0
    record.revoked(uuid4())
    assert len(record) == 1  # the expired one went at the next insertion
    devices = [uuid4() for _ in range(4)]
    for device in devices:
        record.revoked(device)
    assert len(record) == 3  # the oldest went first
    assert not record.refuses(devices[0], OLD)
    assert all(record.refuses(d, OLD) for d in devices[1:])


def test_it_outlasts_the_longest_opening() -> None:
    assert keep_for(10.0, 5.0) == 30.0


def test_the_rotation_notice_carries_the_old_secret_across_the_relay() -> None:
    codec = RelayCodec((*RELAY_MESSAGES, *TENANT_EVENTS))  # as a node builds it
    tenant, device = uuid4(), uuid4()
    notice = DeviceSecretRotated(device, old_secret_digest=OLD)
    assert codec.decode(codec.encode("node-a", tenant, notice)).message == notice
    # From a node that does not name it yet: nothing to remember, the session still closes.
    older = codec.decode(codec.encode("node-a", tenant, DeviceSecretRotated(device)))
    assert older.message == DeviceSecretRotated(device, old_secret_digest=None)
