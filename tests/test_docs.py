"""``/docs``: Swagger UI served whole by the node, under a policy scoped to the docs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from quart.typing import TestClientProtocol as Client

pytestmark = pytest.mark.anyio

EXTERNAL = re.compile(r"(?:https?:)?//[^\s\"'<>]+", re.IGNORECASE)


class _Page(HTMLParser):
    """The URLs a page loads, and whether any script is inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(str(found[name]))
        self._in_script = tag == "script"
        if tag == "script" and not found.get("src"):
            self.inline_script = True

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


async def _page(client: Client) -> tuple[str, _Page]:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    html = await response.get_data(as_text=True)
    page = _Page()
    page.feed(html)
    return html, page


async def test_the_page_loads_only_files_the_node_serves(client: Client) -> None:
    html, page = await _page(client)
    assert EXTERNAL.findall(html) == []
    assert not page.inline_script
    kinds = set()
    for url in page.urls:
        assert url.startswith("/docs/static/"), url
        response = await client.get(url)
        body = await response.get_data(as_text=False)
        assert response.status_code == 200, url
        assert body, url
        kinds.add(response.content_type.split(";")[0])
        if url.endswith(".css"):
            # Stylesheets may only point at data: URLs (the icons), never at a host.
            assert re.findall(rb"url\(\s*[\"']?(?:https?:)?//", body) == [], url
    assert {"text/css", "text/javascript", "image/png"} <= kinds


async def test_the_start_up_script_reads_this_nodes_document_and_no_validator(
    client: Client,
) -> None:
    response = await client.get("/docs/static/signage-docs.js")
    script = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert '"/openapi.json"' in script
    assert "validatorUrl: null" in script
    assert EXTERNAL.findall(script) == []


async def test_the_docs_policy_allows_only_this_origin_and_no_framing(client: Client) -> None:
    for path in ("/docs", "/docs/static/swagger-ui-bundle.js"):
        csp = (await client.get(path)).headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'"  # no inline script, no eval
        assert directives["connect-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
    # The relaxed policy is the docs' own: the API keeps the default one.
    assert (await client.get("/health")).headers["Content-Security-Policy"] == (
        "frame-ancestors 'none'"
    )


@pytest.mark.parametrize(
    "name", ["index.html", "swagger-ui.js.map", "..%2F__init__.py", "%2e%2e", "nope.js"]
)
async def test_any_other_file_is_a_404_problem(client: Client, name: str) -> None:
    response = await client.get(f"/docs/static/{name}")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


async def test_the_docs_are_not_part_of_the_api_document(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    assert not [path for path in document["paths"] if path.startswith("/docs")]
