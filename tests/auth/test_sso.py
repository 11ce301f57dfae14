"""Single sign-on (OIDC, authorization code + PKCE) against a real provider on a local port
(tests/auth/oidc_provider.py): the browser's part is played by an HTTP client following
the redirects, the server's part by the API exactly as deployed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from joserfc.jwk import RSAKey
from quart import Quart
from quart.typing import TestClientProtocol as Client

from actors.domain.rbac import Role
from actors.settings import Settings
from edge.app import create_app
from tests.auth.conftest import PASSWORD, Caller, container_of, login, peer
from tests.auth.oidc_provider import OidcProvider, running_provider

pytestmark = pytest.mark.anyio

CLIENT_ID = "signage-tenant"
CLIENT_SECRET = "s3cret: with spaces & symbols"  # form-encoded in Basic auth (RFC 6749)

NewTenant = Callable[..., Awaitable[dict[str, Any]]]
NewUser = Callable[..., Awaitable[Caller]]


@pytest.fixture
def idp() -> Iterator[OidcProvider]:
    with running_provider() as provider:
        yield provider


def callback_uri(tenant_id: str | None) -> str:
    scope = "" if tenant_id is None else f"/tenants/{tenant_id}"
    return f"http://signage.test/api/v1{scope}/sso/callback"


def sso_path(tenant_id: str | None) -> str:
    return "/api/v1/sso" if tenant_id is None else f"/api/v1/tenants/{tenant_id}/sso"


def config(idp: OidcProvider, tenant_id: str | None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": callback_uri(tenant_id),
        "allowed_domains": ["corp.example"],
        "role_claim": "groups",
        "role_mapping": [
            {"value": "signage-editors", "roles": ["editor"]},
            {"value": "signage-admins", "roles": ["tenant_admin"]},
        ],
        "default_roles": ["viewer"],
    }
    body.update(overrides)
    return body


async def configure(
    admin: Caller, idp: OidcProvider, tenant_id: str | None, **overrides: Any
) -> dict[str, Any]:
    body = config(idp, tenant_id, **overrides)
    client_id = body["client_id"]
    idp.register(client_id, body.get("client_secret"), callback_uri(tenant_id))
    response = await admin.client.put(sso_path(tenant_id), json=body, headers=admin.headers)
    answer = await response.get_json()
    assert response.status_code == 200, answer
    return dict(answer)


class Flow:
    """One browser's sign-in: the start redirect, the provider's answer, the callback."""

    def __init__(self, client: Client, tenant_id: str | None) -> None:
        self.client = client
        self.tenant_id = tenant_id
        self.authorize_url = ""
        self.callback_query = ""

    async def start(self) -> Flow:
        response = await self.client.get(sso_path(self.tenant_id) + "/start", scope_base=peer())
        assert response.status_code == 302, await response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
        self.authorize_url = response.headers["Location"]
        return self

    @property
    def state(self) -> str:
        return parse_qs(urlsplit(self.authorize_url).query)["state"][0]

    async def authorize(self) -> Flow:
        """The provider's login page: it answers with a redirect to the callback."""
        async with httpx.AsyncClient() as browser:
            response = await browser.get(self.authorize_url, follow_redirects=False)
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(callback_uri(self.tenant_id) + "?")
        self.callback_query = urlsplit(location).query
        return self

    async def callback(self, query: str | None = None) -> Any:
        path = sso_path(self.tenant_id) + "/callback?" + (query or self.callback_query)
        return await self.client.get(path, scope_base=peer())


async def sign_in(client: Client, tenant_id: str | None) -> Any:
    flow = await (await Flow(client, tenant_id).start()).authorize()
    return await flow.callback()


