"""What the emergency-template use cases need from the store
(store/repos/emergency_templates.py). Every method takes the owning tenant explicitly.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from actors.domain.emergency_templates import EmergencyTemplate, TemplateState
from actors.domain.targets import Target
from actors.pagination import ByName, PageRequest
from actors.protocol import EmergencyMode, Severity


class EmergencyTemplateRepository(Protocol):
    async def lock_quota(self, tenant_id: UUID) -> None:
        """Serialise the tenant's template creations until the transaction ends (so that
        a count and the insert it allows are one decision)."""
        ...

    async def count_kept(self, tenant_id: UUID) -> int:
        """The tenant's templates that are not archived."""
        ...

    async def create(
        self,
        *,
        template_id: UUID,
        tenant_id: UUID,
        name: str,
        message: str,
        severity: Severity,
        target: Target,
        expires_in_s: int | None,
        mode: EmergencyMode,
        created_by: str,
    ) -> EmergencyTemplate:
        """A new template, pending approval.

        :raises Conflict: if a template of the tenant that is not archived has this name.
        """
        ...

    async def get(
        self, tenant_id: UUID, template_id: UUID, *, lock: bool = False
    ) -> EmergencyTemplate | None:
        """One of the tenant's templates; ``lock``: its row is held (``FOR UPDATE``) until
        the transaction ends, so no decision on it commits meanwhile."""
        ...

    async def approve(
        self, tenant_id: UUID, template_id: UUID, *, approved_by: str
    ) -> EmergencyTemplate:
        """Record the approval of a pending template (checked by the caller, row held)."""
        ...

    async def archive(
        self, tenant_id: UUID, template_id: UUID, *, archived_by: str
    ) -> EmergencyTemplate:
        """Archive a template that is not archived (checked by the caller, row held)."""
        ...

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByName], *, state: TemplateState | None
    ) -> list[EmergencyTemplate]:
        """Up to ``page.fetch`` templates after ``page.after``, by name then id; ``state``
        those in one state only."""
        ...
