"""Integration credentials (service accounts): what one is, its token, and who may grant
which roles to it — pure.

An integration is a tenant's alerting system or script. It holds tenant roles like a
user, but authenticates with a bearer token of its own instead of a person's password, and
audit entries name it (``integration:<id>``), not the person who created it.

The token is ``sgi_`` + 256 random bits (URL-safe base64), shown once at creation and
stored only as its SHA-256: like a device secret it has full entropy, so a fast hash
loses nothing and lets every request find the credential with one indexed lookup. The
prefix makes leaked tokens recognisable to secret scanners and lets the edge tell them
from access tokens without parsing either.

Grants (:func:`grantable_roles`): never a platform role (422), and never a role that
allows something its creator may not do (403) — an integration is a delegation, so it can
never be a way to gain a permission.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.rbac import PLATFORM_ROLES, TENANT_ROLES, Role, permissions_of
from actors.errors import Forbidden, Invalid

TOKEN_BYTES = 32
PREFIX = "sgi_"
#: Anything longer is not one of ours (ours are 47 characters): refused before hashing.
MAX_PRESENTED_LENGTH = 128
#: How many trailing characters of the token are kept to recognise it (``token_hint``).
HINT_CHARS = 4

IntegrationName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^(?=.*\S)[^\x00-\x1f\x7f]+$")
]
IntegrationRoles = Annotated[list[Role], msgspec.Meta(min_length=1, max_length=len(Role))]


def new_integration_token() -> str:
    return PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_integration_token(bearer: str) -> bool:
    """Whether a bearer credential is meant as an integration token (by its prefix)."""
    return bearer.startswith(PREFIX)


def integration_token_digest(token: str) -> bytes | None:
    """The stored digest for a presented token, or ``None`` if it is malformed."""
    if not token.startswith(PREFIX) or len(token) > MAX_PRESENTED_LENGTH:
        return None
    return hashlib.sha256(token.encode("ascii", errors="replace")).digest()


def same_digest(presented: bytes, stored: bytes) -> bool:
    """Constant-time comparison: the row found by index is confirmed without a timing
    signal about how much of the digest matched."""
    return hmac.compare_digest(presented, stored)


def token_hint(token: str) -> str:
    return token[-HINT_CHARS:]


def grantable_roles(creator: frozenset[Role], requested: Iterable[Role]) -> tuple[Role, ...]:
    """``requested`` de-duplicated in a stable order, if ``creator`` may grant them.

    :raises Invalid: (422, field ``roles``) if empty or naming a platform role.
    :raises Forbidden: (403) if the roles together allow anything ``creator``'s roles do
        not (compared by permission, so a tenant_admin may grant any tenant role).
    """
    chosen = tuple(sorted(set(requested)))
    if not chosen:
        raise Invalid("at least one role is required", field="roles")
    platform = [r.value for r in chosen if r in PLATFORM_ROLES or r not in TENANT_ROLES]
    if platform:
        raise Invalid(
            f"an integration cannot hold platform roles: {', '.join(platform)}", field="roles"
        )
    beyond = permissions_of(frozenset(chosen)) - permissions_of(creator)
    if beyond:
        lacking = ", ".join(sorted(p.value for p in beyond))
        raise Forbidden(f"you cannot grant permissions you do not hold yourself: {lacking}")
    return chosen


class Integration(msgspec.Struct, frozen=True, kw_only=True):
    """An integration credential as admins see it (never its token)."""

    id: UUID
    tenant_id: UUID
    name: str
    roles: tuple[Role, ...]
    #: The token's last characters, to tell which one is which.
    token_hint: str
    #: Who created it, as audit names them (``user:<id>``).
    created_by: str
    created_at: datetime
    #: When it last authenticated (to the minute); ``null``: never.
    last_used_at: datetime | None = None

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"integration:{self.id}"


class IntegrationBearer(msgspec.Struct, frozen=True, kw_only=True):
    """What a presented token's digest found: enough to build its principal."""

    integration_id: UUID
    tenant_id: UUID
    name: str
    roles: tuple[Role, ...]
    token_hash: bytes
    #: Not revoked, and its tenant is active.
    live: bool
