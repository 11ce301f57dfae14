"""A platform admin naming a tenant that does not exist gets 404, never a 500 (a row
written for it would break its foreign key)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.auth.conftest import Caller

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("content", {"name": "Hi", "kind": "text", "body": "Hi", "duration_s": 5}),
        ("playlists", {"name": "Loop", "items": []}),
    ],
)
async def test_creating_in_an_unknown_tenant_is_404(
    admin: Caller, path: str, body: dict[str, object]
) -> None:
    response = await admin.post(f"/api/v1/tenants/{uuid4()}/{path}", body)
    problem = await response.get_json()
    assert response.status_code == 404, problem
    assert response.content_type == "application/problem+json"
