"""Access-token verification: every way a JWT can be wrong is refused (401)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from quart.typing import TestClientProtocol as Client

from actors.domain.rbac import Role
from actors.domain.tokens import AccessTokens
from actors.errors import Unauthenticated
from actors.settings import Settings
from tests.auth.conftest import Caller

SECRET = "unit-test-secret-" + "s" * 60  # long enough for HS512 too


def codec(**overrides: Any) -> AccessTokens:
    values: dict[str, Any] = {
        "secret": SECRET,
        "algorithm": "HS256",
        "issuer": "signage",
        "audience": "signage-admin",
        "ttl_s": 900,
        "leeway_s": 0,
    }
    values.update(overrides)
    return AccessTokens(**values)


def issue(tokens: AccessTokens, **kw: Any) -> str:
    return tokens.issue(
        user_id=uuid.uuid4(),
        tenant_id=kw.pop("tenant_id", None),
        session_id=uuid.uuid4(),
        roles=(Role.PLATFORM_ADMIN,),
        **kw,
    ).token


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": "signage",
        "aud": "signage-admin",
        "sub": str(uuid.uuid4()),
        "tid": None,
        "sid": str(uuid.uuid4()),
        "roles": ["platform_admin"],
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 900,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_genuine_token_verifies() -> None:
    tokens = codec()
    tenant = uuid.uuid4()
    verified = tokens.verify(issue(tokens, tenant_id=tenant))
    assert verified.tid == tenant
    assert verified.roles == (Role.PLATFORM_ADMIN,)


def test_expired_token_is_refused() -> None:
    tokens = codec()
    token = issue(tokens, now=time.time() - 901)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


def test_wrong_audience_is_refused() -> None:
    token = issue(codec(audience="another-service"))
    with pytest.raises(Unauthenticated):
        codec().verify(token)


def test_wrong_issuer_is_refused() -> None:
    token = issue(codec(issuer="someone-else"))
    with pytest.raises(Unauthenticated):
        codec().verify(token)


def test_another_secret_is_refused() -> None:
    token = issue(codec(secret="another-secret-" + "z" * 40))
    with pytest.raises(Unauthenticated):
        codec().verify(token)


def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    payload = b64(json.dumps(claims()).encode())
    with pytest.raises(Unauthenticated):
        codec().verify(f"{header}.{payload}.")


def test_another_hmac_algorithm_is_refused() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512", headers={"typ": "at+jwt"})
    with pytest.raises(Unauthenticated):
        codec().verify(token)


def test_rs256_token_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), key, algorithm="RS256", headers={"typ": "at+jwt"})
    with pytest.raises(Unauthenticated):
        codec().verify(token)


def test_hs_rs_confusion_is_refused() -> None:
    # The classic attack: an RS256 verifier fed an HS256 token whose HMAC key is the
    # public key's PEM. We pin one HMAC algorithm and one secret, so a token "signed"
    # with any other key, public or not, fails the signature check.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
    payload = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthenticated):
        codec().verify(f"{header}.{payload}.{b64(signature)}")


def test_tampered_payload_is_refused() -> None:
    tokens = codec()
    header, payload, signature = issue(tokens).split(".")
    changed = json.loads(base64.urlsafe_b64decode(payload + "=="))
    changed["roles"] = ["platform_admin", "tenant_admin"]
    changed["sub"] = str(uuid.uuid4())
    forged = f"{header}.{b64(json.dumps(changed).encode())}.{signature}"
    with pytest.raises(Unauthenticated):
        tokens.verify(forged)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "jti", "aud", "iss", "sid"])
def test_a_missing_claim_is_refused(missing: str) -> None:
    token = jwt.encode(
        claims(**{missing: ...}), SECRET, algorithm="HS256", headers={"typ": "at+jwt"}
    )
    with pytest.raises(Unauthenticated):
        codec().verify(token)


def test_a_token_of_another_type_is_refused() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"typ": "JWT"})
    with pytest.raises(Unauthenticated):
        codec().verify(token)


@pytest.mark.parametrize(
    "bad", [{"sub": "not-a-uuid"}, {"roles": ["root"]}, {"tid": 5}, {"aud": ["signage-admin", "x"]}]
)
def test_malformed_claims_are_refused(bad: dict[str, Any]) -> None:
    token = jwt.encode(claims(**bad), SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    with pytest.raises(Unauthenticated):
        codec().verify(token)


@pytest.mark.parametrize("garbage", ["", "a", "a.b", "a.b.c", "...", "é.é.é", "x" * 5000])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(Unauthenticated):
        codec().verify(garbage)


@pytest.mark.anyio
async def test_a_forged_token_for_a_real_user_is_401_over_http(
    admin: Caller, client: Client, settings: Settings
) -> None:
    real = jwt.decode(admin.access_token, options={"verify_signature": False})
    forged = jwt.encode(
        real, "not-the-server-secret-" + "q" * 30, algorithm="HS256", headers={"typ": "at+jwt"}
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    # The same claims signed with the server's secret pass: only the signature differed.
    genuine = jwt.encode(
        real, settings.auth.jwt_secret, algorithm="HS256", headers={"typ": "at+jwt"}
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {genuine}"})
    assert response.status_code == 200


@pytest.mark.anyio
async def test_an_expired_token_is_401_over_http(
    admin: Caller, client: Client, settings: Settings
) -> None:
    real = jwt.decode(admin.access_token, options={"verify_signature": False})
    real.update(iat=real["iat"] - 1000, exp=real["iat"] - 100)
    expired = jwt.encode(
        real, settings.auth.jwt_secret, algorithm="HS256", headers={"typ": "at+jwt"}
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in (await response.get_json())["detail"]


@pytest.mark.anyio
async def test_a_token_claiming_a_longer_life_than_ours_is_401_even_when_signed(
    admin: Caller, client: Client, settings: Settings
) -> None:
    # What an auditor holding the signing key would mint: a live session, ten years long.
    real = jwt.decode(admin.access_token, options={"verify_signature": False})
    real.update(exp=real["iat"] + 10 * 365 * 24 * 3600)
    minted = jwt.encode(
        real, settings.auth.jwt_secret, algorithm="HS256", headers={"typ": "at+jwt"}
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {minted}"})
    assert response.status_code == 401
    # One second past the configured lifetime is already too long.
    real.update(exp=real["iat"] + settings.auth.access_token_ttl_s + 1)
    minted = jwt.encode(
        real, settings.auth.jwt_secret, algorithm="HS256", headers={"typ": "at+jwt"}
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {minted}"})
    assert response.status_code == 401


def test_verify_refuses_a_lifetime_over_the_ttl() -> None:
    tokens = codec(ttl_s=900)
    longer = codec(ttl_s=901)
    with pytest.raises(Unauthenticated):
        tokens.verify(issue(longer))
    assert tokens.verify(issue(tokens)).exp - tokens.verify(issue(tokens)).iat == 900
