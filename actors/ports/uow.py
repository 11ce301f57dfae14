"""One transaction and its repositories (see the package docstring)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from actors.ports.accounts import SessionRepository, ThrottleRepository, UserRepository
from actors.ports.audit import AuditRepository
from actors.ports.cap import CapRepository
from actors.ports.content import ContentRepository, PlaylistRepository, ScheduleRepository
from actors.ports.devices import ClaimRepository, DeviceRepository
from actors.ports.emergencies import EmergencyRepository
from actors.ports.emergency_templates import EmergencyTemplateRepository
from actors.ports.fleet import FleetRepository
from actors.ports.integrations import IntegrationRepository
from actors.ports.manifests import ManifestRepository
from actors.ports.mfa import MfaRepository
from actors.ports.nodes import NodeRepository
from actors.ports.plays import PlayRepository
from actors.ports.sso import SsoRepository
from actors.ports.tenants import TenantRepository
from actors.ports.webhooks import WebhookRepository


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
    emergency_templates: EmergencyTemplateRepository
    content: ContentRepository
    playlists: PlaylistRepository
    schedules: ScheduleRepository
    manifests: ManifestRepository
    integrations: IntegrationRepository
    fleet: FleetRepository
    sso: SsoRepository
    webhooks: WebhookRepository
    cap: CapRepository
    plays: PlayRepository


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
