"""Admin authentication: login, refresh, logout, and who am I."""

from __future__ import annotations

from quart import Response

from actors.usecases.auth import Login, Logout, Me, Refresh, TokenPair
from edge.api import ApiRouter, body, encoded, no_content
from edge.auth import authenticated, request_meta
from edge.container import container

router = ApiRouter("auth", __name__, tag="auth")


@router.post(
    "/api/v1/auth/login",
    summary="Log in with email and password: an access token and a refresh token",
    request=Login,
    response=TokenPair,
    auth=None,
    errors=(401, 429),
)
async def login() -> Response:
    cmd = await body(Login)
    return encoded(await container().auth.login(cmd, request_meta()))


@router.post(
    "/api/v1/auth/refresh",
    summary="Spend a refresh token for a new pair (reusing a spent one ends the session)",
    request=Refresh,
    response=TokenPair,
    auth=None,
    errors=(401, 429),
)
async def refresh() -> Response:
    cmd = await body(Refresh)
    return encoded(await container().auth.refresh(cmd, request_meta()))


@router.post(
    "/api/v1/auth/logout",
    summary="End the session a refresh token belongs to (idempotent)",
    request=Logout,
    status=204,
    auth=None,
)
async def logout() -> Response:
    cmd = await body(Logout)
    await container().auth.logout(cmd, request_meta())
    return no_content()


@router.get("/api/v1/me", summary="The authenticated user", response=Me)
async def me() -> Response:
    who = await authenticated()
    return encoded(container().auth.me(who))
