"""Integration credentials (docs/security.md): tenant_admin creates, lists and revokes the
service accounts alerting systems authenticate with."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.pagination import ByName
from actors.usecases.integrations import (
    CreateIntegration,
    IntegrationCreated,
    IntegrationList,
    IntegrationQuery,
)
from edge.api import ApiRouter, body, encoded, no_content, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("integrations", __name__, tag="integrations")

_TENANT = "/api/v1/tenants/<uuid:tenant_id>/integrations"


@router.post(
    _TENANT,
    summary="Create an integration credential (tenant_admin): its token is shown this once",
    request=CreateIntegration,
    response=IntegrationCreated,
    status=201,
    errors=(404, 409),
)
async def create_integration(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(CreateIntegration)
    return encoded(await container().integrations.create(who, tenant_id, cmd), status=201)


@router.get(
    _TENANT,
    summary="The tenant's live integration credentials, by name (paged; never a token)",
    query=IntegrationQuery,
    response=IntegrationList,
    errors=(404,),
)
async def list_integrations(tenant_id: UUID) -> Response:
    who = await authenticated()
    pager = Pager(query(IntegrationQuery), ByName, "integrations", tenant_id)
    found = await container().integrations.list(who, tenant_id, pager.request)
    return encoded(IntegrationList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.delete(
    _TENANT + "/<uuid:integration_id>",
    summary="Revoke an integration credential: its token is refused on every node at once",
    status=204,
    errors=(404,),
)
async def revoke_integration(tenant_id: UUID, integration_id: UUID) -> Response:
    who = await authenticated()
    await container().integrations.revoke(who, tenant_id, integration_id)
    return no_content()
