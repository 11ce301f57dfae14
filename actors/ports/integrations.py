"""Integration credentials (service accounts)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from actors.domain.integrations import Integration, IntegrationBearer
from actors.domain.rbac import Role
from actors.pagination import ByName, PageRequest


class IntegrationRepository(Protocol):
    async def create(
        self,
        *,
        integration_id: UUID,
        tenant_id: UUID,
        name: str,
        roles: tuple[Role, ...],
        token_hash: bytes,
        token_hint: str,
        created_by: str,
    ) -> Integration:
        """:raises Conflict: if a live integration of the tenant has this name."""
        ...

    async def get(self, tenant_id: UUID, integration_id: UUID) -> Integration | None:
        """A live (not revoked) integration of ``tenant_id``."""
        ...

    async def page(self, tenant_id: UUID, page: PageRequest[ByName]) -> list[Integration]:
        """Up to ``page.fetch`` live integrations after ``page.after``, by name then id."""
        ...

    async def revoke(
        self, tenant_id: UUID, integration_id: UUID, *, revoked_by: str
    ) -> Integration | None:
        """Revoke a live integration (``None``: no such live one). From the commit on, its
        token authenticates nowhere."""
        ...

    async def bearer(self, token_hash: bytes) -> IntegrationBearer | None:
        """The integration with this token digest, in any scope (anonymous included);
        notes its use (at most once a minute)."""
        ...
