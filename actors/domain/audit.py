"""The audit trail's entries and their SHA-256 hash chain (pure: no I/O).

Each tenant's entries, and the platform's, form one chain: entry ``n`` stores the hash of
entry ``n-1`` (``prev_hash``; :data:`GENESIS_HASH` for the first) and its own ``hash`` over
its canonical bytes, which include ``prev_hash``. Changing, removing or reordering any
entry therefore breaks the chain from that entry on, and :class:`ChainVerifier` names it.

The exact bytes hashed (:func:`canonical_bytes`) are a contract with anyone who verifies
an export independently; docs/security.md spells them out. Bump :data:`FORMAT_VERSION`
(and keep the old rule for old entries) rather than ever changing them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

import msgspec

FORMAT_VERSION = 1
GENESIS_HASH = "0" * 64
PLATFORM_CHAIN = "platform"
#: ``area.verb`` or ``area.verb_more``: lower-case words joined by dots.
ACTION_NAME = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")

#: Sorted keys, no whitespace, UTF-8: msgspec's canonical form.
_canonical = msgspec.json.Encoder(order="sorted")


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One stored entry, as the API returns it."""

    id: UUID
    #: ``None``: the platform chain.
    tenant_id: UUID | None
    seq: int
    at: datetime
    #: ``user:<uuid>``, ``system:<what>`` or ``anonymous``.
    actor: str
    #: The actor's email (or the system component) at the time.
    actor_name: str | None
    action: str
    #: What was acted on: ``tenant:<uuid>``, ``user:<uuid>``, ``session:<uuid>``...
    target: str
    #: A JSON object (``before``/``after`` and extras), exactly the bytes that were hashed.
    details: msgspec.Raw
    request_id: str | None
    source_ip: str | None
    prev_hash: str
    hash: str


class VerifyReport(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """What :class:`ChainVerifier` concluded. ``head`` is the last good entry's hash:
    record it elsewhere to detect, later, the removal of entries at the end of a chain."""

    ok: bool
    entries: int | None = None
    head: str | None = None
    first_bad_id: UUID | None = None
    first_bad_seq: int | None = None
    reason: str | None = None


def chain_name(tenant_id: UUID | None) -> str:
    return PLATFORM_CHAIN if tenant_id is None else str(tenant_id)


def format_at(at: datetime) -> str:
    """RFC 3339 UTC with exactly six fractional digits (what PostgreSQL stores)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_details(
    *, before: object = None, after: object = None, extra: Mapping[str, object] | None = None
) -> bytes:
    """The ``details`` object of an entry, canonically encoded.

    ``before``/``after`` are snapshots of the changed thing (Structs, dicts...); they are
    omitted when ``None``. ``extra`` adds other keys. Never put a secret here.
    """
    body: dict[str, object] = dict(extra or {})
    if before is not None:
        body["before"] = before
    if after is not None:
        body["after"] = after
    return _canonical.encode(body)


def canonical_bytes(
    *,
    id: UUID,
    tenant_id: UUID | None,
    seq: int,
    at: datetime,
    actor: str,
    actor_name: str | None,
    action: str,
    target: str,
    details: bytes,
    request_id: str | None,
    source_ip: str | None,
    prev_hash: str,
) -> bytes:
    """The bytes an entry's hash is taken over: a JSON object with sorted keys."""
    return _canonical.encode(
        {
            "v": FORMAT_VERSION,
            "chain": chain_name(tenant_id),
            "seq": seq,
            "id": str(id),
            "at": format_at(at),
            "actor": actor,
            "actor_name": actor_name,
            "action": action,
            "target": target,
            "details": msgspec.Raw(details),
            "request_id": request_id,
            "source_ip": source_ip,
            "prev_hash": prev_hash,
        }
    )


def hash_of(entry: AuditEntry) -> str:
    """SHA-256 (lower-case hex) of ``entry``'s :func:`canonical_bytes`; its stored ``hash``
    is ignored, so this both seals a new entry and checks a stored one."""
    message = canonical_bytes(
        id=entry.id,
        tenant_id=entry.tenant_id,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        actor_name=entry.actor_name,
        action=entry.action,
        target=entry.target,
        details=bytes(entry.details),
        request_id=entry.request_id,
        source_ip=entry.source_ip,
        prev_hash=entry.prev_hash,
    )
    return hashlib.sha256(message).hexdigest()


class ChainVerifier:
    """Feed one chain's entries in ``seq`` order; the first inconsistency is kept.

    Incremental, so a chain of any length is verified in pages with constant memory.
    """

    def __init__(self, tenant_id: UUID | None) -> None:
        self.tenant_id = tenant_id
        self.entries = 0
        self.head: str | None = None
        self.failure: VerifyReport | None = None

    def feed(self, entry: AuditEntry) -> bool:
        """Check ``entry`` against its predecessor; False once the chain is broken."""
        if self.failure is not None:
            return False
        reason = self._fault(entry)
        if reason is not None:
            self.failure = VerifyReport(
                ok=False,
                entries=self.entries,
                head=self.head,
                first_bad_id=entry.id,
                first_bad_seq=entry.seq,
                reason=reason,
            )
            return False
        self.entries += 1
        self.head = entry.hash
        return True

    def _fault(self, entry: AuditEntry) -> str | None:
        if entry.tenant_id != self.tenant_id:
            return "the entry belongs to another chain"
        if entry.seq != self.entries + 1:
            return f"sequence gap: expected seq {self.entries + 1}, found {entry.seq}"
        if entry.prev_hash != (self.head or GENESIS_HASH):
            return "prev_hash does not match the previous entry's hash"
        if hash_of(entry) != entry.hash:
            return "hash does not match the entry's contents"
        return None

    def report(self) -> VerifyReport:
        if self.failure is not None:
            return self.failure
        return VerifyReport(ok=True, entries=self.entries, head=self.head or GENESIS_HASH)