def sso_audit(settings: Settings, action: str) -> list[dict[str, Any]]:
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        rows = conn.execute(
            "SELECT details FROM audit_log WHERE action = %s ORDER BY at, seq", (action,)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def user_count(settings: Settings, email: str) -> int:
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        row = conn.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
async def tenant(new_tenant: NewTenant) -> dict[str, Any]:
    return await new_tenant()


@pytest.fixture
async def tenant_admin(tenant: dict[str, Any], new_user: NewUser) -> Caller:
    return await new_user(tenant["id"], Role.TENANT_ADMIN)


# -- the happy path ---------------------------------------------------------------------


async def test_a_first_sign_in_creates_the_person_with_mapped_roles_who_can_call_the_api(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("alice-sub", "Alice@Corp.Example", groups=["signage-editors", "unrelated"])

    response = await sign_in(client, tenant["id"])
    pair = await response.get_json()
    assert response.status_code == 200, pair
    assert response.headers["Cache-Control"] == "no-store"
    assert pair["token_type"] == "Bearer"
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    me = await (await client.get("/api/v1/me", headers=bearer)).get_json()
    assert me["email"] == "alice@corp.example"
    assert me["tenant_id"] == tenant["id"]
    assert me["roles"] == ["editor", "viewer"]
    # An editor's API, with the SSO session's token; and the refresh token works too.
    created = await client.post(
        f"/api/v1/tenants/{tenant['id']}/content",
        json={"name": "Welcome", "kind": "text", "body": "Hello", "duration_s": 10},
        headers=bearer,
    )
    assert created.status_code == 201, await created.get_json()
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 200
    # The provider saw the verifier and the client's own credentials.
    assert len(idp.token_requests[-1]["code_verifier"]) >= 43
    logins = sso_audit(settings, "auth.login")
    assert logins[-1]["method"] == "sso"
    assert logins[-1]["jit"] is True
    assert [e["via"] for e in sso_audit(settings, "user.create") if "via" in e] == ["sso"]


async def test_a_returning_person_is_the_same_user_with_roles_synced_from_the_provider(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("bob-sub", "bob@corp.example", groups=["signage-admins"])
    first = await (await sign_in(client, tenant["id"])).get_json()
    idp.log_in("bob-sub", "bob@corp.example", groups=[])
    second = await sign_in(client, tenant["id"])
    assert second.status_code == 200
    tokens = await second.get_json()
    me = await (
        await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    ).get_json()
    first_me = await (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    ).get_json()
    assert me["user_id"] == first_me["user_id"]
    assert me["roles"] == ["viewer"]  # tenant_admin withdrawn at the provider
    assert user_count(settings, "bob@corp.example") == 1
    updates = sso_audit(settings, "user.roles_change")
    assert updates[-1]["via"] == "sso"


async def test_the_client_secret_is_sealed_and_never_answered(
    idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller, settings: Settings
) -> None:
    answer = await configure(tenant_admin, idp, tenant["id"])
    assert answer["has_client_secret"] is True
    shown = await (await tenant_admin.get(sso_path(tenant["id"]))).get_json()
    assert shown["has_client_secret"] is True
    assert "client_secret" not in shown
    assert CLIENT_SECRET not in str(shown)
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        sealed = conn.execute("SELECT client_secret_sealed FROM sso_providers").fetchone()
        audit = conn.execute("SELECT string_agg(details, '') FROM audit_log").fetchone()
    assert sealed is not None
    assert CLIENT_SECRET.encode() not in bytes(sealed[0])
    assert audit is not None
    assert CLIENT_SECRET not in audit[0]
    # Re-configuring without a secret keeps it (sign-in still authenticates the client).
    again = config(idp, tenant["id"])
    del again["client_secret"]
    response = await tenant_admin.client.put(
        sso_path(tenant["id"]), json=again, headers=tenant_admin.headers
    )
    assert (await response.get_json())["has_client_secret"] is True


# -- what the ID token must be ----------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"aud": "someone-else"}, "aud"),
        ({"exp": 1_000_000_000, "iat": 999_999_000}, "expired"),
        ({"iss": "http://evil.test/idp"}, "issuer"),
        ({"nonce": "not-the-nonce-of-this-sign-in-0123456789"}, "nonce"),
        ({"email_verified": False}, "verified"),
    ],
)
async def test_an_id_token_failing_a_claim_check_signs_nobody_in(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
    tamper: dict[str, Any],
    why: str,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("carol-sub", "carol@corp.example", groups=["signage-editors"])
    idp.claim_overrides = tamper
    response = await sign_in(client, tenant["id"])
    body = await response.get_json()
    assert response.status_code in (401, 403), body
    assert why in body["detail"]
    assert user_count(settings, "carol@corp.example") == 0
    assert sso_audit(settings, "auth.sso_failed")[-1]["reason"] in (
        "id_token_invalid",
        "email_unverified",
    )


async def test_an_id_token_with_a_bad_signature_is_refused(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("dave-sub", "dave@corp.example", groups=["signage-editors"])
    idp.sign_with = RSAKey.generate_key(2048)  # same kid, a key the JWKS does not hold
    response = await sign_in(client, tenant["id"])
    body = await response.get_json()
    assert response.status_code == 401, body
    assert "signature" in body["detail"]
    assert user_count(settings, "dave@corp.example") == 0


async def test_an_algorithm_outside_the_allow_list_is_refused(
    client: Client, idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    await configure(tenant_admin, idp, tenant["id"], algorithms=["ES256"])
    idp.log_in("erin-sub", "erin@corp.example", groups=["signage-editors"])
    response = await sign_in(client, tenant["id"])
    body = await response.get_json()
    assert response.status_code == 401, body
    assert "algorithm" in body["detail"]


# -- state, code and PKCE ----------------------------------------------------------------


async def test_a_replayed_callback_or_code_is_refused(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("frank-sub", "frank@corp.example", groups=["signage-editors"])
    flow = await (await Flow(client, tenant["id"]).start()).authorize()
    assert (await flow.callback()).status_code == 200
    # The same callback again: its state was spent by the first.
    replay = await flow.callback()
    assert replay.status_code == 401
    assert "already used" in (await replay.get_json())["detail"]
    # The old code under a fresh state: the provider refuses the spent code.
    fresh = await Flow(client, tenant["id"]).start()
    code = parse_qs(flow.callback_query)["code"][0]
    again = await fresh.callback(f"state={fresh.state}&code={code}")
    assert again.status_code == 401
    assert "refused the code" in (await again.get_json())["detail"]
    reasons = [e["reason"] for e in sso_audit(settings, "auth.sso_failed")]
    assert reasons == ["unknown_state", "token_exchange_failed"]


async def test_an_unknown_or_expired_state_is_refused(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("gina-sub", "gina@corp.example", groups=["signage-editors"])
    flow = await (await Flow(client, tenant["id"]).start()).authorize()
    code = parse_qs(flow.callback_query)["code"][0]
    unknown = await flow.callback(f"state=made-up-state&code={code}")
    assert unknown.status_code == 401
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        conn.execute("UPDATE sso_login_states SET expires_at = now() - interval '1 second'")
    expired = await flow.callback()
    assert expired.status_code == 401
    assert user_count(settings, "gina@corp.example") == 0
    assert len(idp.token_requests) == 0  # neither reached the provider


async def test_a_code_presented_with_another_sign_ins_verifier_fails_pkce(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    """A stolen code injected into someone else's sign-in: the verifier of that sign-in
    does not match the challenge the code was issued for."""
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("hank-sub", "hank@corp.example", groups=["signage-editors"])
    victim = await (await Flow(client, tenant["id"]).start()).authorize()
    attacker = await Flow(client, tenant["id"]).start()
    code = parse_qs(victim.callback_query)["code"][0]
    response = await attacker.callback(f"state={attacker.state}&code={code}")
    assert response.status_code == 401
    assert "invalid_grant" in (await response.get_json())["detail"]
    assert idp.token_requests[-1]["code_verifier"] != ""
    assert user_count(settings, "hank@corp.example") == 0


async def test_the_start_redirect_carries_state_nonce_and_an_s256_challenge(
    client: Client, idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    one = await Flow(client, tenant["id"]).start()
    two = await Flow(client, tenant["id"]).start()
    params = {k: v[0] for k, v in parse_qs(urlsplit(one.authorize_url).query).items()}
    assert one.authorize_url.startswith(idp.issuer + "/authorize?")
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43
    assert len(params["nonce"]) >= 43
    assert "openid" in params["scope"].split()
    assert one.state != two.state


# -- who may sign in -----------------------------------------------------------------


async def test_an_email_outside_the_allowed_domains_gets_no_account(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    for email in ("ivan@elsewhere.example", "ivan@sub.corp.example"):
        idp.log_in("ivan-sub", email, groups=["signage-editors"])
        response = await sign_in(client, tenant["id"])
        assert response.status_code == 403
        assert "domain" in (await response.get_json())["detail"]
        assert user_count(settings, email) == 0
    assert sso_audit(settings, "auth.sso_failed")[-1]["reason"] == "domain_not_allowed"


async def test_a_person_without_a_mapped_role_gets_no_account(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"], default_roles=[])
    idp.log_in("judy-sub", "judy@corp.example", groups=["other"])
    response = await sign_in(client, tenant["id"])
    assert response.status_code == 403
    assert user_count(settings, "judy@corp.example") == 0


async def test_password_login_can_be_turned_off_for_a_tenant(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    new_user: NewUser,
) -> None:
    editor = await new_user(tenant["id"], Role.EDITOR, email="kim@corp.example")
    await configure(tenant_admin, idp, tenant["id"], password_login=False)
    refused = await login(client, editor.email, PASSWORD)
    problem = await refused.get_json()
    assert refused.status_code == 403, problem
    assert "single sign-on" in problem["detail"]
    # Only someone who knows the password learns it: a wrong one is the usual 401.
    assert (await login(client, editor.email, "wrong password!")).status_code == 401
    # The same person signs in through the provider, as the existing account (linked).
    idp.log_in("kim-sub", "kim@corp.example", groups=["signage-editors"])
    response = await sign_in(client, tenant["id"])
    me = await (
        await client.get(
            "/api/v1/me",
            headers={"Authorization": f"Bearer {(await response.get_json())['access_token']}"},
        )
    ).get_json()
    assert me["user_id"] == editor.user_id
    # Password login comes back when the tenant turns it on again.
    await configure(tenant_admin, idp, tenant["id"], password_login=True)
    assert (await login(client, editor.email, PASSWORD)).status_code == 200


async def test_a_tenants_sso_cannot_produce_or_reach_a_user_of_another_tenant(
    client: Client,
    idp: OidcProvider,
    new_tenant: NewTenant,
    new_user: NewUser,
    admin: Caller,
    settings: Settings,
) -> None:
    a, b = await new_tenant(), await new_tenant()
    admin_a = await new_user(a["id"], Role.TENANT_ADMIN)
    admin_b = await new_user(b["id"], Role.TENANT_ADMIN)
    await configure(admin_a, idp, a["id"], client_id="client-a")
    await configure(admin_b, idp, b["id"], client_id="client-b")
    b_user = await new_user(b["id"], Role.VIEWER, email="lee@corp.example")
    # A person whose email is B's user signs in through A's provider: refused, and
    # neither a user in A nor a change to B's user comes of it.
    idp.log_in("lee-sub", "lee@corp.example", groups=["signage-admins"])
    response = await sign_in(client, a["id"])
    assert response.status_code == 403
    assert user_count(settings, "lee@corp.example") == 1
    b_users = await (await admin_b.get(f"/api/v1/tenants/{b['id']}/users")).get_json()
    lee = next(u for u in b_users["items"] if u["id"] == b_user.user_id)
    assert lee["roles"] == ["viewer"]
    # The platform admin's email too.
    idp.log_in("root-sub", admin.email, groups=["signage-admins"], email_verified=True)
    await configure(admin_a, idp, a["id"], client_id="client-a", allowed_domains=["example.test"])
    assert (await sign_in(client, a["id"])).status_code == 403
    # A's sign-in presented at B's callback: B has no such state.
    await configure(admin_a, idp, a["id"], client_id="client-a")
    idp.log_in("mia-sub", "mia@corp.example", groups=["signage-editors"])
    flow_a = await (await Flow(client, a["id"]).start()).authorize()
    at_b = await Flow(client, b["id"]).callback(flow_a.callback_query)
    assert at_b.status_code == 401
    assert user_count(settings, "mia@corp.example") == 0
    # A tenant's mapping can never grant a platform role.
    bad = config(idp, a["id"], role_mapping=[{"value": "x", "roles": ["platform_admin"]}])
    refused = await admin_a.client.put(sso_path(a["id"]), json=bad, headers=admin_a.headers)
    assert refused.status_code == 422
    # Nor may a tenant admin read or change another tenant's configuration.
    assert (await admin_a.get(sso_path(b["id"]))).status_code == 404


# -- configuration rights and the platform ---------------------------------------------


async def test_only_tenant_admins_configure_their_tenant(
    idp: OidcProvider, tenant: dict[str, Any], new_user: NewUser
) -> None:
    editor = await new_user(tenant["id"], Role.EDITOR)
    response = await editor.client.put(
        sso_path(tenant["id"]), json=config(idp, tenant["id"]), headers=editor.headers
    )
    assert response.status_code == 403
    assert (await editor.get(sso_path(tenant["id"]))).status_code == 403


async def test_the_platform_has_its_own_provider_for_platform_roles(
    client: Client,
    idp: OidcProvider,
    admin: Caller,
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    refused = await tenant_admin.client.put(
        sso_path(None), json=config(idp, None), headers=tenant_admin.headers
    )
    assert refused.status_code == 403
    no_password_off = config(idp, None, password_login=False, default_roles=[])
    answer = await admin.client.put(sso_path(None), json=no_password_off, headers=admin.headers)
    assert answer.status_code == 422
    tenant_roles = await admin.client.put(
        sso_path(None), json=config(idp, None), headers=admin.headers
    )
    assert tenant_roles.status_code == 422  # editor, viewer are no platform roles
    await configure(
        admin,
        idp,
        None,
        default_roles=[],
        role_mapping=[{"value": "ops", "roles": ["platform_operator"]}],
    )
    idp.log_in("nina-sub", "nina@corp.example", groups=["ops"])
    response = await sign_in(client, None)
    assert response.status_code == 200, await response.get_json()
    me = await (
        await client.get(
            "/api/v1/me",
            headers={"Authorization": f"Bearer {(await response.get_json())['access_token']}"},
        )
    ).get_json()
    assert me["tenant_id"] is None
    assert me["roles"] == ["platform_operator"]


async def test_an_unreachable_provider_answers_503_and_no_provider_404(
    client: Client, idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    assert (await client.get(sso_path(tenant["id"]) + "/start")).status_code == 404
    await configure(tenant_admin, idp, tenant["id"], issuer="http://127.0.0.1:9/idp")
    response = await client.get(sso_path(tenant["id"]) + "/start", scope_base=peer())
    assert response.status_code == 503
    removed = await tenant_admin.client.delete(sso_path(tenant["id"]), headers=tenant_admin.headers)
    assert removed.status_code == 204
    assert (await client.get(sso_path(tenant["id"]) + "/start")).status_code == 404


# -- keys, public clients, several nodes ------------------------------------------------


async def test_a_rotated_provider_key_is_fetched_once_and_then_cached(
    client: Client, idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("olga-sub", "olga@corp.example", groups=["signage-editors"])
    assert (await sign_in(client, tenant["id"])).status_code == 200
    assert (await sign_in(client, tenant["id"])).status_code == 200
    assert idp.jwks_fetches == 1  # cached
    idp.rotate_key("test-key-2")
    assert (await sign_in(client, tenant["id"])).status_code == 200
    assert idp.jwks_fetches == 2  # the unknown kid refetched the set, once
    assert (await sign_in(client, tenant["id"])).status_code == 200
    assert idp.jwks_fetches == 2


async def test_a_public_client_signs_in_with_pkce_alone(
    client: Client, idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    body = config(idp, tenant["id"], client_id="public-client")
    del body["client_secret"]
    idp.register("public-client", None, callback_uri(tenant["id"]))
    response = await tenant_admin.client.put(
        sso_path(tenant["id"]), json=body, headers=tenant_admin.headers
    )
    assert (await response.get_json())["has_client_secret"] is False
    idp.log_in("pia-sub", "pia@corp.example", groups=["signage-editors"])
    assert (await sign_in(client, tenant["id"])).status_code == 200
    assert idp.token_requests[-1]["client_id"] == "public-client"


async def test_a_sign_in_started_on_one_node_finishes_on_another(
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    """The state lives in PostgreSQL: a load balancer may send the callback anywhere."""
    await configure(tenant_admin, idp, tenant["id"])
    idp.log_in("quinn-sub", "quinn@corp.example", groups=["signage-editors"])
    flow = await (await Flow(client, tenant["id"]).start()).authorize()
    other = create_app(settings.updated(node_id="test-node-2"))
    async with other.test_app():
        response = await Flow(other.test_client(), tenant["id"]).callback(flow.callback_query)
        assert response.status_code == 200, await response.get_json()
    assert (await flow.callback()).status_code == 401  # and it was spent there


async def test_a_second_factor_asserted_by_the_provider_meets_the_tenants_mfa_policy(
    client: Client, idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    """Without ``amr`` proof the session is held to enrolment (fails closed); with
    ``mfa`` (or two factors, e.g. pwd + otp) it is a full session."""
    await configure(tenant_admin, idp, tenant["id"])
    policy = await tenant_admin.client.put(
        f"/api/v1/tenants/{tenant['id']}/mfa-policy",
        json={"required_roles": ["editor"]},
        headers=tenant_admin.headers,
    )
    assert policy.status_code == 200, await policy.get_json()

    async def me_after_sign_in(amr: list[str] | None) -> dict[str, Any]:
        extra = {} if amr is None else {"amr": amr}
        idp.log_in("rita-sub", "rita@corp.example", groups=["signage-editors"], **extra)
        pair = await (await sign_in(client, tenant["id"])).get_json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        return dict(await (await client.get("/api/v1/me", headers=bearer)).get_json())

    assert (await me_after_sign_in(None))["required_actions"] == ["enrol_mfa"]
    assert (await me_after_sign_in(["pwd"]))["required_actions"] == ["enrol_mfa"]
    assert (await me_after_sign_in(["mfa"]))["required_actions"] == []
    assert (await me_after_sign_in(["pwd", "otp"]))["required_actions"] == []


async def test_housekeeping_deletes_sign_ins_never_finished(
    app: Quart,
    client: Client,
    idp: OidcProvider,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    settings: Settings,
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    await Flow(client, tenant["id"]).start()
    live = await Flow(client, tenant["id"]).start()
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        conn.execute(
            "UPDATE sso_login_states SET expires_at = now() - interval '1 second'"
            " WHERE state_hash <> %s",
            (hashlib.sha256(live.state.encode()).digest(),),
        )
    assert await container_of(app).sso.purge_expired_sign_ins() == 1
    with psycopg.connect(settings.database.url) as conn:
        left = conn.execute("SELECT count(*) FROM sso_login_states").fetchone()
    assert left is not None
    assert left[0] == 1


async def test_sign_ins_are_rate_limited_per_source_address(
    idp: OidcProvider, tenant: dict[str, Any], tenant_admin: Caller, settings: Settings
) -> None:
    await configure(tenant_admin, idp, tenant["id"])
    limited = create_app(settings.updated(sso_burst=2, sso_per_s=0.01))
    async with limited.test_app():
        client = limited.test_client()
        path = sso_path(tenant["id"]) + "/start"
        answers = [(await client.get(path, scope_base=peer())).status_code for _ in range(3)]
        assert answers == [302, 302, 429]
        other = await client.get(path, scope_base=peer("198.51.100.7"))
        assert other.status_code == 302  # another address has its own budget
        refused = await client.get(path, scope_base=peer())
        assert int(refused.headers["Retry-After"]) >= 1
