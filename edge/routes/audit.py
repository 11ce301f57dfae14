"""The audit trail: a tenant's chain, and the platform's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import msgspec
from quart import Response

from actors.domain.audit import AuditEntry, VerifyReport
from actors.pagination import BySeq
from actors.usecases.audit import AuditPage, AuditQuery
from edge.api import ApiRouter, encoded, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("audit", __name__, tag="audit")

NDJSON = "application/x-ndjson"
_encoder = msgspec.json.Encoder()


async def _ndjson(entries: AsyncIterator[AuditEntry]) -> AsyncIterator[bytes]:
    async for entry in entries:
        yield _encoder.encode(entry) + b"\n"


def _stream(entries: AsyncIterator[AuditEntry], name: str) -> Response:
    return Response(
        _ndjson(entries),
        content_type=NDJSON,
        headers={"Content-Disposition": f'attachment; filename="{name}.ndjson"'},
    )


@router.get(
    "/api/v1/tenants/<uuid:tenant_id>/audit",
    summary="Query a tenant's audit entries, newest first (auditor, tenant_admin; paged)",
    query=AuditQuery,
    response=AuditPage,
    errors=(404,),
)
async def tenant_audit(tenant_id: UUID) -> Response:
    return await _audit_page(tenant_id)


@router.get(
    "/api/v1/tenants/<uuid:tenant_id>/audit/verify",
    summary="Recompute a tenant's hash chain; names the first broken entry",
    response=VerifyReport,
    errors=(404,),
)
async def tenant_audit_verify(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().audit.verify(who, tenant_id))


@router.get(
    "/api/v1/tenants/<uuid:tenant_id>/audit/export",
    summary="A tenant's whole chain in order, one JSON entry per line",
    response=AuditEntry,
    media_type=NDJSON,
    errors=(404,),
)
async def tenant_audit_export(tenant_id: UUID) -> Response:
    who = await authenticated()
    entries = await container().audit.export(who, tenant_id)
    return _stream(entries, f"audit-{tenant_id}")


@router.get(
    "/api/v1/audit",
    summary="Query the platform chain, newest first (platform_admin; paged)",
    query=AuditQuery,
    response=AuditPage,
)
async def platform_audit() -> Response:
    return await _audit_page(None)


async def _audit_page(tenant_id: UUID | None) -> Response:
    who = await authenticated()
    q = query(AuditQuery)
    pager = Pager(q, BySeq, "audit", tenant_id, q.since, q.until, q.action, q.actor)
    found = await container().audit.query(who, tenant_id, q, pager.request)
    return encoded(AuditPage(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(
    "/api/v1/audit/verify",
    summary="Recompute the platform hash chain; names the first broken entry",
    response=VerifyReport,
)
async def platform_audit_verify() -> Response:
    who = await authenticated()
    return encoded(await container().audit.verify(who, None))


@router.get(
    "/api/v1/audit/export",
    summary="The platform chain in order, one JSON entry per line",
    response=AuditEntry,
    media_type=NDJSON,
)
async def platform_audit_export() -> Response:
    who = await authenticated()
    entries = await container().audit.export(who, None)
    return _stream(entries, "audit-platform")
