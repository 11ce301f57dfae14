"""CAP 1.2 alerts (API.md, "CAP 1.2 alerts"): the push ingest, and the tenant's mapping
of CAP areas to device groups."""

from __future__ import annotations

from uuid import UUID

from quart import Response, request

from actors.domain.cap import CAP_MAX_BODY_BYTES, CapAction, CapAreaSettings
from actors.errors import UnsupportedMedia
from actors.usecases.cap import CapResult
from edge.api import ApiRouter, body, encoded
from edge.auth import authenticated
from edge.cap_xml import parse_cap
from edge.container import container

router = ApiRouter("cap", __name__, tag="emergencies")

_CAP = "/api/v1/tenants/<uuid:tenant_id>/cap"
#: What the ingest reads (RFC 7303; CAP's own registration).
CAP_MEDIA = ("application/cap+xml", "application/xml")
_STATUS: dict[CapAction, int] = {
    "triggered": 201,
    "duplicate": 200,
    "updated": 200,
    "cleared": 200,
    "ignored": 202,
}


@router.post(
    _CAP,
    summary=(
        "Receive a CAP 1.2 message (emergency_operator): Alert → 201 triggered; Update, "
        "Cancel or a repeated (sender, identifier) → 200; System, Draft, or nothing to "
        "show → 202 ignored"
    ),
    request_media=CAP_MEDIA,
    response=CapResult,
    status=201,
    same_body=(200, 202),
    errors=(404, 409, 413, 415, 422),
    max_body=CAP_MAX_BODY_BYTES,
)
async def receive_cap(tenant_id: UUID) -> Response:
    who = await authenticated()
    if request.mimetype not in CAP_MEDIA:
        raise UnsupportedMedia(f"send the CAP message as {' or '.join(CAP_MEDIA)}")
    raw: bytes = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    alert = parse_cap(raw)
    result = await container().cap.receive(who, tenant_id, alert)
    return encoded(result, status=_STATUS[result.action])


@router.get(
    _CAP + "/areas",
    summary="The tenant's CAP area mapping (viewer+)",
    response=CapAreaSettings,
    errors=(404,),
)
async def get_cap_areas(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().cap.areas(who, tenant_id))


@router.put(
    _CAP + "/areas",
    summary="Replace the tenant's CAP area mapping: areaDesc or geocode → groups (tenant_admin)",
    request=CapAreaSettings,
    response=CapAreaSettings,
    errors=(404,),
)
async def put_cap_areas(tenant_id: UUID) -> Response:
    who = await authenticated()
    settings = await body(CapAreaSettings)
    return encoded(await container().cap.set_areas(who, tenant_id, settings))
