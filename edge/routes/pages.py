"""``/player`` and ``/console``: the reference web player and the operator console.

Both are plain HTML, CSS and JavaScript files shipped in the package ``edge.web`` (no
build step, nothing fetched from elsewhere) and speak only the public API, like any other
client. Only files present in the package at start-up are served, by name from that
fixed table: no path from a request ever reaches the file system.

Each page has its own Content-Security-Policy, replacing the app's default one:

- both: scripts from this origin only (``script-src 'self'``: no inline script, no
  ``eval``), connections to this origin only (the API and the device WebSocket), no
  plugins, no ``<base>``, no form posts, never framed;
- the console: styles from this origin only;
- the player also loads media from ``MEDIA_BASE_URL``'s origin when that is another one
  (it downloads the bytes to check their SHA-256, then shows them from a ``blob:`` URL),
  frames web pages (``url`` content, in an iframe sandboxed without same-origin), runs
  its own service worker (``sw.js``: its files, for a start while the node is down), and
  allows inline styles, because an ``html`` item is shown in a sandboxed ``srcdoc``
  iframe that inherits this policy: an editor's HTML keeps its ``style`` attributes while
  its scripts still never run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from urllib.parse import urlsplit

from quart import Blueprint, Response, request

from actors.errors import NotFound
from edge.container import container

#: Not in ``/openapi.json``: these pages are clients of the API, not part of it.
bp = Blueprint("pages", __name__)

PAGES = ("player", "console")
#: What the package may hold, by suffix; other files are not served.
MEDIA_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: The player's offline cache of its own files (edge/web/player/sw.js).
SERVICE_WORKER = "sw.js"
#: Revalidated on every load (the ETag makes it cheap): an upgrade of the node reaches
#: every screen at its next page load, never a mix of old and new files.
CACHE_CONTROL = "no-cache"

_COMMON = (
    "default-src 'none'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def console_policy() -> str:
    return "; ".join((*_COMMON, "style-src 'self'", "img-src 'self'", "connect-src 'self'"))


@cache
def player_policy(media_base_url: str) -> str:
    """The player's policy; ``media_base_url``'s origin is allowed when it is absolute."""
    media = _origin(media_base_url)
    extra = f" {media}" if media else ""
    return "; ".join(
        (
            *_COMMON,
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' blob: data:{extra}",
            f"media-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "frame-src https: http:",
            "worker-src 'self'",
        )
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


@cache
def page_files(page: str) -> dict[str, StaticFile]:
    """Every servable file of ``page`` (``index.html`` included), read once."""
    found: dict[str, StaticFile] = {}
    for entry in files("edge.web").joinpath(page).iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in MEDIA_TYPES:
            body = entry.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:32]
            found[entry.name] = StaticFile(body, MEDIA_TYPES[suffix], f'"{digest}"')
    return found


def _policy(page: str) -> str:
    if page == "player":
        return player_policy(container().settings.content.media_base_url)
    return console_policy()


def _serve(page: str, name: str) -> Response:
    file = page_files(page).get(name)
    if name == "index.html" and request.path != f"/{page}":
        # Only at /<page>: its relative links (``player/player.js``) resolve from there.
        file = None
    if file is None:
        raise NotFound(f"no such file of the {page} page")
    headers = {
        "Content-Security-Policy": _policy(page),
        "Cache-Control": CACHE_CONTROL,
        "ETag": file.etag,
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    if page == "player" and name == SERVICE_WORKER:
        # Its scope is the page, /player, one level above the script's own folder.
        headers["Service-Worker-Allowed"] = "/player"
    if request.headers.get("If-None-Match") == file.etag:
        return Response(b"", status=304, headers=headers)
    return Response(file.body, content_type=file.media_type, headers=headers)


@bp.get("/player")
async def player_page() -> Response:
    """The reference web player (docs/devices.md is its contract)."""
    return _serve("player", "index.html")


@bp.get("/player/<name>")
async def player_file(name: str) -> Response:
    """A script or style sheet of the player.

    :raises NotFound: for a name the package does not hold.
    """
    return _serve("player", name)


@bp.get("/console")
async def console_page() -> Response:
    """The minimal operator console."""
    return _serve("console", "index.html")


@bp.get("/console/<name>")
async def console_file(name: str) -> Response:
    """A script or style sheet of the console.

    :raises NotFound: for a name the package does not hold.
    """
    return _serve("console", name)


def preload() -> None:
    """Read every file now (start-up), so a broken package fails the start, not a screen."""
    for page in PAGES:
        if "index.html" not in page_files(page):
            raise RuntimeError(f"edge.web/{page}/index.html is missing from the package")
