"""A TCP proxy for fault injection: pass bytes through, go deaf, refuse new connections,
or cut every connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc


class Proxy:
    """Forwards ``127.0.0.1:port`` to ``target``. ``deaf = True`` swallows what the server
    says (the client sees silence, like a half-open connection); ``refuse = True`` closes
    every new connection at once (with :meth:`cut`: the server is down)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self.deaf = False
        self.refuse = False
        self.port = 0
        self._connections: set[anyio.abc.SocketStream] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _pipe(
        self, source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream, from_server: bool
    ) -> None:
        try:
            async for chunk in source:
                if not (from_server and self.deaf):
                    await sink.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await sink.aclose()

    async def _serve(self, client: anyio.abc.SocketStream) -> None:
        if self.refuse:
            await client.aclose()
            return
        try:
            server = await anyio.connect_tcp(*self._target)
        except OSError:
            await client.aclose()
            return
        self._connections |= {client, server}
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pipe, client, server, False)
                tg.start_soon(self._pipe, server, client, True)
        finally:
            self._connections -= {client, server}

    async def cut(self) -> None:
        """Close every proxied connection (new ones are still accepted)."""
        for stream in list(self._connections):
            await stream.aclose()


@asynccontextmanager
async def running_proxy(target_host: str, target_port: int) -> AsyncIterator[Proxy]:
    proxy = Proxy(target_host, target_port)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    proxy.port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, proxy._serve)
        try:
            yield proxy
        finally:
            tg.cancel_scope.cancel()
