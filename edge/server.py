"""Running the app under Hypercorn with graceful shutdown.

SIGTERM/SIGINT set a shutdown event; Hypercorn stops accepting, lets in-flight requests
finish within ``SHUTDOWN_GRACE_S``, then runs the app's ``after_serving`` hooks (which
tell connected screens to reconnect elsewhere and close the pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol import ws_stream
from quart import Quart
from wsproto.extensions import PerMessageDeflate

from actors.settings import Settings

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


def hypercorn_config(settings: Settings, host: str, port: int) -> Config:
    disable_permessage_deflate()
    config = Config()
    config.websocket_ping_interval = settings.ws_ping_interval_s or None
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = settings.shutdown_grace_s
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_BYTES
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 30
    config.backlog = 2048
    return config


async def serve_app(app: Quart, config: Config) -> None:
    """Serve until SIGTERM/SIGINT (or Ctrl-C on Windows), then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Windows' loops have no add_signal_handler; Ctrl-C arrives as KeyboardInterrupt there.
        with contextlib.suppress(NotImplementedError, AttributeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


def event_loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    """psycopg's async mode needs the selector loop on Windows (not the Proactor default)."""
    if sys.platform == "win32":
        return asyncio.SelectorEventLoop
    return None
