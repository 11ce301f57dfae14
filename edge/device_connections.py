"""The device WebSocket connections open on this node, for the shutdown's drain.

A draining node tells every screen ``reconnect`` and closes it 1012 without waiting for
each reply in turn (:meth:`actors.node.wiring.NodeSessions.drain`); what it waits for is
this set emptying — the screens' close replies ending their connections — under **one**
deadline for the whole node, not one timer per session. Past it, the connections still
open (screens that stopped reading, and never answer) are dropped at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol


class Droppable(Protocol):
    """A device connection as the drain sees it."""

    def abort(self) -> bool:
        """Drop the connection now; ``False`` if it was not (the screen answered the close
        and it is ending by itself, or it cannot be reached: it then ends with the
        server's own stop)."""
        ...


class DeviceConnections:
    """The open device connections: added once accepted, discarded when their handler
    has finished with them. One event loop; not thread-safe."""

    def __init__(self) -> None:
        self._open: set[Droppable] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, connection: Droppable) -> None:
        self._open.add(connection)
        self._empty.clear()

    def discard(self, connection: Droppable) -> None:
        self._open.discard(connection)
        if not self._open:
            self._empty.set()

    async def closed_within(self, timeout_s: float) -> bool:
        """Wait until every connection has ended, at most ``timeout_s``; whether they
        all did."""
        if timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), timeout_s)
        return not self._open

    def drop_all(self) -> int:
        """Drop every connection still open that can be; how many were dropped."""
        return sum(connection.abort() for connection in list(self._open))

    def __len__(self) -> int:
        return len(self._open)
