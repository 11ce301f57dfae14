"""Who is asking: the authenticated :class:`Principal`, and the :class:`Actor` audit names.

The edge builds a ``Principal`` from a verified bearer token (``edge/auth.py``) and hands
it to use cases, which pass it to :func:`actors.domain.rbac.authorize` and to the audit
trail. Request metadata (request id, source address) travels with it so every audit entry
can say where an action came from without the use case knowing about HTTP.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

from actors.domain.rbac import Permission, Role, permissions_of

#: What a session must do before it may do anything else: change the one-time password an
#: admin reset gave it, or enrol the second factor a policy requires for its roles.
Restriction = Literal["change_password", "enrol_mfa"]
#: A person (a user account) or an integration credential (a service account).
PrincipalKind = Literal["user", "integration"]


class RequestMeta(msgspec.Struct, frozen=True):
    """Where a request came from; given to use cases that run before authentication."""

    request_id: str | None = None
    source_ip: str | None = None


class AuditActor(msgspec.Struct, frozen=True):
    """Who an audit entry names.

    ``ref`` is ``"user:<uuid>"`` for people, ``"integration:<uuid>"`` for integration
    credentials, ``"system:<what>"`` for the service itself
    (CLI, expiry jobs), ``"anonymous"`` for unauthenticated callers (failed logins).
    """

    ref: str
    name: str | None = None
    request_id: str | None = None
    source_ip: str | None = None

    @classmethod
    def system(cls, what: str) -> AuditActor:
        return cls(ref=f"system:{what}", name=what)

    @classmethod
    def anonymous(cls, meta: RequestMeta, claimed_name: str | None = None) -> AuditActor:
        return cls(
            ref="anonymous",
            name=claimed_name,
            request_id=meta.request_id,
            source_ip=meta.source_ip,
        )


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated admin user, as of this request.

    ``roles`` are read from the database on every request (not trusted from the token),
    so a role change or a disabled account takes effect at once.
    """

    user_id: UUID
    #: ``None`` for platform users.
    tenant_id: UUID | None
    email: str
    roles: frozenset[Role]
    #: The refresh-token family (login session) the access token belongs to.
    session_id: UUID | None = None
    request_id: str | None = None
    source_ip: str | None = None
    #: Set while the session may only change its password or enrol a second factor; the
    #: edge then refuses every other route (403).
    restriction: Restriction | None = None
    #: ``"integration"``: an integration credential's token; ``user_id`` is then the
    #: integration's id and ``email`` its name (docs/security.md).
    kind: PrincipalKind = "user"

    @property
    def is_person(self) -> bool:
        return self.kind == "user"

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.roles)

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    @property
    def is_platform_admin(self) -> bool:
        return Role.PLATFORM_ADMIN in self.roles

    @property
    def actor(self) -> AuditActor:
        return AuditActor(
            ref=f"{self.kind}:{self.user_id}",
            name=self.email,
            request_id=self.request_id,
            source_ip=self.source_ip,
        )

    @property
    def meta(self) -> RequestMeta:
        return RequestMeta(request_id=self.request_id, source_ip=self.source_ip)
