"""Tenants: the organisations sharing one installation, and the rules for their names."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

TenantStatus = Literal["active", "suspended"]

#: 1-200 characters, at least one visible, no control characters.
TenantName = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=200, pattern=r"^(?=.*\S)[^\x00-\x1f\x7f]+$"),
]
#: DNS-label style: lower-case letters, digits and inner hyphens, 1-63 characters.
TenantSlug = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"),
]


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    slug: str
    status: TenantStatus
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"tenant:{self.id}"
