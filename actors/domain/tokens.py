"""Access tokens (signed JWTs) and refresh tokens (opaque random strings).

Access tokens are short-lived JWTs (RFC 9068 shape): ``iss``, ``aud``, ``sub`` (user id),
``tid`` (tenant id, ``null`` for platform users), ``roles``, ``sid`` (the refresh-token
family, i.e. the login session), ``jti``, ``iat``, ``exp``; header ``typ: at+jwt``.
Decoding pins the one configured algorithm, so ``alg: none`` and algorithm confusion are
refused before any claim is read, and requires every claim above. A token that claims a
longer life (``exp - iat``) than the configured access TTL is refused: we never issue one.

Refresh tokens carry no meaning: 256 random bits, stored only as their SHA-256 digest
(a slow hash adds nothing to a full-entropy secret).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from uuid import UUID

import jwt
import msgspec

from actors.domain.rbac import Role
from actors.errors import Unauthenticated

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JOSE media type, not a secret
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti"]


class AccessClaims(msgspec.Struct, frozen=True, kw_only=True):
    """The verified claims of an access token."""

    sub: UUID
    tid: UUID | None
    sid: UUID
    roles: tuple[Role, ...]
    jti: str
    iat: int
    exp: int
    iss: str
    aud: str


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    expires_in: int


class AccessTokens:
    """Issues and verifies access JWTs with one secret, one algorithm (HS256/384/512)."""

    def __init__(
        self,
        *,
        secret: str,
        algorithm: str,
        issuer: str,
        audience: str,
        ttl_s: int,
        leeway_s: int = 0,
    ) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._ttl_s = ttl_s
        self._leeway_s = leeway_s

    def issue(
        self,
        *,
        user_id: UUID,
        tenant_id: UUID | None,
        session_id: UUID,
        roles: tuple[Role, ...],
        now: float | None = None,
    ) -> IssuedToken:
        issued_at = int(time.time() if now is None else now)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "tid": None if tenant_id is None else str(tenant_id),
            "sid": str(session_id),
            "roles": [r.value for r in roles],
            "jti": uuid.uuid4().hex,
            "iat": issued_at,
            "exp": issued_at + self._ttl_s,
        }
        token = jwt.encode(
            claims, self._secret, algorithm=self._algorithm, headers={"typ": ACCESS_TOKEN_TYPE}
        )
        return IssuedToken(token=token, expires_in=self._ttl_s)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a genuine, current access token of ours.

        :raises Unauthenticated: for a bad signature, another algorithm (``none``
            included), another issuer or audience, an expired or not-yet-valid token,
            a lifetime longer than ours, a missing claim, or any malformed input. The
            message never echoes the token.
        """
        try:
            decoded = jwt.api_jwt.decode_complete(
                token,
                self._secret,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": _REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is not valid") from None
        if decoded["header"].get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthenticated("the access token is not valid")
        try:
            claims = msgspec.convert(decoded["payload"], AccessClaims)
        except msgspec.ValidationError:
            raise Unauthenticated("the access token is not valid") from None
        if claims.exp - claims.iat > self._ttl_s:
            # We never issue these: a forged or foreign token meant to outlive revocation
            # checks' assumptions. Refused whatever its signature says.
            raise Unauthenticated("the access token is not valid")
        return claims


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh refresh token and the digest under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_digest(token)


def refresh_token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
