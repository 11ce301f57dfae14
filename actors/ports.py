"""What the core needs from the outside world, as Protocols (implemented in ``store/``).

Use cases talk to PostgreSQL only through a :class:`UnitOfWork`: each ``async with`` is one
transaction whose row-level-security scope is fixed when it opens, and ``tx.<aggregate>``
are that transaction's repositories::

    authorize(who, Permission.USER_MANAGE, tenant_id)
    async with self.uow.tenant(tenant_id) as tx:
        user = await tx.users.create(tenant_id=tenant_id, ...)
        await tx.audit.append(tenant_id, who, "user.create", target=user.ref, after=user)

Leaving the block commits; an exception rolls everything back, audit entry included.

Adding a repository: a Protocol below plus one attribute on :class:`Tx`, a module in
``store/repos/`` plus one line in ``store/uow.py``.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol
from uuid import UUID

import msgspec

from actors.content_ports import (
    ContentRepository,
    ManifestRepository,
    PlaylistRepository,
    ScheduleRepository,
)
from actors.domain.audit import AuditEntry
from actors.domain.devices import Credential, Device, DeviceFilter, Presence, SessionGrant
from actors.domain.emergencies import (
    AckStats,
    Emergency,
    EmergencyAck,
    EmergencyEvent,
    EmergencySnapshot,
    EmergencyTarget,
    EndReason,
)
from actors.domain.pairing import ClaimFailure
from actors.domain.principal import Actor, Principal
from actors.domain.rbac import Role
from actors.domain.sessions import (
    LoginCandidate,
    RefreshTokenOwner,
    RefreshTokenState,
    RevokeReason,
    SessionState,
)
from actors.domain.tenants import Tenant, TenantStatus
from actors.domain.throttle import KeyState
from actors.domain.users import PasswordState, User
from actors.fleet_ports import FleetRepository
from actors.integration_ports import IntegrationRepository
from actors.mfa_ports import MfaRepository
from actors.pagination import ByCreation, ByEmail, ByName, BySeq, ByStart, PageRequest
from actors.protocol import EmergencyMode, Severity


class TenantRepository(Protocol):
    async def create(self, *, name: str, slug: str) -> Tenant:
        """:raises Conflict: if the slug is taken."""
        ...

    async def get(self, tenant_id: UUID, *, for_update: bool = False) -> Tenant | None: ...

    async def list(self) -> list[Tenant]: ...

    async def page(self, page: PageRequest[ByCreation]) -> builtins.list[Tenant]:
        """Up to ``page.fetch`` tenants after ``page.after``, oldest first."""
        ...

    async def update(
        self, tenant_id: UUID, *, name: str | None = None, status: TenantStatus | None = None
    ) -> Tenant:
        """:raises NotFound: if there is no such tenant (in this scope)."""
        ...


class UserRepository(Protocol):
    async def create(
        self,
        *,
        tenant_id: UUID | None,
        email: str,
        password_hash: str,
        roles: tuple[Role, ...],
    ) -> User:
        """:raises Conflict: if the (normalised) email is taken, in any tenant."""
        ...

    async def get(
        self, tenant_id: UUID | None, user_id: UUID, *, for_update: bool = False
    ) -> User | None: ...

    async def page(self, tenant_id: UUID | None, page: PageRequest[ByEmail]) -> list[User]:
        """Up to ``page.fetch`` users after ``page.after``, by email then id."""
        ...

    async def update(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        *,
        roles: tuple[Role, ...] | None = None,
        disabled: bool | None = None,
    ) -> User:
        """:raises NotFound: if there is no such user (in this scope)."""
        ...

    async def set_password_hash(
        self, tenant_id: UUID | None, user_id: UUID, password_hash: str
    ) -> None:
        """Replace the hash of the same password (a re-hash under new parameters)."""
        ...

    async def set_password(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        password_hash: str,
        *,
        temporary_for_s: int | None = None,
    ) -> datetime | None:
        """A new password. With ``temporary_for_s`` it is one-time: it must be changed at
        the next login and stops working after that many seconds unused (returned: when).
        :raises NotFound: if there is no such user (in this scope)."""
        ...

    async def password_state(self, tenant_id: UUID | None, user_id: UUID) -> PasswordState | None:
        """The stored hash and whether it is a temporary password (and expired)."""
        ...

    async def login_candidate(self, email: str) -> LoginCandidate | None:
        """The account for a normalised email, in any scope (anonymous included)."""
        ...

    async def platform_admin_exists(self) -> bool:
        """Platform scope only."""
        ...


class SessionRepository(Protocol):
    """Refresh-token families (login sessions) and their tokens."""

    async def open(
        self,
        *,
        tenant_id: UUID | None,
        user_id: UUID,
        token_hash: bytes,
        token_ttl_s: int,
        family_ttl_s: int,
        source_ip: str | None,
    ) -> UUID:
        """Start a family with its first token; returns the family (session) id."""
        ...

    async def find_token(self, token_hash: bytes) -> RefreshTokenOwner | None:
        """Whose token this is, in any scope (anonymous included)."""
        ...

    async def lock_token(
        self, tenant_id: UUID | None, token_id: UUID, *, grace_s: int
    ) -> RefreshTokenState | None:
        """The token and its family, row-locked until the transaction ends;
        ``spent_within_grace`` if it was spent less than ``grace_s`` ago."""
        ...

    async def rotate(
        self,
        tenant_id: UUID | None,
        *,
        token_id: UUID,
        family_id: UUID,
        new_hash: bytes,
        ttl_s: int,
    ) -> None:
        """Mark ``token_id`` spent and issue ``new_hash`` in the same family."""
        ...

    async def issue_sibling(
        self, tenant_id: UUID | None, *, family_id: UUID, new_hash: bytes, ttl_s: int
    ) -> None:
        """Add ``new_hash`` to a live family without spending anything: the answer to a
        token presented again within the reuse grace (its family locked by lock_token)."""
        ...

    async def revoke_family(
        self, tenant_id: UUID | None, family_id: UUID, reason: RevokeReason
    ) -> bool:
        """True if the family was live until now."""
        ...

    async def revoke_user(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        reason: RevokeReason,
        *,
        keep: UUID | None = None,
    ) -> int:
        """Revoke every live family of a user but ``keep``; returns how many."""
        ...

    async def revoke_tenant(self, tenant_id: UUID, reason: RevokeReason) -> int:
        """Revoke every live family of a tenant's users; returns how many."""
        ...

    async def state(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        family_id: UUID,
        *,
        mfa_roles: tuple[Role, ...] = (),
    ) -> SessionState | None:
        """The session's bearer now; ``mfa_enrolment_required`` if the user holds one of
        ``mfa_roles`` (the platform policy) or of its tenant's policy without a second
        factor."""
        ...

    async def purge_expired(self, tenant_id: UUID | None, user_id: UUID) -> int:
        """Delete the user's expired refresh tokens (housekeeping)."""
        ...


