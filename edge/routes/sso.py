"""Single sign-on (OIDC, docs/operations.md "SSO"): a tenant_admin (or, for the platform, a
platform_admin) configures the provider; people sign in through start → provider →
callback, which answers the same token pair as a password login."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.domain.sso import SsoProviderView
from actors.usecases.login_outcomes import TokenPair
from actors.usecases.sso import ConfigureSso, SsoCallback
from edge.api import ApiRouter, body, encoded, no_content, query
from edge.auth import authenticated, request_meta
from edge.container import container

router = ApiRouter("sso", __name__, tag="sso")

_TENANT = "/api/v1/tenants/<uuid:tenant_id>/sso"
_PLATFORM = "/api/v1/sso"
#: Neither the redirect (it carries a fresh state) nor the tokens may be cached.
_NO_STORE = {"Cache-Control": "no-store"}


# -- configuration -------------------------------------------------------------------


@router.put(
    _TENANT,
    summary="Configure the tenant's OIDC provider (tenant_admin); the client secret is never shown",
    request=ConfigureSso,
    response=SsoProviderView,
    errors=(404, 409),
)
async def configure_tenant_sso(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(ConfigureSso)
    return encoded(await container().sso.configure(who, tenant_id, cmd))


@router.get(
    _TENANT,
    summary="The tenant's OIDC provider (tenant_admin; never the client secret)",
    response=SsoProviderView,
    errors=(404,),
)
async def get_tenant_sso(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().sso.get(who, tenant_id))


@router.delete(
    _TENANT,
    summary="Remove the tenant's OIDC provider (password login is allowed again)",
    status=204,
    errors=(404,),
)
async def remove_tenant_sso(tenant_id: UUID) -> Response:
    who = await authenticated()
    await container().sso.remove(who, tenant_id)
    return no_content()


@router.put(
    _PLATFORM,
    summary="Configure the platform's OIDC provider (platform_admin)",
    request=ConfigureSso,
    response=SsoProviderView,
    errors=(409,),
)
async def configure_platform_sso() -> Response:
    who = await authenticated()
    cmd = await body(ConfigureSso)
    return encoded(await container().sso.configure(who, None, cmd))


@router.get(
    _PLATFORM,
    summary="The platform's OIDC provider (platform_admin; never the client secret)",
    response=SsoProviderView,
    errors=(404,),
)
async def get_platform_sso() -> Response:
    who = await authenticated()
    return encoded(await container().sso.get(who, None))


@router.delete(
    _PLATFORM,
    summary="Remove the platform's OIDC provider",
    status=204,
    errors=(404,),
)
async def remove_platform_sso() -> Response:
    who = await authenticated()
    await container().sso.remove(who, None)
    return no_content()


# -- the sign-in ---------------------------------------------------------------------


@router.get(
    _TENANT + "/start",
    summary="Start a sign-in with the tenant's provider: 302 to it (state, nonce, PKCE)",
    status=302,
    auth=None,
    errors=(401, 404, 429, 503),
)
async def start_tenant_sso(tenant_id: UUID) -> Response:
    return await _start(tenant_id)


@router.get(
    _TENANT + "/callback",
    summary="Finish a sign-in (the provider's redirect): the token pair of a login",
    query=SsoCallback,
    response=TokenPair,
    auth=None,
    errors=(401, 403, 404, 409, 429, 503),
)
async def tenant_sso_callback(tenant_id: UUID) -> Response:
    return await _callback(tenant_id)


@router.get(
    _PLATFORM + "/start",
    summary="Start a sign-in with the platform's provider: 302 to it (state, nonce, PKCE)",
    status=302,
    auth=None,
    errors=(401, 404, 429, 503),
)
async def start_platform_sso() -> Response:
    return await _start(None)


@router.get(
    _PLATFORM + "/callback",
    summary="Finish a platform sign-in (the provider's redirect): the token pair of a login",
    query=SsoCallback,
    response=TokenPair,
    auth=None,
    errors=(401, 403, 404, 409, 429, 503),
)
async def platform_sso_callback() -> Response:
    return await _callback(None)


async def _start(tenant_id: UUID | None) -> Response:
    started = await container().sso.start(tenant_id, request_meta())
    return Response("", status=302, headers={"Location": started.location, **_NO_STORE})


async def _callback(tenant_id: UUID | None) -> Response:
    cmd = query(SsoCallback)
    pair = await container().sso.callback(tenant_id, cmd, request_meta())
    return encoded(pair, headers=_NO_STORE)
