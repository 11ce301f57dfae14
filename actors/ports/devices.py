"""Screens: registration, claiming, credentials, presence as stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from actors.domain.devices import Credential, Device, DeviceFilter, Presence, SessionGrant
from actors.domain.pairing import ClaimFailure
from actors.pagination import ByName, PageRequest


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

    async def set_secret(
        self, tenant_id: UUID, device_id: UUID, secret_hash: bytes
    ) -> tuple[Device, bytes]:
        """The device with its new secret, and the hash of the secret it replaced.

        :raises NotFound: if there is no such device in ``tenant_id``."""
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


class PresenceReader(Protocol):
    """Which devices have a live session, on which node (ephemeral, never the truth)."""

    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        """Live sessions among ``device_ids``; unknown or offline devices are absent."""
        ...


class CredentialSource(Protocol):
    """A device's credentials read by the stored digest of its secret (a session's recheck;
    :class:`~actors.usecases.credentials.CredentialLookups` implements it)."""

    async def credential_of(self, digest: bytes) -> Credential:
        """:raises Unauthenticated: for an unknown digest.
        :raises Unavailable: when PostgreSQL cannot answer."""
        ...
