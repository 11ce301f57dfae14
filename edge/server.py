"""Hypercorn's configuration for the app, and what must be applied to the server stack
before it serves (:func:`prepare_stack`). The process lifecycle is :mod:`edge.lifecycle`."""

from __future__ import annotations

import asyncio
import logging
import sys

from hypercorn.config import Config
from hypercorn.protocol import ws_stream
from wsproto.extensions import PerMessageDeflate

from actors.settings import Settings
from edge.ws_frames import fast_path_check

#: Hypercorn's own cap on one WebSocket message; the device endpoint enforces a smaller one.
WEBSOCKET_MAX_MESSAGE_BYTES = 8 * 1024


class _NoDeflate(PerMessageDeflate):
    """Declines every permessage-deflate offer.

    Compression would cost ~50 KiB more per idle connection and rule out sending one
    pre-encoded frame to every screen (PERF-NOTES); signage frames are small anyway.
    Hypercorn offers no setting for it, so its extension list is patched once, here.
    """

    def accept(self, offer: str) -> None:
        return None


def disable_permessage_deflate() -> None:
    """Make Hypercorn's WebSocket handshake decline compression (idempotent)."""
    ws_stream.PerMessageDeflate = _NoDeflate  # type: ignore[attr-defined]


def prepare_stack() -> bool:
    """Called once at serve time, before the first connection: decline compression and
    check the fast path's library versions (logged, and exported as
    ``signage_fast_path_enabled``). Returns whether the fast path is on."""
    disable_permessage_deflate()
    return fast_path_check()


def hypercorn_config(settings: Settings, host: str, port: int) -> Config:
    """The configuration alone (no side effect: see :func:`prepare_stack`)."""
    config = Config()
    config.websocket_ping_interval = settings.websocket.ping_interval_s or None
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = settings.lifecycle.grace_s
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_BYTES
    config.accesslog = None
    # No "server: hypercorn-h11" banner: it tells a scanner which CVEs to try.
    config.include_server_header = False
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 30
    config.backlog = 2048
    return config


def event_loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    """psycopg's async mode needs the selector loop on Windows (not the Proactor default)."""
    if sys.platform == "win32":
        return asyncio.SelectorEventLoop
    return None
