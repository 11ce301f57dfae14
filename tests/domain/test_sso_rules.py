"""The SSO rules (actors/domain/sso.py), pure: ID-token claim checks, domains, role mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from actors.domain.rbac import Role
from actors.domain.sso import (
    RoleGrant,
    SsoProvider,
    SsoRejected,
    authorization_url,
    check_id_token_claims,
    check_issuer,
    check_mapping,
    email_domain_allowed,
    mapped_roles,
)
from actors.errors import Invalid

NOW = 1_700_000_000
ISSUER = "https://idp.example/realms/corp"


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "client",
        "sub": "subject-1",
        "iat": NOW - 10,
        "exp": NOW + 300,
        "nonce": "n" * 43,
        "email": "a@corp.example",
        "email_verified": True,
        "groups": ["g1", 7, "g2"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def check(c: dict[str, Any]) -> Any:
    return check_id_token_claims(
        c,
        issuer=ISSUER,
        client_id="client",
        nonce="n" * 43,
        role_claim="groups",
        now=NOW,
        leeway_s=60,
    )


def provider(tenant: bool = True, **overrides: Any) -> SsoProvider:
    values: dict[str, Any] = {
        "id": uuid4(),
        "tenant_id": uuid4() if tenant else None,
        "issuer": ISSUER,
        "client_id": "client",
        "redirect_uri": "https://signage.example/cb",
        "scopes": ("openid", "email"),
        "allowed_domains": ("corp.example",),
        "role_claim": "groups",
        "role_mapping": (RoleGrant(value="g1", roles=[Role.EDITOR]),),
        "default_roles": (),
        "algorithms": ("RS256",),
        "password_login": True,
        "enabled": True,
        "created_at": datetime.now(UTC),
        "updated_at": datetime.now(UTC),
        "updated_by": "user:x",
    }
    values.update(overrides)
    return SsoProvider(**values)


def test_a_valid_token_gives_subject_email_and_the_string_role_values() -> None:
    found = check(claims())
    assert found.subject == "subject-1"
    assert found.email == "a@corp.example"
    assert found.role_values == ("g1", "g2")


@pytest.mark.parametrize(
    "bad",
    [
        {"iss": ISSUER + "/"},  # byte for byte
        {"aud": "other"},
        {"aud": ["other", "client"]},  # several audiences need azp = client
        {"aud": ["client"], "azp": "other"},
        {"exp": NOW - 61},
        {"exp": True},  # a boolean is no time
        {"iat": NOW + 61},
        {"nbf": NOW + 61},
        {"nonce": "m" * 43},
        {"nonce": None},
        {"sub": ""},
        {"sub": None},
        {"exp": None},
    ],
)
def test_each_claim_check_refuses(bad: dict[str, Any]) -> None:
    with pytest.raises(SsoRejected) as raised:
        check(claims(**bad))
    assert raised.value.reason == "id_token_invalid"


def test_leeway_tolerates_small_skew_and_azp_may_confirm_several_audiences() -> None:
    check(claims(exp=NOW - 30, iat=NOW + 30))
    check(claims(aud=["client", "other"], azp="client"))


@pytest.mark.parametrize(
    "bad", [{"email_verified": False}, {"email_verified": "true"}, {"email": None}]
)
def test_an_unverified_email_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(SsoRejected) as raised:
        check(claims(**bad))
    assert raised.value.reason == "email_unverified"


def test_domains_match_exactly_whatever_the_case_and_never_by_suffix() -> None:
    allowed = ("corp.example",)
    assert email_domain_allowed("x@Corp.Example", allowed)
    assert email_domain_allowed("x@corp.example.", allowed)
    assert not email_domain_allowed("x@sub.corp.example", allowed)
    assert not email_domain_allowed("x@evilcorp.example", allowed)
    assert not email_domain_allowed("x@corp.example@evil.example", allowed)
    assert not email_domain_allowed("no-at-sign", allowed)


def test_roles_are_the_defaults_plus_every_matching_grant() -> None:
    p = provider(
        default_roles=(Role.VIEWER,),
        role_mapping=(
            RoleGrant(value="g1", roles=[Role.EDITOR]),
            RoleGrant(value="g3", roles=[Role.TENANT_ADMIN]),
        ),
    )
    assert mapped_roles(p, ["g1", "g2"]) == (Role.EDITOR, Role.VIEWER)
    assert mapped_roles(provider(), ["nothing"]) == ()


def test_a_mapping_keeps_to_its_scope_and_maps_each_value_once() -> None:
    tenant = uuid4()
    with pytest.raises(Invalid):
        check_mapping(tenant, [RoleGrant(value="x", roles=[Role.PLATFORM_ADMIN])])
    with pytest.raises(Invalid):
        check_mapping(None, [RoleGrant(value="x", roles=[Role.EDITOR])])
    with pytest.raises(Invalid):
        check_mapping(tenant, [RoleGrant(value="x", roles=[Role.EDITOR])] * 2)


def test_issuers_must_be_https_without_query_and_within_the_allow_list() -> None:
    check_issuer(ISSUER, require_https=True, allowed_prefixes=())
    for bad in ("http://idp.example", "https://idp.example/?q=1", "https://u:p@idp.example"):
        with pytest.raises(Invalid):
            check_issuer(bad, require_https=True, allowed_prefixes=())
    with pytest.raises(Invalid):
        check_issuer(ISSUER, require_https=True, allowed_prefixes=("https://other.example/",))


def test_the_authorization_url_keeps_the_endpoints_own_query_but_not_our_parameters() -> None:
    url = authorization_url(
        "https://idp.example/auth?tenant=corp&state=evil",
        provider(),
        state="s",
        nonce="n",
        code_verifier="v" * 43,
    )
    assert url.startswith("https://idp.example/auth?tenant=corp&response_type=code")
    assert url.count("state=") == 1
    assert "state=s" in url
    assert "code_challenge_method=S256" in url


@pytest.mark.parametrize(
    ("amr", "multi"),
    [
        (None, False),
        ("mfa", False),  # not a list
        (["pwd"], False),
        (["pwd", "pwd"], False),
        (["mfa"], True),
        (["pwd", "otp"], True),
        (["hwk", "pin"], True),
        (["pwd", "rba"], False),  # risk-based is no factor
    ],
)
def test_a_second_factor_is_read_from_amr(amr: Any, multi: bool) -> None:
    assert check(claims(amr=amr)).multi_factor is multi
