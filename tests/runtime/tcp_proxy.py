"""A TCP proxy for fault injection: pass bytes through, go deaf, refuse new connections,
or cut every connection."""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread


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

    @property
    def connections(self) -> int:
        """Client connections being proxied now."""
        return len(self._connections) // 2

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


class ThreadedProxy:
    """A :class:`Proxy` running on its own event loop in a thread, for faults under real
    server processes that a blocking fixture starts (the test's own loop is not running
    while it waits for them). Set ``refuse`` from any thread; :meth:`cut` is thread-safe."""

    def __init__(self, proxy: Proxy, token: anyio.lowlevel.EventLoopToken) -> None:
        self.proxy = proxy
        self._token = token

    @property
    def port(self) -> int:
        return self.proxy.port

    def down(self) -> None:
        """PostgreSQL (or whatever is behind) unreachable: refuse new connections, cut
        every open one."""
        self.proxy.refuse = True
        anyio.from_thread.run(self.proxy.cut, token=self._token)

    def up(self) -> None:
        self.proxy.refuse = False


@contextmanager
def threaded_proxy(target_host: str, target_port: int) -> Iterator[ThreadedProxy]:
    ready: queue.Queue[ThreadedProxy | BaseException] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        try:
            async with running_proxy(target_host, target_port) as proxy:
                ready.put(ThreadedProxy(proxy, anyio.lowlevel.current_token()))
                await anyio.to_thread.run_sync(stop.wait)
        except BaseException as exc:  # reported to the waiting test, not lost in the thread
            ready.put(exc)
            raise

    thread = threading.Thread(target=anyio.run, args=(main,), name="tcp-proxy", daemon=True)
    thread.start()
    started = ready.get(timeout=10)
    if isinstance(started, BaseException):
        raise started
    try:
        yield started
    finally:
        stop.set()
        thread.join(10)
