"""A real Hypercorn server for the app, in the test's own event loop.

Black-box enough for WebSocket close codes, frame limits and disconnects (the real server
and protocol stack), cheap enough for every test: no subprocess, one port per test.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hypercorn.asyncio import serve
from quart import Quart

from actors.settings import Settings
from edge.server import hypercorn_config, prepare_stack
from tests.servers import free_port

START_TIMEOUT_S = 10.0


async def _listening(port: int) -> None:
    async with asyncio.timeout(START_TIMEOUT_S):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return


@asynccontextmanager
async def served(
    app: Quart, settings: Settings, *, send_buffer_bytes: int | None = None
) -> AsyncIterator[int]:
    """Serve ``app`` (lifespan included) on a free port until the block ends.

    ``send_buffer_bytes`` fixes the kernel's send buffer of every connection (accepted
    sockets inherit the listening socket's): a screen that stops reading then fills it in
    that many bytes, not in loopback's autotuned 4 MiB. None: the system's.
    """
    port = free_port()
    prepare_stack()
    config = hypercorn_config(settings, "127.0.0.1", port)
    if send_buffer_bytes is not None:
        listener = socket.socket()
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            raise
        config.bind = [f"fd://{listener.detach()}"]  # Hypercorn owns it from here
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    try:
        await _listening(port)
        yield port
    finally:
        stop.set()
        try:
            async with asyncio.timeout(20):
                await task
        except TimeoutError:
            task.cancel()
