"""Integration credentials (service accounts): create (the token shown once), list, revoke,
and the per-request check of a presented token.

A token is checked against PostgreSQL on every request, like an access token's session
(``Auth.authenticate``): one indexed lookup, nothing cached, so a revocation or a tenant's
suspension refuses the token on every node from its commit on. Each integration's requests
are rate-limited per node (:class:`~actors.ratelimit.KeyedBuckets`, keyed by its id).

Only people create integrations: a token minting tokens would let one leak outlive its
revocation. Listing and revoking follow the roles (``integration.manage``).
"""

from __future__ import annotations

import time
from uuid import UUID, uuid4

import msgspec

from actors.domain.integrations import (
    Integration,
    IntegrationName,
    IntegrationRoles,
    grantable_roles,
    integration_token_digest,
    new_integration_token,
    same_digest,
    token_hint,
)
from actors.domain.principal import Principal, RequestMeta
from actors.domain.rbac import Permission, authorize
from actors.errors import Forbidden, NotFound, Unauthenticated
from actors.pagination import ByName, Page, PageRequest, Paging
from actors.ports.uow import UnitOfWork
from actors.ratelimit import Clock, KeyedBuckets
from actors.settings import HttpSettings

#: The one answer to every refused integration token, whatever the reason.
BAD_TOKEN = "the integration token is not valid or has been revoked"  # noqa: S105 - a message


class CreateIntegration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: IntegrationName
    roles: IntegrationRoles


class IntegrationCreated(Integration, frozen=True, kw_only=True):
    """The 201 of a creation. ``token`` is shown this once: store it in the alerting
    system's secret store; it is kept only as a digest and cannot be shown again."""

    token: str


class IntegrationQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../integrations?limit=&cursor=``: live integrations by name."""


class IntegrationList(msgspec.Struct, frozen=True):
    items: list[Integration]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class Integrations:
    def __init__(self, uow: UnitOfWork, requests: KeyedBuckets) -> None:
        self._uow = uow
        self._requests = requests

    @classmethod
    def from_settings(
        cls, uow: UnitOfWork, http: HttpSettings, *, clock: Clock = time.monotonic
    ) -> Integrations:
        buckets = KeyedBuckets(
            http.integration_per_s,
            http.integration_burst,
            max_keys=http.rate_limit_max_keys,
            clock=clock,
        )
        return cls(uow, buckets)

    async def create(
        self, who: Principal, tenant_id: UUID, cmd: CreateIntegration
    ) -> IntegrationCreated:
        """:raises Invalid: (422) for a platform role.
        :raises Forbidden: (403) for a role allowing more than ``who``'s own roles, or a
            caller that is itself an integration.
        :raises Conflict: (409) if a live integration of the tenant has this name."""
        authorize(who, Permission.INTEGRATION_MANAGE, tenant_id)
        if not who.is_person:
            raise Forbidden("integration credentials are created by people, not by integrations")
        roles = grantable_roles(who.roles, cmd.roles)
        token = new_integration_token()
        digest = integration_token_digest(token)
        assert digest is not None
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            created = await tx.integrations.create(
                integration_id=uuid4(),
                tenant_id=tenant_id,
                name=cmd.name,
                roles=roles,
                token_hash=digest,
                token_hint=token_hint(token),
                created_by=who.actor.ref,
            )
            await tx.audit.append(
                tenant_id, who, "integration.create", target=created.ref, after=created
            )
        return IntegrationCreated(**msgspec.structs.asdict(created), token=token)

    async def list(
        self, who: Principal, tenant_id: UUID, page: PageRequest[ByName]
    ) -> Page[Integration, ByName]:
        """One page of the tenant's live integrations, by name (never a token)."""
        authorize(who, Permission.INTEGRATION_MANAGE, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            rows = await tx.integrations.page(tenant_id, page)
        return page.page(rows, lambda i: ByName(i.name, i.id))

    async def revoke(self, who: Principal, tenant_id: UUID, integration_id: UUID) -> None:
        """Revoke at once: from the commit on, the token is refused on every node (each
        request is checked against PostgreSQL).

        :raises NotFound: (404) if there is no such live integration in the tenant."""
        authorize(who, Permission.INTEGRATION_MANAGE, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            revoked = await tx.integrations.revoke(
                tenant_id, integration_id, revoked_by=who.actor.ref
            )
            if revoked is None:
                raise NotFound("no such integration")
            await tx.audit.append(
                tenant_id, who, "integration.revoke", target=revoked.ref, before=revoked
            )

    async def authenticate(self, token: str, meta: RequestMeta) -> Principal:
        """The principal an integration token stands for, checked against the database
        now: not revoked, its tenant active.

        :raises Unauthenticated: (401) for a malformed, unknown or revoked token, or one
            of a suspended tenant (one message for all).
        :raises Throttled: (429) past the integration's request rate on this node.
        """
        digest = integration_token_digest(token)
        if digest is None:
            raise Unauthenticated(BAD_TOKEN)
        async with self._uow.anonymous() as tx:
            found = await tx.integrations.bearer(digest)
        if found is None or not same_digest(digest, found.token_hash) or not found.live:
            raise Unauthenticated(BAD_TOKEN)
        self._requests.check(str(found.integration_id), "requests from this integration")
        return Principal(
            kind="integration",
            user_id=found.integration_id,
            tenant_id=found.tenant_id,
            email=found.name,
            roles=frozenset(found.roles),
            request_id=meta.request_id,
            source_ip=meta.source_ip,
        )
