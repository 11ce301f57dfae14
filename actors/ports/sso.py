"""What single sign-on needs from the outside world: its tables (store/repos/sso.py), the
identity providers over HTTP (store/oidc.py) and the sealing of client secrets
(store/secret_box.py).

Every repository method takes the owning scope explicitly: a tenant id, or ``None`` for
the platform's provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol
from uuid import UUID

import msgspec

from actors.domain.sso import IdTokenAlgorithm, PendingSignIn, SsoProvider


class SsoRepository(Protocol):
    async def get(self, tenant_id: UUID | None, *, for_update: bool = False) -> SsoProvider | None:
        """The scope's provider (secret sealed), enabled or not."""
        ...

    async def save(self, provider: SsoProvider, *, create: bool) -> SsoProvider:
        """Insert (``create``) or replace the scope's provider.

        :raises Conflict: if a provider for the scope was created meanwhile."""
        ...

    async def delete(self, tenant_id: UUID | None) -> SsoProvider | None:
        """Remove the scope's provider, its sign-ins in flight and its identity links."""
        ...

    async def password_login_allowed(self, tenant_id: UUID) -> bool:
        """False when the tenant has an enabled provider that turns password login off."""
        ...

    async def open_sign_in(
        self,
        tenant_id: UUID | None,
        *,
        provider_id: UUID,
        state_hash: bytes,
        nonce: str,
        code_verifier: str,
        ttl_s: int,
    ) -> None:
        """Record a started sign-in (and purge the scope's expired ones)."""
        ...

    async def purge_expired_sign_ins(self, *, limit: int) -> int:
        """Delete up to ``limit`` expired sign-ins of every scope (platform scope only)."""
        ...

    async def spend_sign_in(
        self, tenant_id: UUID | None, state_hash: bytes
    ) -> PendingSignIn | None:
        """Delete and return the unexpired sign-in with this state digest: a state works
        once, and only within its lifetime."""
        ...

    async def identity(
        self, tenant_id: UUID | None, provider_id: UUID, issuer: str, subject: str
    ) -> UUID | None:
        """The user linked to the provider's subject (noting this sign-in), if any."""
        ...

    async def link(
        self,
        tenant_id: UUID | None,
        *,
        user_id: UUID,
        provider_id: UUID,
        issuer: str,
        subject: str,
    ) -> bool:
        """Link a user to the provider's subject; ``False`` if the user is linked to
        another subject already."""
        ...


class OidcEndpoints(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider's discovery document says, as much as a sign-in needs."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class IdentityProviders(Protocol):
    """OpenID Connect providers, reached over HTTP. Every call is bounded in time and
    size; a provider that cannot be reached raises :class:`~actors.errors.Unavailable`.
    """

    async def endpoints(self, issuer: str) -> OidcEndpoints:
        """The provider's endpoints from ``{issuer}/.well-known/openid-configuration``
        (cached), whose ``issuer`` must be ``issuer`` exactly.

        :raises SsoRejected: (``provider_error``) for a document that does not fit."""
        ...

    async def exchange_code(
        self,
        endpoints: OidcEndpoints,
        *,
        client_id: str,
        client_secret: str | None,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> str:
        """The ID token the token endpoint answers for ``code`` (client_secret_basic
        with a secret, a public client's ``client_id`` without).

        :raises SsoRejected: (``token_exchange_failed``) when the provider refuses it."""
        ...

    async def verified_claims(
        self, endpoints: OidcEndpoints, id_token: str, *, algorithms: Sequence[IdTokenAlgorithm]
    ) -> Mapping[str, object]:
        """The claims of ``id_token`` once its signature is verified with a key of the
        provider's JWKS (fetched again once for an unknown ``kid``: key rotation), by one
        of ``algorithms``. Claims are *not* checked here
        (:func:`actors.domain.sso.check_id_token_claims`).

        :raises SsoRejected: (``id_token_invalid``)."""
        ...


class SecretSealer(Protocol):
    """Authenticated encryption of client secrets at rest. ``context`` binds a sealed
    value to where it belongs: opened under another context, it fails."""

    def seal(self, secret: str, *, context: str) -> bytes: ...

    def open(self, sealed: bytes, *, context: str) -> str:
        """:raises Unavailable: if the value cannot be opened (the key changed)."""
        ...
