"""Emergencies (API.md, "Emergencies"): trigger, clear, list, report; the platform-wide
broadcast and its all-clear."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.domain.emergencies import TriggerEmergency
from actors.domain.emergency_templates import TriggerRequest
from actors.pagination import ByName, BySeq
from actors.usecases.emergencies import (
    BroadcastCleared,
    BroadcastTriggered,
    EmergencyDetail,
    EmergencyList,
    EmergencyQuery,
    EmergencyView,
    Triggered,
)
from actors.usecases.emergency_deliveries import ScreenDeliveryList, ScreenDeliveryQuery
from edge.api import ApiRouter, body, encoded, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("emergencies", __name__, tag="emergencies")

_TENANT = "/api/v1/tenants/<uuid:tenant_id>/emergencies"
_ONE = _TENANT + "/<uuid:emergency_id>"
_PLATFORM = "/api/v1/emergencies"


@router.post(
    _TENANT,
    summary=(
        "Trigger an emergency on the tenant's targeted screens (emergency_operator): "
        "message, severity and target, or the template_id of an approved template"
    ),
    request=TriggerRequest,
    response=Triggered,
    status=201,
    errors=(404, 409),
)
async def trigger_emergency(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = (await body(TriggerRequest)).resolve()
    return encoded(await container().emergencies.trigger(who, tenant_id, cmd), status=201)


@router.post(
    _ONE + "/clear",
    summary="Clear an emergency on every screen (emergency_operator); idempotent",
    response=EmergencyView,
    errors=(404,),
)
async def clear_emergency(tenant_id: UUID, emergency_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().emergencies.clear(who, tenant_id, emergency_id))


@router.get(
    _TENANT,
    summary=(
        "The tenant's emergencies, newest first (active=true: those still showing; "
        "mode=live or mode=drill: that kind only; paged)"
    ),
    query=EmergencyQuery,
    response=EmergencyList,
    errors=(404,),
)
async def list_emergencies(tenant_id: UUID) -> Response:
    who = await authenticated()
    q = query(EmergencyQuery)
    pager = Pager(q, BySeq, "emergencies", tenant_id, q.active, q.mode)
    found = await container().emergencies.list(who, tenant_id, q, pager.request)
    return encoded(EmergencyList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(
    _ONE,
    summary="One emergency with its delivery report (targeted, delivered, pending, offline)",
    response=EmergencyDetail,
    errors=(404,),
)
async def get_emergency(tenant_id: UUID, emergency_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().emergencies.get(who, tenant_id, emergency_id))


@router.get(
    _ONE + "/deliveries",
    summary=(
        "Each screen the emergency targets, with its delivery state (delivered, pending, "
        "offline), node, ack time and latency (viewer+; by name; paged)"
    ),
    query=ScreenDeliveryQuery,
    response=ScreenDeliveryList,
    errors=(404,),
)
async def list_deliveries(tenant_id: UUID, emergency_id: UUID) -> Response:
    who = await authenticated()
    q = query(ScreenDeliveryQuery)
    pager = Pager(q, ByName, "emergency-deliveries", tenant_id, emergency_id, q.state)
    found = await container().emergency_deliveries.list(
        who, tenant_id, emergency_id, q, pager.request
    )
    return encoded(ScreenDeliveryList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.post(
    _PLATFORM,
    summary="Trigger an emergency in every tenant at once (platform_admin)",
    request=TriggerEmergency,
    response=BroadcastTriggered,
    status=201,
    errors=(409,),
)
async def broadcast_emergency() -> Response:
    who = await authenticated()
    cmd = await body(TriggerEmergency)
    return encoded(await container().emergencies.broadcast(who, cmd), status=201)


@router.post(
    _PLATFORM + "/<uuid:broadcast_id>/clear",
    summary="Clear a platform-wide emergency in every tenant (platform_admin); idempotent",
    response=BroadcastCleared,
    errors=(404,),
)
async def clear_broadcast(broadcast_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().emergencies.clear_broadcast(who, broadcast_id))
