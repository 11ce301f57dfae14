"""Webhook endpoints (tenant_admin: create with the secret shown once, list, delete, read
the delivery log) and :func:`notify_in`, which the use cases that make a notable change
call inside their transaction.

The outbox is the promise: :func:`notify_in` writes one pending delivery per subscribed
endpoint in the caller's transaction, so a notification exists exactly when its change
committed, and outlives any restart. The delivery workers
(:mod:`actors.services.webhook_dispatcher`) take it from there.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.webhooks import (
    DestinationPolicy,
    Event,
    EventType,
    WebhookDelivery,
    WebhookDescription,
    WebhookEndpoint,
    WebhookEvents,
    WebhookUrl,
    new_secret,
    subscribed,
)
from actors.errors import Conflict, NotFound
from actors.pagination import ByCreation, BySeq, Page, PageRequest, Paging
from actors.ports.uow import Tx, UnitOfWork

_encoder = msgspec.json.Encoder()


class CreateWebhook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: WebhookUrl
    events: WebhookEvents
    description: WebhookDescription = ""


class WebhookCreated(WebhookEndpoint, frozen=True, kw_only=True):
    """The 201 of a creation. ``secret`` is shown this once: the receiver checks every
    delivery's ``Signage-Signature`` with it; it cannot be shown again (delete the
    endpoint and create another to change it)."""

    secret: str


class WebhookQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../webhooks?limit=&cursor=``: live endpoints, oldest first."""


class WebhookList(msgspec.Struct, frozen=True):
    items: list[WebhookEndpoint]
    next_cursor: str | None = None


class WebhookDeliveryQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../webhooks/{id}/deliveries?limit=&cursor=``: newest first."""


class WebhookDeliveryList(msgspec.Struct, frozen=True):
    items: list[WebhookDelivery]
    next_cursor: str | None = None


class Webhooks:
    def __init__(self, uow: UnitOfWork, policy: DestinationPolicy, *, max_per_tenant: int) -> None:
        self._uow = uow
        self._policy = policy
        self._max = max_per_tenant

    async def create(self, who: Principal, tenant_id: UUID, cmd: CreateWebhook) -> WebhookCreated:
        """:raises Invalid: (422, field ``url``) for a URL of the wrong shape, a scheme the
            destination policy refuses, or an IP literal it does not allow.
        :raises Conflict: (409) past WEBHOOK_MAX_PER_TENANT live endpoints."""
        authorize(who, Permission.WEBHOOK_MANAGE, tenant_id)
        self._policy.check_url(cmd.url)
        secret = new_secret()
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            if await tx.webhooks.count(tenant_id) >= self._max:
                raise Conflict(f"a tenant has at most {self._max} webhook endpoints")
            created = await tx.webhooks.create(
                endpoint_id=uuid4(),
                tenant_id=tenant_id,
                url=cmd.url,
                events=subscribed(cmd.events),
                description=cmd.description,
                secret=secret,
                created_by=who.actor.ref,
            )
            await tx.audit.append(
                tenant_id, who, "webhook.create", target=created.ref, after=created
            )
        return WebhookCreated(**msgspec.structs.asdict(created), secret=secret)

    async def list(
        self, who: Principal, tenant_id: UUID, page: PageRequest[ByCreation]
    ) -> Page[WebhookEndpoint, ByCreation]:
        authorize(who, Permission.WEBHOOK_MANAGE, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            rows = await tx.webhooks.page(tenant_id, page)
        return page.page(rows, lambda e: ByCreation(e.created_at, e.id))

    async def delete(self, who: Principal, tenant_id: UUID, endpoint_id: UUID) -> None:
        """Delete the endpoint; its pending deliveries are cancelled (an attempt in flight
        may still arrive).

        :raises NotFound: (404) if there is no such live endpoint in the tenant."""
        authorize(who, Permission.WEBHOOK_MANAGE, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            deleted = await tx.webhooks.delete(tenant_id, endpoint_id, deleted_by=who.actor.ref)
            if deleted is None:
                raise NotFound("no such webhook endpoint")
            endpoint, cancelled = deleted
            await tx.audit.append(
                tenant_id,
                who,
                "webhook.delete",
                target=endpoint.ref,
                before=endpoint,
                details={"cancelled_deliveries": cancelled},
            )

    async def deliveries(
        self, who: Principal, tenant_id: UUID, endpoint_id: UUID, page: PageRequest[BySeq]
    ) -> Page[WebhookDelivery, BySeq]:
        """The endpoint's delivery log, newest first (finished rows are kept for
        WEBHOOK_LOG_RETENTION_S)."""
        authorize(who, Permission.WEBHOOK_MANAGE, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.webhooks.get(tenant_id, endpoint_id) is None:
                raise NotFound("no such webhook endpoint")
            rows = await tx.webhooks.deliveries(tenant_id, endpoint_id, page)
        return page.page(rows, lambda d: BySeq(d.id))


def new_event(
    tenant_id: UUID, type: EventType, data: msgspec.Struct, occurred_at: datetime
) -> tuple[Event, str]:
    """An event and its encoded body (what :meth:`WebhookRepository.enqueue` takes)."""
    event = Event(id=uuid4(), type=type, tenant_id=tenant_id, occurred_at=occurred_at, data=data)
    return event, _encoder.encode(event).decode("utf-8")


async def notify_in(
    tx: Tx, tenant_id: UUID, type: EventType, data: msgspec.Struct, occurred_at: datetime
) -> int:
    """Queue ``type`` for every endpoint of ``tenant_id`` subscribed to it, in ``tx``:
    it is delivered if and only if ``tx`` commits. Returns how many deliveries.

    Call it before the transaction's audit entry (audit locks come last)."""
    return await tx.webhooks.enqueue(tenant_id, [new_event(tenant_id, type, data, occurred_at)])
