"""Login sessions: a refresh-token family and what the store reports about it.

A login opens a family; every refresh spends one token of it and issues the next. The
family id is the access token's ``sid`` claim, so revoking a family (logout, reuse of a
spent token, disabled user, suspended tenant) ends its access tokens too, at once.
"""

from __future__ import annotations

import hashlib
from typing import Literal
from uuid import UUID

import msgspec

from actors.domain.rbac import Role

RevokeReason = Literal[
    "logout", "reuse", "user_disabled", "tenant_suspended", "password_change", "password_reset"
]


class LoginCandidate(msgspec.Struct, frozen=True):
    """The account an email names, as much as checking a password needs."""

    user_id: UUID
    tenant_id: UUID | None
    password_hash: str


class RefreshTokenOwner(msgspec.Struct, frozen=True):
    """Whose a presented refresh token is (found by digest, before the tenant is known)."""

    token_id: UUID
    family_id: UUID
    user_id: UUID
    tenant_id: UUID | None


class RefreshTokenState(msgspec.Struct, frozen=True, kw_only=True):
    """A refresh token, locked for this transaction, with everything that decides its fate.
    Times are judged by the database clock."""

    token_id: UUID
    family_id: UUID
    user_id: UUID
    tenant_id: UUID | None
    spent: bool
    #: Spent so recently that presenting it again is a second tab refreshing at the same
    #: moment, not a replay (``REFRESH_REUSE_GRACE_S``).
    spent_within_grace: bool
    expired: bool
    family_live: bool
    account_active: bool


class SessionState(msgspec.Struct, frozen=True, kw_only=True):
    """What an access token's bearer is right now: checked on every request."""

    email: str
    roles: tuple[Role, ...]
    #: Account enabled, tenant (if any) active, family neither revoked nor expired.
    live: bool
    #: The session may only change the password (a one-time password from a reset)...
    password_change_required: bool = False
    #: ...or only enrol a second factor (a policy requires one for the user's roles).
    mfa_enrolment_required: bool = False


def session_digest(session_id: UUID) -> str:
    """How the audit trail names a login session: a digest of its id, never the id.

    The id is the access token's ``sid`` claim; an auditor who could read it would need
    only the signing key to mint a token for a live session. The digest still lets login,
    logout and reuse entries of one session be matched up.
    """
    return hashlib.sha256(b"session:" + session_id.bytes).hexdigest()[:32]
