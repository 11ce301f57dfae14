"""``/docs``: the API document in Swagger UI, served whole by this process.

The page and its assets come from the installed ``swagger_ui_bundle`` package (Swagger UI
5, which reads OpenAPI 3.1), so the docs work on a network with no way out: nothing is
fetched from elsewhere, not even the validator badge. Only the files the page loads are
served, by name from a fixed list (no path from the request ever reaches the file
system). The page's own policy replaces the app's default CSP: scripts from this origin
only (the start-up script is a file too, not inline), inline styles (Swagger UI sets
them), images from this origin and ``data:`` URLs (its icons), the document fetched
from this origin, and still no framing.
"""

from __future__ import annotations

from functools import cache

from quart import Blueprint, Response
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no py.typed

from actors.errors import NotFound

#: Not in ``/openapi.json``: these pages are a view of the API, not part of it.
bp = Blueprint("docs", __name__)

STATIC = "/docs/static"
#: The files the page loads, with their media types.
ASSETS: dict[str, str] = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
#: Started by a file of ours: ``script-src 'self'`` refuses inline scripts.
INITIALIZER = "signage-docs.js"

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
#: Assets change only with the package: a day in caches; the page itself is never cached
#: (it names the asset URLs, which change with an upgrade).
_ASSET_CACHE = "public, max-age=86400"

_PAGE = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Signage backend API</title>
    <link rel="stylesheet" type="text/css" href="{STATIC}/swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="{STATIC}/index.css">
    <link rel="icon" type="image/png" href="{STATIC}/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="{STATIC}/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{STATIC}/swagger-ui-bundle.js" charset="utf-8"></script>
    <script src="{STATIC}/swagger-ui-standalone-preset.js" charset="utf-8"></script>
    <script src="{STATIC}/{INITIALIZER}" charset="utf-8"></script>
  </body>
</html>
"""

# validatorUrl null: no badge fetched from validator.swagger.io. The document's URL is
# relative, so the page works behind any proxy prefix that keeps /openapi.json beside it.
_INITIALIZER_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
});
"""


def _headers(cache_control: str) -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "Cache-Control": cache_control}


@bp.get("/docs")
async def docs_page() -> Response:
    """This API in Swagger UI."""
    return Response(_PAGE, content_type="text/html; charset=utf-8", headers=_headers("no-store"))


@bp.get(STATIC + "/<name>")
async def docs_asset(name: str) -> Response:
    """A file of the page: Swagger UI's own, or the start-up script.

    :raises NotFound: for any other name.
    """
    if name == INITIALIZER:
        body, media_type = _INITIALIZER_JS.encode(), "text/javascript; charset=utf-8"
    elif name in ASSETS:
        body, media_type = _asset(name), ASSETS[name]
    else:
        raise NotFound("no such file of the docs page")
    return Response(body, content_type=media_type, headers=_headers(_ASSET_CACHE))


@cache
def _asset(name: str) -> bytes:
    """The file's bytes, read once (about 2 MB for all of them)."""
    found: bytes = (swagger_ui_path / name).read_bytes()
    return found
