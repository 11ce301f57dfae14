"""Who is calling: the bearer token → :class:`Principal`, and the request's metadata.

Routes that need a user call ``who = await authenticated()`` first and pass ``who`` to
their one use case; routes that run before authentication (login, refresh) pass
``request_meta()`` (request id, client address: see ``edge/client_address.py``).
"""

from __future__ import annotations

from quart import request

from actors.domain.integrations import looks_like_integration_token
from actors.domain.principal import Principal, RequestMeta, Restriction
from actors.errors import Forbidden, Unauthenticated
from edge.client_address import client_address
from edge.container import container
from edge.logs import authenticated_as, request_id_var

#: Longer "tokens" are refused before any parsing (ours are well under 1 KiB).
MAX_BEARER_LENGTH = 4096


def bearer_token(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header, or ``None`` if
    the header is missing, empty or of another scheme. Used for access tokens and device
    secrets alike."""
    scheme, _, credential = (authorization or "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential


#: What each restriction tells the caller to do first.
_RESTRICTED = {
    "change_password": "change your password first: POST /api/v1/me/password",
    "enrol_mfa": "a second factor is required for your roles: enrol one at /api/v1/me/mfa/totp",
}


async def authenticated(*, allow: tuple[Restriction, ...] = ()) -> Principal:
    """The admin user behind ``Authorization: Bearer <access token>``, or the integration
    credential behind ``Authorization: Bearer sgi_...`` (docs/security.md).

    A session that must first change its one-time password or enrol a required second
    factor passes only the routes that ``allow`` that (``/me`` and the steps themselves).

    :raises Unauthenticated: (401) if the header is missing or malformed, the token is
        invalid or expired, or its session has ended (logout, disabled account,
        suspended tenant), or the integration token is unknown or revoked.
    :raises Throttled: (429) past an integration's request rate.
    :raises Forbidden: (403) for a restricted session on any other route.
    """
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise Unauthenticated("send Authorization: Bearer <access token>")
    if len(token) > MAX_BEARER_LENGTH:
        raise Unauthenticated("the access token is not valid")
    if looks_like_integration_token(token):
        who = await container().integrations.authenticate(token, request_meta())
    else:
        who = await container().auth.authenticate(token, request_meta())
    if who.restriction is not None and who.restriction not in allow:
        raise Forbidden(_RESTRICTED[who.restriction])
    authenticated_as(who.actor.ref, who.tenant_id)
    return who


def request_meta() -> RequestMeta:
    """This request's id and client address, for use cases and their audit entries."""
    address = client_address(
        request.remote_addr,
        request.headers.get("X-Forwarded-For"),
        container().settings.http.trusted_proxy_hops,
    )
    return RequestMeta(
        request_id=request_id_var.get(), source_ip=None if address == "unknown" else address
    )
