"""The audit hash chain as pure code: canonical bytes, sealing, verification."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from actors.domain.audit import (
    GENESIS_HASH,
    AuditEntry,
    ChainVerifier,
    VerifyReport,
    canonical_bytes,
    canonical_details,
    hash_of,
)

TENANT = uuid.UUID("11111111-2222-4333-8444-555555555555")
T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def chain(n: int, tenant: uuid.UUID | None = TENANT) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        unsealed = AuditEntry(
            id=uuid.UUID(int=i),
            tenant_id=tenant,
            seq=i,
            at=T0 + timedelta(seconds=i),
            actor=f"user:{uuid.UUID(int=1000 + i)}",
            actor_name="a@example.test",
            action="user.create",
            target=f"user:{uuid.UUID(int=2000 + i)}",
            details=msgspec.Raw(canonical_details(after={"n": i, "é": "ü"})),
            request_id=f"req-{i}",
            source_ip="203.0.113.7",
            prev_hash=prev,
            hash="",
        )
        entry = msgspec.structs.replace(unsealed, hash=hash_of(unsealed))
        entries.append(entry)
        prev = entry.hash
    return entries


def test_canonical_bytes_are_the_documented_ones() -> None:
    """A golden vector: docs/security.md describes exactly these bytes."""
    message = canonical_bytes(
        id=uuid.UUID(int=1),
        tenant_id=TENANT,
        seq=1,
        at=T0,
        actor="user:00000000-0000-0000-0000-000000000002",
        actor_name=None,
        action="tenant.create",
        target="tenant:x",
        details=canonical_details(before={"b": 1, "a": [True, None]}, extra={"z": "é"}),
        request_id=None,
        source_ip="203.0.113.7",
        prev_hash=GENESIS_HASH,
    )
    assert message == (
        b'{"action":"tenant.create","actor":"user:00000000-0000-0000-0000-000000000002",'
        b'"actor_name":null,"at":"2026-01-02T03:04:05.123456Z",'
        b'"chain":"11111111-2222-4333-8444-555555555555",'
        b'"details":{"before":{"a":[true,null],"b":1},"z":"\xc3\xa9"},'
        b'"id":"00000000-0000-0000-0000-000000000001",'
        b'"prev_hash":"' + GENESIS_HASH.encode() + b'","request_id":null,"seq":1,'
        b'"source_ip":"203.0.113.7","target":"tenant:x","v":1}'
    )
    entry = AuditEntry(
        id=uuid.UUID(int=1),
        tenant_id=TENANT,
        seq=1,
        at=T0,
        actor="user:00000000-0000-0000-0000-000000000002",
        actor_name=None,
        action="tenant.create",
        target="tenant:x",
        details=msgspec.Raw(
            canonical_details(before={"b": 1, "a": [True, None]}, extra={"z": "é"})
        ),
        request_id=None,
        source_ip="203.0.113.7",
        prev_hash=GENESIS_HASH,
        hash="",
    )
    assert hash_of(entry) == hashlib.sha256(message).hexdigest()


def test_whole_seconds_still_carry_six_fraction_digits() -> None:
    entry = chain(1)[0]
    whole = msgspec.structs.replace(entry, at=entry.at.replace(microsecond=0))
    assert b'"at":"2026-01-02T03:04:06.000000Z"' in canonical_bytes(
        **{f: getattr(whole, f) for f in whole.__struct_fields__ if f != "hash"}
        | {"details": bytes(whole.details)}
    )


def test_an_intact_chain_verifies() -> None:
    entries = chain(5)
    verifier = ChainVerifier(TENANT)
    assert all(verifier.feed(e) for e in entries)
    report = verifier.report()
    assert report.ok
    assert report.entries == 5
    assert report.head == entries[-1].hash


def test_an_empty_chain_verifies_with_the_genesis_head() -> None:
    report = ChainVerifier(None).report()
    assert report.ok
    assert report.entries == 0
    assert report.head == GENESIS_HASH


@pytest.mark.parametrize(
    "field",
    ["details", "actor", "actor_name", "action", "target", "at", "request_id", "source_ip", "id"],
)
def test_changing_any_field_breaks_that_entry(field: str) -> None:
    entries = chain(4)
    victim = entries[2]
    changed = {
        "details": msgspec.Raw(b'{"after":{"n":999}}'),
        "actor": "user:evil",
        "actor_name": "someone-else@example.test",
        "action": "user.delete",
        "target": "user:other",
        "at": victim.at + timedelta(microseconds=1),
        "request_id": "forged",
        "source_ip": "198.51.100.1",
        "id": uuid.uuid4(),
    }[field]
    entries[2] = msgspec.structs.replace(victim, **{field: changed})
    report = verify(entries)
    assert not report.ok
    assert report.first_bad_id == entries[2].id
    assert report.first_bad_seq == 3
    assert report.entries == 2


def test_a_removed_entry_is_named_by_its_successor() -> None:
    entries = chain(5)
    del entries[1]
    report = verify(entries)
    assert report.first_bad_id == entries[1].id
    assert report.reason is not None
    assert "sequence" in report.reason


def test_a_resealed_entry_breaks_its_successor() -> None:
    # The attacker edits entry 2 and recomputes its hash: entry 3's prev_hash exposes it.
    entries = chain(4)
    edited = msgspec.structs.replace(entries[1], action="user.nothing_to_see")
    entries[1] = msgspec.structs.replace(edited, hash=hash_of(edited))
    report = verify(entries)
    assert report.first_bad_id == entries[2].id
    assert report.reason == "prev_hash does not match the previous entry's hash"


def test_entries_of_another_chain_are_refused() -> None:
    report = verify(chain(2, tenant=None), tenant=TENANT)
    assert not report.ok
    assert report.first_bad_seq == 1


def verify(entries: list[AuditEntry], tenant: uuid.UUID | None = TENANT) -> VerifyReport:
    verifier = ChainVerifier(tenant)
    for entry in entries:
        if not verifier.feed(entry):
            break
    return verifier.report()
