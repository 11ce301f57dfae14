"""What a real Hypercorn answer reveals: no ``server`` banner, and no framing (issue 14)."""

from __future__ import annotations

import httpx
import pytest
from quart import Quart

pytestmark = pytest.mark.anyio


async def test_no_server_banner(app: Quart) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.config['TEST_PORT']}") as http:
        answer = await http.get("/health")
    assert answer.status_code == 200
    assert "server" not in answer.headers


async def test_the_served_answers_forbid_framing(app: Quart) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.config['TEST_PORT']}") as http:
        answer = await http.get("/health")
    assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
