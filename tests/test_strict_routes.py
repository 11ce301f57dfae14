"""Routes match exactly (issue 14, L1): a trailing slash or an encoded one is another,
unknown path, so a proxy rule that refuses ``/metrics`` cannot be walked around."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("path", ["/metrics/", "/metrics%2F", "/health/", "/api/v1/tenants/"])
async def test_a_variant_of_a_route_is_not_that_route(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404


async def test_the_routes_themselves_still_answer(client: Client) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
