"""The fan-out floor: a bare ``websockets`` server that broadcasts one pre-encoded frame.

What the product's emergency path is compared with: no framework, no auth, no database,
permessage-deflate off, no keepalive pings; the frame's bytes are built once by whoever
triggers, and :func:`websockets.asyncio.server.broadcast` writes them to every open
connection. Run it in its own process (``bench.baseline_control`` does)::

    python -m bench.baseline_ws_server [--port 0] [--control-port 0]

It prints one line, ``READY <ws_port> <control_port>``, once both sockets listen, and
exits on SIGTERM/SIGINT or after ``--max-lifetime-s``. The control port speaks minimal
HTTP/1.1, one request per connection (``websockets`` only parses GET, hence the
separate port):

- ``POST /trigger``: the body (UTF-8, e.g. JSON) goes out as ONE text frame to every open
  connection (and, once, to each connection opened later, as the product replays an
  active emergency); answers ``{"sent": n, "broadcast_ms": wall, "broadcast_user_ms":
  cpu, "broadcast_sys_ms": cpu}`` *after* the broadcast call returned (the frames are
  then in the kernel or in per-connection write buffers);
- ``POST /gc/freeze``: ``gc.collect(); gc.freeze()``, as the product does once its
  sessions are established; answers ``{"frozen": n}``;
- ``GET /stats``: ``{"connections": n, "gc_pauses": [[start, seconds, generation], ...]}``,
  ``start`` being ``time.monotonic()`` (system-wide ``CLOCK_MONOTONIC``), so the caller
  can tell which collections fell inside a round.

Both sockets bind loopback addresses only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import resource
import signal
import sys
import time
from collections import deque
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.loopback import require_loopback

#: Pending connections the kernel queues for accept(); 10,000 clients connecting at once
#: overflow asyncio's default of 100 and then wait out SYN retransmits (1 s, 3 s, ...).
LISTEN_BACKLOG = 4096
#: Bounds of the control protocol: it is for the benchmark's coordinator, nobody else.
MAX_CONTROL_HEAD = 8 * 1024
MAX_CONTROL_BODY = 1024 * 1024
CONTROL_TIMEOUT_S = 10.0
#: GC pauses remembered for ``/stats``; older ones are dropped.
GC_PAUSES_KEPT = 10_000

log = logging.getLogger("bench.baseline")


class GcPauses:
    """A ``gc.callbacks`` hook that records every collection's start, length and generation."""

    def __init__(self, keep: int = GC_PAUSES_KEPT) -> None:
        self.pauses: deque[tuple[float, float, int]] = deque(maxlen=keep)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.monotonic()
        else:
            now = time.monotonic()
            self.pauses.append((self._started, now - self._started, int(info["generation"])))


class LastFrame:
    """The last triggered frame, replayed to connections opened after it (as the product
    replays an active emergency), so reconnect-storm rounds mean the same thing here."""

    __slots__ = ("frame",)

    def __init__(self) -> None:
        self.frame: bytes | None = None


async def _hold(connection: ServerConnection, last: LastFrame) -> None:
    """Keep a device's connection open; replay the last frame, if any; read and drop whatever
    the device sends (hello, heartbeats)."""
    with contextlib.suppress(ConnectionClosed):
        if last.frame is not None:
            await connection.send(last.frame, text=True)
        async for _message in connection:
            pass


class Control:
    """The control port's request handler: trigger, GC freeze, stats."""

    def __init__(self, server: Server, last: LastFrame, gc_pauses: GcPauses) -> None:
        self._server = server
        self._last = last
        self._gc_pauses = gc_pauses

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(CONTROL_TIMEOUT_S):
                status, payload = await self._answer(reader)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            status, payload = 400, {"error": "bad request"}
        body = json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if not 0 <= length <= MAX_CONTROL_BODY:
            raise ValueError("body too large")
        body = await reader.readexactly(length) if length else b""
        if method == "POST" and target == "/trigger":
            return 200, self._trigger(body)
        if method == "POST" and target == "/gc/freeze":
            gc.collect()
            gc.freeze()
            return 200, {"frozen": gc.get_freeze_count()}
        if method == "GET" and target == "/stats":
            return 200, {
                "connections": len(self._server.connections),
                "gc_pauses": list(self._gc_pauses.pauses),
            }
        return 404, {"error": f"no {method} {target}"}

    def _trigger(self, body: bytes) -> dict[str, Any]:
        body.decode("utf-8")  # a text frame must be UTF-8; refuse (400) rather than send junk
        # Before the snapshot: a connection missing from it opens later and gets the replay.
        self._last.frame = body
        connections = self._server.connections
        started, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        broadcast(connections, body, text=True)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "sent": len(connections),
            "broadcast_ms": elapsed * 1000.0,
            # CPU well below wall time means the server was waiting for a core, not working.
            # System time is mostly the loopback TCP path, which runs in the sender's send().
            "broadcast_user_ms": (after.ru_utime - usage.ru_utime) * 1000.0,
            "broadcast_sys_ms": (after.ru_stime - usage.ru_stime) * 1000.0,
        }


async def run(host: str, port: int, control_port: int, max_lifetime_s: float) -> None:
    """Serve until SIGTERM/SIGINT or ``max_lifetime_s``; print ``READY`` once listening."""
    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    last = LastFrame()
    async with serve(
        lambda connection: _hold(connection, last),
        host,
        port,
        compression=None,  # per-connection zlib state: ~50 KiB more each, no shared frame
        ping_interval=None,  # the floor does no keepalive work during a round
        backlog=LISTEN_BACKLOG,
    ) as server:
        control = Control(server, last, gc_pauses)
        control_server = await asyncio.start_server(
            control.handle, host, control_port, limit=MAX_CONTROL_HEAD
        )
        async with control_server:
            ws_port = server.sockets[0].getsockname()[1]
            ctl_port = control_server.sockets[0].getsockname()[1]
            print(f"READY {ws_port} {ctl_port}", flush=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max_lifetime_s):
                    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="WebSocket port (0: any free)")
    parser.add_argument("--control-port", type=int, default=0, help="control port (0: any)")
    parser.add_argument("--max-lifetime-s", type=float, default=1800.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(require_loopback(args.host), args.port, args.control_port, args.max_lifetime_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
