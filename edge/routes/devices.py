"""Devices: self-registration and the self check (screens), claim and administration
(device managers). The WebSocket session lives in ``edge/device_socket.py``."""

from __future__ import annotations

from uuid import UUID

from quart import Response, request

from actors.domain.devices import DeviceView
from actors.domain.explanations import Explanation
from actors.domain.fleet import DeviceCommand
from actors.errors import Unauthenticated
from actors.pagination import ByName
from actors.usecases.devices import (
    ClaimDevice,
    DeviceList,
    DeviceQuery,
    DeviceSelf,
    RegisterDevice,
    Registered,
    RotatedSecret,
    UpdateDevice,
)
from actors.usecases.explanations import ExplainQuery
from actors.usecases.fleet import BulkRevoke, BulkRevoked, CommandList, SendCommand
from actors.usecases.manifests import DeviceManifestView
from edge.api import ApiRouter, body, encoded, no_content, query
from edge.auth import authenticated, bearer_token, request_meta
from edge.container import container
from edge.logs import authenticated_as
from edge.pagination import Pager

router = ApiRouter("devices", __name__, tag="devices")

_TENANT_DEVICES = "/api/v1/tenants/<uuid:tenant_id>/devices"
_ONE = _TENANT_DEVICES + "/<uuid:device_id>"


def device_secret(authorization: str | None) -> str:
    """The device secret from ``Authorization: Bearer <secret>``.

    :raises Unauthenticated: if the header is missing or not a bearer credential.
    """
    secret = bearer_token(authorization)
    if secret is None:
        raise Unauthenticated("send Authorization: Bearer <device secret>")
    return secret


@router.post(
    "/api/v1/devices/register",
    summary="A screen registers itself: device id, one-time secret, pairing code",
    request=RegisterDevice,
    response=Registered,
    status=201,
    auth=None,
    errors=(429,),
)
async def register_device() -> Response:
    cmd = await body(RegisterDevice)
    registered = await container().devices.register(request_meta(), cmd)
    return encoded(registered, status=201)


@router.get(
    "/api/v1/devices/self",
    summary="A screen learns whether it is pending, approved or revoked",
    response=DeviceSelf,
    auth="device",
    errors=(429,),
)
async def device_self() -> Response:
    secret = device_secret(request.headers.get("Authorization"))
    found = await container().devices.self_status(request_meta(), secret)
    authenticated_as(f"device:{found.device_id}", found.tenant_id)
    return encoded(found)


@router.post(
    _TENANT_DEVICES + "/claim",
    summary="Approve a screen by its pairing code (device_manager)",
    request=ClaimDevice,
    response=DeviceView,
    errors=(404, 409, 429),
)
async def claim_device(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(ClaimDevice)
    return encoded(await container().devices.claim(who, tenant_id, cmd))


@router.get(
    _TENANT_DEVICES,
    summary="The tenant's devices with presence and status, by name (paged, filtered)",
    query=DeviceQuery,
    response=DeviceList,
)
async def list_devices(tenant_id: UUID) -> Response:
    who = await authenticated()
    asked = query(DeviceQuery)
    pager = Pager(asked, ByName, "devices", tenant_id)
    found = await container().devices.list(who, tenant_id, pager.request, asked.filters)
    return encoded(DeviceList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(_ONE, summary="One device with presence", response=DeviceView, errors=(404,))
async def get_device(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().devices.get(who, tenant_id, device_id))


@router.patch(
    _ONE,
    summary="Rename, regroup or change the time zone (device_manager)",
    request=UpdateDevice,
    response=DeviceView,
    errors=(404, 409),
)
async def update_device(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(UpdateDevice)
    return encoded(await container().devices.update(who, tenant_id, device_id, cmd))


@router.post(
    _ONE + "/revoke",
    summary="Revoke: the secret is refused and live sessions close on every node",
    response=DeviceView,
    errors=(404,),
)
async def revoke_device(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().devices.revoke(who, tenant_id, device_id))


@router.delete(
    _ONE,
    summary="Delete a device (device_manager): a live session closes with 4401",
    status=204,
    errors=(404,),
)
async def delete_device(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    await container().fleet.delete(who, tenant_id, device_id)
    return no_content()


@router.post(
    _TENANT_DEVICES + "/revoke",
    summary="Revoke many devices at once (device_manager): a result per device",
    request=BulkRevoke,
    response=BulkRevoked,
)
async def revoke_devices(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(BulkRevoke)
    return encoded(await container().fleet.revoke_many(who, tenant_id, cmd))


@router.post(
    _ONE + "/commands",
    summary="Send a remote command to the screen, wherever it is connected (device_manager)",
    request=SendCommand,
    response=DeviceCommand,
    status=202,
    errors=(404, 409, 429),
)
async def send_command(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(SendCommand)
    sent = await container().fleet.send_command(who, tenant_id, device_id, cmd)
    return encoded(sent, status=202)


@router.get(
    _ONE + "/commands",
    summary="The device's last commands and their state, newest first",
    response=CommandList,
    errors=(404,),
)
async def list_commands(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().fleet.commands(who, tenant_id, device_id))


@router.post(
    _ONE + "/rotate-secret",
    summary="Issue a new device secret (shown once); sessions on the old one close",
    response=RotatedSecret,
    errors=(404, 409),
)
async def rotate_device_secret(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().devices.rotate_secret(who, tenant_id, device_id))


@router.get(
    _ONE + "/manifest",
    summary="The manifest the device gets now: what it plays over the next hours",
    response=DeviceManifestView,
    errors=(404, 409),
)
async def device_manifest(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().manifests.of_device(who, tenant_id, device_id))


@router.get(
    _ONE + "/explain",
    summary="Why is this playing: the winning schedule entry at ?at= (default now) and why "
    "each other entry that targets the device does not play",
    query=ExplainQuery,
    response=Explanation,
    errors=(404, 409, 422),
)
async def explain_device(tenant_id: UUID, device_id: UUID) -> Response:
    who = await authenticated()
    asked = query(ExplainQuery)
    return encoded(await container().explanations.explain(who, tenant_id, device_id, asked.at))
