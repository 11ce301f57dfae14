"""``/player`` and ``/console``: served whole by the node, under their own strict policies.

What a browser does with them is in ``test_browser.py``; here, what the node serves: the
files, their types, caching and headers, and that the pages load nothing from elsewhere
and run no inline script.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from actors.settings import Settings
from edge.app import create_app
from edge.routes.pages import player_policy
from tests.conftest import make_settings
from tests.test_docs import EXTERNAL, _Page

pytestmark = pytest.mark.anyio

WEB = Path(__file__).resolve().parents[2] / "edge" / "web"
PAGES = ("player", "console")
#: ``import ... from "./x.js"`` and ``import("./x.js")`` in the modules.
IMPORTS = re.compile(r"""(?:from\s+|import\s*\(\s*)["']([^"']+)["']""")


def _directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


async def _parsed(client: Client, path: str) -> tuple[str, _Page]:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    html = await response.get_data(as_text=True)
    page = _Page()
    page.feed(html)
    return html, page


@pytest.mark.parametrize("name", PAGES)
async def test_each_page_loads_only_its_own_files_and_no_inline_script(
    client: Client, name: str
) -> None:
    html, page = await _parsed(client, f"/{name}")
    assert EXTERNAL.findall(html) == []
    assert not page.inline_script
    assert page.urls
    for url in page.urls:
        assert url.startswith(f"{name}/"), url  # relative to /<name>: works behind a prefix
        response = await client.get(f"/{url}")
        assert response.status_code == 200, url
        assert response.content_type.startswith(("text/javascript", "text/css", "image/svg")), url


@pytest.mark.parametrize("name", PAGES)
async def test_every_module_the_scripts_import_is_served(client: Client, name: str) -> None:
    for script in (WEB / name).glob("*.js"):
        text = script.read_text(encoding="utf-8")
        # Text only into the DOM; no code from strings (the policy would refuse it anyway).
        assert "innerHTML" not in text, script
        assert "eval(" not in text, script
        for imported in IMPORTS.findall(text):
            assert imported.startswith("./"), imported
            response = await client.get(f"/{name}/{imported[2:]}")
            assert response.status_code == 200, imported


async def test_the_console_policy_is_strict(client: Client) -> None:
    for path in ("/console", "/console/console.js", "/console/console.css"):
        response = await client.get(path)
        policy = _directives(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["connect-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["form-action"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_player_policy_runs_only_its_own_scripts(client: Client) -> None:
    response = await client.get("/player")
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # Relative MEDIA_BASE_URL (the default, "/media"): media from this origin only.
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "blob:", "data:"]
    assert policy["media-src"] == ["'self'", "blob:"]
    # The API keeps its own default policy.
    api = await client.get("/health")
    assert api.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_an_absolute_media_base_url_adds_exactly_its_origin() -> None:
    policy = _directives(player_policy("https://media.example.org:8443/media"))
    origin = "https://media.example.org:8443"
    assert policy["connect-src"] == ["'self'", origin]
    assert policy["img-src"] == ["'self'", "blob:", "data:", origin]
    assert policy["media-src"] == ["'self'", "blob:", origin]
    assert policy["script-src"] == ["'self'"]


@pytest.fixture
async def media_app(db_clean: str) -> AsyncIterator[Quart]:
    settings: Settings = make_settings(db_clean, media_base_url="http://127.0.0.1:9/media")
    application = create_app(settings)
    async with application.test_app():
        yield application


async def test_the_served_player_policy_follows_media_base_url(media_app: Quart) -> None:
    response = await media_app.test_client().get("/player")
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["connect-src"] == ["'self'", "http://127.0.0.1:9"]


async def test_unknown_names_and_index_elsewhere_are_404(client: Client) -> None:
    for path in (
        "/player/nope.js",
        "/player/index.html",
        "/player/",
        "/console/../player/player.js",
        "/console/%2e%2e%2fplayer.js",
        "/console/console.js/",
        "/web/player/player.js",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path


async def test_files_are_revalidated_by_etag(client: Client) -> None:
    first = await client.get("/player/player.js")
    assert first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    again = await client.get("/player/player.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert await again.get_data() == b""
    other = await client.get("/player/player.js", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


async def test_the_pages_are_not_part_of_the_api_document(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    assert not [p for p in document["paths"] if p.startswith(("/player", "/console"))]


async def test_the_service_worker_keeps_exactly_the_players_files(client: Client) -> None:
    script = (WEB / "player" / "sw.js").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(/player[^"]*)"', script.split("const FILES = [")[1].split("]")[0]))
    served = {f"/player/{p.name}" for p in (WEB / "player").iterdir() if p.suffix != ".html"}
    assert listed == (served - {"/player/sw.js"}) | {"/player"}
    response = await client.get("/player/sw.js")
    assert response.status_code == 200
    assert response.content_type.startswith("text/javascript")
    # Its scope is the page, one level above its folder; only this file may claim it.
    assert response.headers["Service-Worker-Allowed"] == "/player"
    assert "Service-Worker-Allowed" not in (await client.get("/player/player.js")).headers
    policy = _directives((await client.get("/player")).headers["Content-Security-Policy"])
    assert policy["worker-src"] == ["'self'"]
