"""Fixtures for the admin API: cheap argon2, a platform admin, tenants and their users.

Every caller is a :class:`Caller`: a logged-in user with its tokens, which sends requests
through the Quart test client with its bearer token.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from actors.domain.principal import AuditActor
from actors.domain.rbac import Role
from actors.settings import Settings
from edge.container import EXTENSION_KEY, Container
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"
#: Argon2 at 1 MiB and one pass: the code path is the production one, the cost is not.
FAST_HASHING: dict[str, Any] = {"password_memory_kib": 1024, "password_time_cost": 1}
#: A documentation address (RFC 5737) as the test client's peer.
CLIENT_IP = "203.0.113.10"


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING)


def container_of(app: Quart) -> Container:
    found: Container = app.extensions[EXTENSION_KEY]
    return found


def peer(ip: str = CLIENT_IP) -> dict[str, Any]:
    """``scope_base`` for a test-client request coming from ``ip``."""
    return {"client": (ip, 40000)}


@dataclass
class Caller:
    """A logged-in admin user."""

    client: Client
    email: str
    password: str
    user_id: str
    tenant_id: str | None
    access_token: str
    refresh_token: str
    ip: str = CLIENT_IP
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", **self.extra_headers}

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.client.get(path, headers=self.headers, scope_base=peer(self.ip), **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.client.post(
            path, json=json, headers=self.headers, scope_base=peer(self.ip), **kw
        )

    async def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.client.patch(
            path, json=json, headers=self.headers, scope_base=peer(self.ip), **kw
        )

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.client.delete(path, headers=self.headers, scope_base=peer(self.ip), **kw)


async def login(client: Client, email: str, password: str, ip: str = CLIENT_IP) -> Any:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, scope_base=peer(ip)
    )


async def login_as(client: Client, email: str, password: str = PASSWORD) -> Caller:
    response = await login(client, email, password)
    tokens = await response.get_json()
    assert response.status_code == 200, tokens
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    who = await me.get_json()
    return Caller(
        client=client,
        email=email,
        password=password,
        user_id=who["user_id"],
        tenant_id=who["tenant_id"],
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )


@pytest.fixture
async def admin(app: Quart, client: Client) -> Caller:
    """A platform admin, logged in."""
    await container_of(app).users.provision(
        "root@example.test", PASSWORD, actor=AuditActor.system("tests")
    )
    return await login_as(client, "root@example.test")


_slugs = itertools.count(1)


@pytest.fixture
def new_tenant(admin: Caller) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create a tenant through the API (as the platform admin); returns its JSON."""

    async def create(name: str | None = None) -> dict[str, Any]:
        n = next(_slugs)
        response = await admin.post(
            "/api/v1/tenants", {"name": name or f"Tenant {n}", "slug": f"tenant-{n}"}
        )
        body = await response.get_json()
        assert response.status_code == 201, body
        return dict(body)

    return create


_emails = itertools.count(1)


@pytest.fixture
def new_user(admin: Caller) -> Callable[..., Awaitable[Caller]]:
    """Create a user in a tenant (as the platform admin) and log it in."""

    async def create(tenant_id: str, *roles: Role | str, email: str | None = None) -> Caller:
        address = email or f"user{next(_emails)}@example.test"
        response = await admin.post(
            f"/api/v1/tenants/{tenant_id}/users",
            {"email": address, "password": PASSWORD, "roles": [str(r) for r in roles]},
        )
        body = await response.get_json()
        assert response.status_code == 201, body
        return await login_as(admin.client, address)

    return create


@pytest.fixture
async def tenant(new_tenant: Callable[..., Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    return await new_tenant()


@pytest.fixture
async def other_tenant(new_tenant: Callable[..., Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    return await new_tenant()


@pytest.fixture
async def tenant_admin(
    tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]
) -> Caller:
    return await new_user(tenant["id"], Role.TENANT_ADMIN)
