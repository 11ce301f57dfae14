"""Schedules: which playlist plays where and when (scheduler); docs/scheduling.md."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.domain.schedules import ScheduleView
from actors.pagination import ByCreation
from actors.usecases.schedules import CreateSchedule, ScheduleList, ScheduleQuery
from edge.api import ApiRouter, body, encoded, no_content, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("schedules", __name__, tag="schedules")

_SCHEDULES = "/api/v1/tenants/<uuid:tenant_id>/schedules"
_ONE = _SCHEDULES + "/<uuid:schedule_id>"


@router.post(
    _SCHEDULES,
    summary="Schedule a playlist on devices, groups or the whole tenant (scheduler)",
    request=CreateSchedule,
    response=ScheduleView,
    status=201,
    errors=(404,),
)
async def create_schedule(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(CreateSchedule)
    return encoded(await container().schedules.create(who, tenant_id, cmd), status=201)


@router.get(
    _SCHEDULES,
    summary="The tenant's schedule entries, oldest first (paged)",
    query=ScheduleQuery,
    response=ScheduleList,
    errors=(404,),
)
async def list_schedules(tenant_id: UUID) -> Response:
    who = await authenticated()
    pager = Pager(query(ScheduleQuery), ByCreation, "schedules", tenant_id)
    found = await container().schedules.list(who, tenant_id, pager.request)
    return encoded(ScheduleList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(_ONE, summary="One schedule entry", response=ScheduleView, errors=(404,))
async def get_schedule(tenant_id: UUID, schedule_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().schedules.get(who, tenant_id, schedule_id))


@router.delete(_ONE, summary="Delete a schedule entry (scheduler)", status=204, errors=(404,))
async def delete_schedule(tenant_id: UUID, schedule_id: UUID) -> Response:
    who = await authenticated()
    await container().schedules.delete(who, tenant_id, schedule_id)
    return no_content()
