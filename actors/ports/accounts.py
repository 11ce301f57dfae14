"""People's accounts: users, their login sessions, login throttling, password hashing."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

import msgspec

from actors.domain.login_sessions import (
    LoginCandidate,
    RefreshTokenOwner,
    RefreshTokenState,
    RevokeReason,
    SessionState,
)
from actors.domain.rbac import Role
from actors.domain.throttle import KeyState
from actors.domain.users import PasswordState, User
from actors.pagination import ByEmail, PageRequest


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
        mfa_at_provider: bool = False,
    ) -> UUID:
        """Start a family with its first token; returns the family (session) id.
        ``mfa_at_provider``: an SSO sign-in whose provider asserted a second factor (the
        session then meets second-factor policies without a TOTP here)."""
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
