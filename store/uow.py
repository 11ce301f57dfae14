"""The unit of work: :class:`Store` opens scoped transactions, :class:`StoreTx` holds the
repositories bound to one of them. Implements ``actors.ports.uow.UnitOfWork`` / ``Tx``.

To add a repository: write ``store/repos/<aggregate>.py`` and add one attribute to
``StoreTx.__init__`` (typed with its port, so mypy checks the two agree).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from uuid import UUID

from actors.ports import accounts, audit, content, devices, emergencies, manifests, nodes, tenants
from actors.ports.cap import CapRepository as CapRepositoryPort
from actors.ports.emergency_templates import (
    EmergencyTemplateRepository as EmergencyTemplateRepositoryPort,
)
from actors.ports.fleet import FleetRepository as FleetRepositoryPort
from actors.ports.integrations import IntegrationRepository as IntegrationRepositoryPort
from actors.ports.mfa import MfaRepository as MfaRepositoryPort
from actors.ports.plays import PlayRepository as PlayRepositoryPort
from actors.ports.sso import SsoRepository as SsoRepositoryPort
from actors.ports.webhooks import WebhookRepository as WebhookRepositoryPort
from store.db import Connection, Database
from store.repos.audit import AuditRepository
from store.repos.cap import CapRepository
from store.repos.claims import ClaimRepository
from store.repos.content import ContentRepository
from store.repos.devices import DeviceRepository
from store.repos.emergencies import EmergencyRepository
from store.repos.emergency_templates import EmergencyTemplateRepository
from store.repos.fleet import FleetRepository
from store.repos.integrations import IntegrationRepository
from store.repos.manifests import ManifestRepository
from store.repos.mfa import MfaRepository
from store.repos.nodes import NodeRepository
from store.repos.playlists import PlaylistRepository
from store.repos.plays import PlayRepository
from store.repos.schedules import ScheduleRepository
from store.repos.sessions import SessionRepository
from store.repos.sso import SsoRepository
from store.repos.tenants import TenantRepository
from store.repos.throttle import ThrottleRepository
from store.repos.users import UserRepository
from store.repos.webhooks import WebhookRepository


class StoreTx:
    """One transaction's repositories; valid only inside the ``async with`` that made it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.tenants: tenants.TenantRepository = TenantRepository(conn)
        self.users: accounts.UserRepository = UserRepository(conn)
        self.sessions: accounts.SessionRepository = SessionRepository(conn)
        self.throttle: accounts.ThrottleRepository = ThrottleRepository(conn)
        self.mfa: MfaRepositoryPort = MfaRepository(conn)
        self.audit: audit.AuditRepository = AuditRepository(conn)
        self.devices: devices.DeviceRepository = DeviceRepository(conn)
        self.claims: devices.ClaimRepository = ClaimRepository(conn)
        self.nodes: nodes.NodeRepository = NodeRepository(conn)
        self.emergencies: emergencies.EmergencyRepository = EmergencyRepository(conn)
        self.emergency_templates: EmergencyTemplateRepositoryPort = EmergencyTemplateRepository(
            conn
        )
        self.content: content.ContentRepository = ContentRepository(conn)
        self.playlists: content.PlaylistRepository = PlaylistRepository(conn)
        self.schedules: content.ScheduleRepository = ScheduleRepository(conn)
        self.manifests: manifests.ManifestRepository = ManifestRepository(conn)
        self.integrations: IntegrationRepositoryPort = IntegrationRepository(conn)
        self.fleet: FleetRepositoryPort = FleetRepository(conn)
        self.sso: SsoRepositoryPort = SsoRepository(conn)
        self.webhooks: WebhookRepositoryPort = WebhookRepository(conn)
        self.cap: CapRepositoryPort = CapRepository(conn)
        self.plays: PlayRepositoryPort = PlayRepository(conn)


class Store:
    """The application's :class:`~actors.ports.uow.UnitOfWork` over a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def tenant(self, tenant_id: UUID) -> AsyncIterator[StoreTx]:
        async with self.db.tenant(tenant_id) as conn:
            yield StoreTx(conn)

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[StoreTx]:
        async with self.db.platform() as conn:
            yield StoreTx(conn)

    @asynccontextmanager
    async def anonymous(self) -> AsyncIterator[StoreTx]:
        async with self.db.anonymous() as conn:
            yield StoreTx(conn)

    def scoped(self, tenant_id: UUID | None) -> AbstractAsyncContextManager[StoreTx]:
        return self.platform() if tenant_id is None else self.tenant(tenant_id)
