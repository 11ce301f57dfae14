"""Tenants: the rows every other aggregate is scoped to."""

from __future__ import annotations

import builtins
from typing import Protocol
from uuid import UUID

from actors.domain.tenants import Tenant, TenantStatus
from actors.pagination import ByCreation, PageRequest


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
