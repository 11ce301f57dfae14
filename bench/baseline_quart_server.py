"""The framework baseline for session opening: bare Quart on Hypercorn (the product's
stack) with no auth, no database and no actors. Each WebSocket is accepted and sent two
small text frames (a welcome and a manifest, as the product's opening), then read until
the client leaves. Run in its own process::

    python -m bench.baseline_quart_server [--host 127.0.0.1] [--port 0]

It prints ``READY <port>`` once listening and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, websocket

WELCOME = '{"type":"welcome","device_id":"00000000-0000-0000-0000-000000000000"}'
MANIFEST = '{"type":"manifest","version":1,"slices":[]}'


def build_app() -> Quart:
    app = Quart("baseline")

    @app.websocket("/api/v1/devices/ws")
    async def session() -> None:
        await websocket.accept()
        await websocket.send(WELCOME)
        await websocket.send(MANIFEST)
        while True:
            await websocket.receive()

    return app


async def run(host: str, port: int) -> None:
    with socket.socket() as probe:  # a free port, printed before serving
        probe.bind((host, port))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.backlog = 2048
    config.websocket_ping_interval = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(serve(build_app(), config, shutdown_trigger=stop.wait))
    async with asyncio.timeout(20):  # serve() has no "listening" hook: poll the port
        while True:
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            break
    print(f"READY {port}", flush=True)
    await task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(run(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
