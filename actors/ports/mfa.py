"""Second factors (TOTP, recovery codes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from actors.domain.mfa import ChallengeOwner, ChallengeState, TotpRecord
from actors.domain.rbac import Role


class MfaRepository(Protocol):
    async def totp(
        self, tenant_id: UUID | None, user_id: UUID, *, for_update: bool = False
    ) -> TotpRecord | None: ...

    async def begin_totp(self, tenant_id: UUID | None, user_id: UUID, secret: str) -> bool:
        """Store a new unconfirmed secret (replacing an unconfirmed one); ``False`` if a
        confirmed enrolment exists (left alone)."""
        ...

    async def confirm_totp(self, tenant_id: UUID | None, user_id: UUID, step: int) -> bool:
        """Mark the pending enrolment confirmed by a code of ``step``."""
        ...

    async def accept_step(self, tenant_id: UUID | None, user_id: UUID, step: int) -> bool:
        """Record ``step`` as used; ``False`` if it is not newer than the last one (a
        replayed code), atomically."""
        ...

    async def remove(self, tenant_id: UUID | None, user_id: UUID) -> bool:
        """Delete the enrolment, recovery codes and open challenges; ``True`` if a
        confirmed second factor was removed."""
        ...

    async def replace_recovery_codes(
        self, tenant_id: UUID | None, user_id: UUID, digests: Sequence[bytes]
    ) -> None: ...

    async def spend_recovery_code(
        self, tenant_id: UUID | None, user_id: UUID, digest: bytes
    ) -> bool:
        """Spend an unused code; ``False`` if none matches."""
        ...

    async def recovery_codes_left(self, tenant_id: UUID | None, user_id: UUID) -> int: ...

    async def open_challenge(
        self, tenant_id: UUID | None, user_id: UUID, token_hash: bytes, ttl_s: int
    ) -> None:
        """Store a login challenge (and forget the user's expired ones)."""
        ...

    async def find_challenge(self, token_hash: bytes) -> ChallengeOwner | None:
        """Whose challenge this is, in any scope (anonymous included)."""
        ...

    async def lock_challenge(
        self, tenant_id: UUID | None, challenge_id: UUID
    ) -> ChallengeState | None: ...

    async def challenge_failed(self, tenant_id: UUID | None, challenge_id: UUID) -> int:
        """Count a wrong code on the challenge; returns its failures."""
        ...

    async def close_challenge(self, tenant_id: UUID | None, challenge_id: UUID) -> None: ...

    async def policy(self, tenant_id: UUID) -> tuple[Role, ...]:
        """Roles the tenant requires a second factor for (empty: none)."""
        ...

    async def set_policy(self, tenant_id: UUID, roles: Sequence[Role]) -> None: ...
