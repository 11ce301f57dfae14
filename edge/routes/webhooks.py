"""Webhook endpoints (docs/operations.md, "Webhooks"): tenant_admin creates, lists and
deletes the receivers of the tenant's events, and reads each one's delivery log."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.pagination import ByCreation, BySeq
from actors.usecases.webhooks import (
    CreateWebhook,
    WebhookCreated,
    WebhookDeliveryList,
    WebhookDeliveryQuery,
    WebhookList,
    WebhookQuery,
)
from edge.api import ApiRouter, body, encoded, no_content, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("webhooks", __name__, tag="webhooks")

_TENANT = "/api/v1/tenants/<uuid:tenant_id>/webhooks"


@router.post(
    _TENANT,
    summary="Create a webhook endpoint (tenant_admin): its signing secret is shown this once",
    request=CreateWebhook,
    response=WebhookCreated,
    status=201,
    errors=(404, 409),
)
async def create_webhook(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(CreateWebhook)
    return encoded(await container().webhooks.create(who, tenant_id, cmd), status=201)


@router.get(
    _TENANT,
    summary="The tenant's webhook endpoints, oldest first (paged; never a secret)",
    query=WebhookQuery,
    response=WebhookList,
    errors=(404,),
)
async def list_webhooks(tenant_id: UUID) -> Response:
    who = await authenticated()
    pager = Pager(query(WebhookQuery), ByCreation, "webhooks", tenant_id)
    found = await container().webhooks.list(who, tenant_id, pager.request)
    return encoded(WebhookList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.delete(
    _TENANT + "/<uuid:webhook_id>",
    summary="Delete a webhook endpoint: its pending deliveries are cancelled",
    status=204,
    errors=(404,),
)
async def delete_webhook(tenant_id: UUID, webhook_id: UUID) -> Response:
    who = await authenticated()
    await container().webhooks.delete(who, tenant_id, webhook_id)
    return no_content()


@router.get(
    _TENANT + "/<uuid:webhook_id>/deliveries",
    summary="A webhook endpoint's delivery log, newest first: state, attempts, last answer",
    query=WebhookDeliveryQuery,
    response=WebhookDeliveryList,
    errors=(404,),
)
async def list_deliveries(tenant_id: UUID, webhook_id: UUID) -> Response:
    who = await authenticated()
    pager = Pager(query(WebhookDeliveryQuery), BySeq, "webhook deliveries", tenant_id, webhook_id)
    found = await container().webhooks.deliveries(who, tenant_id, webhook_id, pager.request)
    return encoded(WebhookDeliveryList(items=found.items, next_cursor=pager.next_cursor(found)))