class ThrottleRepository(Protocol):
    """Login attempt counters, keyed by account digest and by source address."""

    async def reserve(self, key: str, *, window_s: int, ttl_s: int) -> KeyState:
        """Take one in-flight slot on ``key`` (row-locked until the transaction ends) and
        report the key as found; the caller rolls back if the state refuses it. A slot
        not released within ``ttl_s`` lapses."""
        ...

    async def release(self, key: str, *, window_s: int) -> None:
        """Give one slot back; forget the key if nothing about it is left to remember."""
        ...

    async def count_failure(self, key: str, *, window_s: int) -> int:
        """Count one failure; returns the failures within the window, this one included."""
        ...

    async def block(self, key: str, seconds: int) -> None: ...

    async def clear(self, key: str) -> None:
        """Forget the key's failures and block (its slots in flight stay counted)."""
        ...

    async def purge_stale(self, *, window_s: int) -> int:
        """Forget up to a bounded number of keys idle for longer than the window."""
        ...


class AuditRepository(Protocol):
    """The hash-chained audit trail. ``tenant_id`` names the chain (``None``: platform)."""

    async def append(
        self,
        tenant_id: UUID | None,
        who: Principal | Actor,
        action: str,
        *,
        target: str,
        before: object = None,
        after: object = None,
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        """Seal and insert one entry at the head of ``tenant_id``'s chain, in this
        transaction (it commits or rolls back with the change it records).

        Takes the chain's lock until the transaction ends, so append *after every other
        write* of the transaction: the lock is then short, and a transaction holding it
        never waits for a row lock (which could deadlock with one waiting for the chain).
        Needs READ COMMITTED (the default). ``before``/``after``/``details`` must hold no
        secret.
        """
        ...

    async def query(
        self,
        tenant_id: UUID | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        actor: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first."""
        ...

    async def page(self, tenant_id: UUID | None, *, after_seq: int, limit: int) -> list[AuditEntry]:
        """Chain order (oldest first), entries with ``seq > after_seq``."""
        ...

    async def head_seq(self, tenant_id: UUID | None) -> int:
        """The newest entry's ``seq`` (0: empty); the chain's length while it is intact."""
        ...


class DeviceRepository(Protocol):
    """Screens. Pending registrations have no tenant: only platform scope sees them."""

    async def register(
        self,
        *,
        device_id: UUID,
        secret_hash: bytes,
        hardware_id: str,
        model: str | None,
        app_version: str | None,
        source: str,
        prefix: str,
        pairing_code: str,
        pairing_ttl_s: int,
    ) -> datetime | None:
        """Insert a pending registration from ``source`` (its address), counted under
        ``prefix`` (:func:`~actors.ratelimit.source_key`); returns when its code expires,
        or ``None`` if the pairing code is already in use (draw another). Platform scope."""
        ...

    async def pending_counts(self, prefix: str) -> tuple[int, int]:
        """Live pending registrations (counted under ``prefix``, in all). Platform scope."""
        ...

    async def purge_expired_registrations(self, *, limit: int) -> int:
        """Delete up to ``limit`` pending registrations whose code expired. Platform scope."""
        ...

    async def credential(self, secret_hash: bytes) -> Credential | None:
        """Who presents this secret, with its tenant's status. Platform scope."""
        ...

    async def credentials(self, secret_hashes: Sequence[bytes]) -> dict[bytes, Credential]:
        """:meth:`credential` for many secrets in one statement: found ones by hash."""
        ...

    async def claim(
        self,
        *,
        tenant_id: UUID,
        pairing_code: str,
        name: str,
        groups: tuple[str, ...],
        timezone: str,
        claimed_by: UUID,
    ) -> Device | None:
        """Move the pending device with this live code into ``tenant_id`` (approved, code
        spent); ``None`` if no live code matches. Platform scope."""
        ...

    async def get(
        self, tenant_id: UUID, device_id: UUID, *, for_update: bool = False
    ) -> Device | None: ...

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByName], filters: DeviceFilter | None = None
    ) -> list[Device]:
        """Up to ``page.fetch`` devices after ``page.after``, by name then id, that pass
        ``filters`` (all of them)."""
        ...

    async def many_for_update(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> list[Device]:
        """Those of ``device_ids`` that are the tenant's devices, locked (in id order)."""
        ...

    async def revoke_many(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> list[Device]:
        """Revoke these devices; returns them as revoked."""
        ...

    async def delete(self, tenant_id: UUID, device_id: UUID) -> Device | None:
        """Delete the device with its status, commands, manifests and acknowledgements;
        returns it as it was (``None``: no such device)."""
        ...

    async def update(
        self,
        tenant_id: UUID,
        device_id: UUID,
        *,
        name: str | None = None,
        groups: tuple[str, ...] | None = None,
        timezone: str | None = None,
    ) -> Device:
        """:raises NotFound: if there is no such device in ``tenant_id``."""
        ...

    async def revoke(self, tenant_id: UUID, device_id: UUID) -> Device:
        """:raises NotFound: if there is no such device in ``tenant_id``."""
        ...

    async def set_secret(self, tenant_id: UUID, device_id: UUID, secret_hash: bytes) -> Device:
        """:raises NotFound: if there is no such device in ``tenant_id``."""
        ...

    async def session_grants(
        self, tenant_id: UUID, device_ids: Sequence[UUID]
    ) -> Sequence[SessionGrant]:
        """Which of ``device_ids`` may hold a session now (approved, tenant active)."""
        ...

    async def record_last_seen(self, seen: Sequence[tuple[UUID, datetime, str]]) -> int:
        """Batch: ``(device_id, at, node_id)``; never moves ``last_seen_at`` backwards.
        Platform scope (one statement for every tenant's devices)."""
        ...


class ClaimRepository(Protocol):
    """Failed pairing-code claims per tenant (never successes). Call inside the claim's
    transaction, with the tenant's row locked."""

    async def retry_after(self, tenant_id: UUID) -> int:
        """Seconds the tenant's claims are still blocked (0: not blocked)."""
        ...

    async def count_failure(
        self, tenant_id: UUID, *, window_s: int, audit_every_s: int
    ) -> ClaimFailure:
        """Count one failure (a tenant idle for ``window_s`` starts again from one)."""
        ...

    async def block(self, tenant_id: UUID, seconds: int) -> None: ...

    async def audited(self, tenant_id: UUID) -> None:
        """An audit entry now stands for every failure counted so far."""
        ...


class NodeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One node of the cluster, as it last reported itself."""

    node_id: str
    started_at: datetime
    last_seen_at: datetime
    sessions: int
    stopped_at: datetime | None = None


class NodeRepository(Protocol):
    """The cluster's nodes (platform-level, not tenant data)."""

    async def heartbeat(self, node_id: str, started_at: datetime, sessions: int) -> None:
        """Upsert this node's row with ``last_seen_at = now()``."""
        ...

    async def stopped(self, node_id: str) -> None: ...

    async def page(self, page: PageRequest[ByStart]) -> Sequence[NodeInfo]:
        """Up to ``page.fetch`` nodes after ``page.after``, newest start first."""
        ...


class EmergencyRepository(Protocol):
    """Emergencies, their per-tenant sequence and outbox, and acknowledgements."""

    async def start(
        self,
        *,
        emergency_id: UUID,
        tenant_id: UUID,
        message: str,
        severity: Severity,
        target: EmergencyTarget,
        expires_in_s: int | None,
        started_by: str,
        broadcast_id: UUID | None = None,
        mode: EmergencyMode = "live",
    ) -> Emergency:
        """Insert the emergency with the tenant's next sequence number and its ``started``
        outbox event; ``targeted`` counts the approved devices the target matches.

        Locks the tenant's sequence counter until the transaction ends.
        """
        ...

    async def lock_counter(self, tenant_id: UUID) -> None:
        """Lock the tenant's sequence counter until the transaction ends (what every start
        and end does first): no emergency of the tenant starts or ends meanwhile. Take it
        before reading what a start depends on."""
        ...

    async def active_live(self, tenant_id: UUID) -> list[UUID]:
        """Ids of the tenant's active live emergencies (drills left out)."""
        ...

    async def end_drills(self, tenant_id: UUID, *, ended_by: str) -> list[Emergency]:
        """End (``cleared``) every active drill of the tenant; call it holding the counter
        (after a start). A drill that another writer is ending at that instant is left to
        it (never waited for: that writer waits for the counter)."""
        ...

    async def end(
        self, tenant_id: UUID, emergency_id: UUID, *, reason: EndReason, ended_by: str
    ) -> Emergency | None:
        """End it (next sequence number, outbox event) if it is still active — and, for
        ``reason="expired"``, due; ``None`` otherwise (already ended: nothing written)."""
        ...

    async def get(self, tenant_id: UUID, emergency_id: UUID) -> Emergency | None: ...

    async def snapshot(
        self, tenant_id: UUID, *, also: Sequence[UUID], recent: int
    ) -> EmergencySnapshot:
        """The tenant's head and active emergencies, with the ``recent`` latest ended ones
        and those of ``also`` (ended or not), as of one instant."""
        ...

    async def events_after(self, tenant_id: UUID, seq: int, *, limit: int) -> list[EmergencyEvent]:
        """The outbox after ``seq``, in order (at most ``limit`` events)."""
        ...

    async def of_broadcast(self, broadcast_id: UUID) -> Sequence[Emergency]:
        """Every tenant's row of one platform-wide broadcast. Platform scope."""
        ...

    async def heads(self, tenant_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Last sequence numbers of these tenants (absent: none yet). Platform scope."""
        ...

    async def due_for_expiry(self, *, limit: int) -> list[tuple[UUID, UUID]]:
        """``(tenant_id, emergency_id)`` of active emergencies past their expiry, oldest
        first. Platform scope."""
        ...

    async def record_acks(self, acks: Sequence[EmergencyAck]) -> list[float]:
        """Store a batch in one statement (first ack per device wins; acks naming another
        tenant's emergency or device are dropped); returns, for each ack that was new, the
        seconds from its emergency's start to the ack. Platform scope."""
        ...

    async def delivery(self, emergency: Emergency) -> tuple[AckStats, list[UUID]]:
        """Acknowledgements of the devices the emergency targets, and which of those
        devices have not acknowledged yet."""
        ...

    async def page(
        self,
        tenant_id: UUID,
        page: PageRequest[BySeq],
        *,
        active: bool | None,
        mode: EmergencyMode | None = None,
    ) -> list[Emergency]:
        """Newest first."""
        ...


class TenantEvents(Protocol):
    """Tells live sessions about committed changes (actors/events.py)."""

    async def publish(self, tenant_id: UUID, event: msgspec.Struct) -> None:
        """Deliver to this node's tenant actor now and to the other nodes over the relay.
        Call only after the change committed; never raises for relay trouble."""
        ...


class PresenceReader(Protocol):
    """Which devices have a live session, on which node (ephemeral, never the truth)."""

    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        """Live sessions among ``device_ids``; unknown or offline devices are absent."""
        ...


class Tx(Protocol):
    """One transaction's repositories. Every method takes the owning tenant explicitly;
    row-level security (fixed by the unit of work) is the second wall behind it."""

    tenants: TenantRepository
    users: UserRepository
    sessions: SessionRepository
    throttle: ThrottleRepository
    mfa: MfaRepository
    audit: AuditRepository
    devices: DeviceRepository
    claims: ClaimRepository
    nodes: NodeRepository
    emergencies: EmergencyRepository
    content: ContentRepository
    playlists: PlaylistRepository
    schedules: ScheduleRepository
    manifests: ManifestRepository
    integrations: IntegrationRepository
    fleet: FleetRepository


class UnitOfWork(Protocol):
    def tenant(self, tenant_id: UUID) -> AbstractAsyncContextManager[Tx]:
        """A transaction that sees only ``tenant_id``'s rows."""
        ...

    def platform(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction that sees every tenant: authorize a platform permission first."""
        ...

    def anonymous(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction that sees no tenant-owned row: for pre-authentication paths,
        which reach their one row through the store's narrow lookups."""
        ...

    def scoped(self, tenant_id: UUID | None) -> AbstractAsyncContextManager[Tx]:
        """``tenant(tenant_id)``, or ``platform()`` for ``None`` (platform users' rows)."""
        ...


class PasswordCheck(msgspec.Struct, frozen=True):
    ok: bool
    #: A re-hash under the current parameters, when the stored one is outdated.
    new_hash: str | None = None


class PasswordHasher(Protocol):
    """Slow password hashing, off the event loop and under a concurrency cap.

    Both methods may raise :class:`~actors.errors.Throttled` when too many hashes are
    already queued (a login flood), rather than queue without bound.
    """

    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, stored: str | None) -> PasswordCheck:
        """Check ``password``; with ``stored=None`` (unknown account) it spends the same
        time on a dummy hash and answers ``ok=False``."""
        ...
