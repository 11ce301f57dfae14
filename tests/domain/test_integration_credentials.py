"""Integration credentials' pure rules: the token's shape and digest, and which roles a
creator may grant."""

from __future__ import annotations

import hashlib

import pytest

from actors.domain.integrations import (
    PREFIX,
    grantable_roles,
    integration_token_digest,
    looks_like_integration_token,
    new_integration_token,
    same_digest,
)
from actors.domain.rbac import Role
from actors.errors import Forbidden, Invalid


def test_tokens_are_prefixed_full_entropy_and_distinct() -> None:
    tokens = {new_integration_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert token.startswith(PREFIX)
        assert len(token) == len(PREFIX) + 43  # 32 bytes, URL-safe base64
        assert looks_like_integration_token(token)


def test_the_digest_is_sha256_and_malformed_tokens_have_none() -> None:
    token = new_integration_token()
    assert integration_token_digest(token) == hashlib.sha256(token.encode()).digest()
    assert integration_token_digest("eyJhbGciOi.not.ours") is None
    assert integration_token_digest(PREFIX + "x" * 200) is None
    assert same_digest(b"a" * 32, b"a" * 32)
    assert not same_digest(b"a" * 32, b"b" * 32)


def test_a_tenant_admin_may_grant_any_tenant_role() -> None:
    granted = grantable_roles(
        frozenset({Role.TENANT_ADMIN}), [Role.VIEWER, Role.EDITOR, Role.VIEWER]
    )
    assert granted == (Role.EDITOR, Role.VIEWER)


@pytest.mark.parametrize("role", [Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR])
def test_platform_roles_are_never_granted_even_by_a_platform_admin(role: Role) -> None:
    with pytest.raises(Invalid) as refused:
        grantable_roles(frozenset({Role.PLATFORM_ADMIN}), [Role.VIEWER, role])
    assert refused.value.field == "roles"


def test_no_role_allowing_what_the_creator_may_not_do() -> None:
    # Only tenant and platform admins manage integrations today; the rule holds whatever
    # the RBAC table grants later.
    with pytest.raises(Forbidden, match=r"emergency\.trigger"):
        grantable_roles(frozenset({Role.EDITOR}), [Role.EMERGENCY_OPERATOR])
    assert grantable_roles(frozenset({Role.EDITOR}), [Role.VIEWER]) == (Role.VIEWER,)


def test_an_empty_grant_is_invalid() -> None:
    with pytest.raises(Invalid):
        grantable_roles(frozenset({Role.TENANT_ADMIN}), [])
