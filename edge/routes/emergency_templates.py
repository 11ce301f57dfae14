"""Emergency templates (docs/emergencies.md, "Templates"): write, approve (a second
person), list, read, archive. They are triggered through ``POST .../emergencies`` with
``{"template_id"}`` (edge/routes/emergencies.py)."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.domain.emergency_templates import CreateTemplate
from actors.pagination import ByName
from actors.usecases.emergency_templates import TemplateList, TemplateQuery, TemplateView
from edge.api import ApiRouter, body, encoded, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("emergency_templates", __name__, tag="emergencies")

_TENANT = "/api/v1/tenants/<uuid:tenant_id>/emergency-templates"
_ONE = _TENANT + "/<uuid:template_id>"


@router.post(
    _TENANT,
    summary=(
        "Write an emergency template (tenant_admin, emergency_operator; people only): "
        "pending approval by a second person"
    ),
    request=CreateTemplate,
    response=TemplateView,
    status=201,
    errors=(404, 409),
)
async def create_template(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(CreateTemplate)
    return encoded(await container().emergency_templates.create(who, tenant_id, cmd), status=201)


@router.post(
    _ONE + "/approve",
    summary=(
        "Approve a pending template (tenant_admin, emergency_operator; a person other than "
        "its creator)"
    ),
    response=TemplateView,
    errors=(404, 409),
)
async def approve_template(tenant_id: UUID, template_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().emergency_templates.approve(who, tenant_id, template_id))


@router.get(
    _TENANT,
    summary="The tenant's emergency templates by name (viewer+; state= one state; paged)",
    query=TemplateQuery,
    response=TemplateList,
    errors=(404,),
)
async def list_templates(tenant_id: UUID) -> Response:
    who = await authenticated()
    q = query(TemplateQuery)
    pager = Pager(q, ByName, "emergency-templates", tenant_id, q.state)
    found = await container().emergency_templates.list(who, tenant_id, q, pager.request)
    return encoded(TemplateList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(
    _ONE,
    summary="One emergency template (viewer+)",
    response=TemplateView,
    errors=(404,),
)
async def get_template(tenant_id: UUID, template_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().emergency_templates.get(who, tenant_id, template_id))


@router.delete(
    _ONE,
    summary="Archive a template: it can no longer be triggered (tenant_admin, emergency_operator)",
    response=TemplateView,
    errors=(404, 409),
)
async def archive_template(tenant_id: UUID, template_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().emergency_templates.archive(who, tenant_id, template_id))
