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
from quart import Quart

from actors.settings import Settings

#: Hypercorn's own cap on one WebSocket message; the device endpoint enforces a smaller one.
WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024


def hypercorn_config(settings: Settings, host: str, port: int) -> Config:
    config = Config()
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
