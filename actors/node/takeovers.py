"""Session takeovers told to the other nodes, batched: one relay message per tenant and
round, not one per session.

One screen, one session: when a device opens a session here, a session of it still held
by another node (a half-open connection the screen left behind) must close (4409). The
other nodes learn it from :class:`~actors.events.SessionsTakenOver`. On this node the
takeover needs no message: the new device actor is spawned with ``replace=True``, which
stops the older one (4409) in the same step.

:meth:`Takeovers.announce` never blocks nor awaits (the WebSocket handler calls it right
after handing the session to its actor). :meth:`Takeovers.run` publishes what was
announced since its last round, a message per tenant (at most ``max_batch`` sessions
each), then starts the next round with whatever arrived while it published: one screen
reconnecting costs one relay message at once, 10,000 reconnecting cost a few per round
instead of 10,000 publishes. What waits is bounded by the node's devices (one entry per
device, the newest session wins: an older one of the same device is taken over too).

A publish the relay refuses is logged by the relay and not retried, as for every tenant
event: the other node's session of that device ends by itself (the screen left it: its
idle timeout) or at the screen's next takeover. A stopping node publishes nothing more:
its sessions, the new ones too, are about to close.
"""

from __future__ import annotations

from uuid import UUID

import anyio
import anyio.abc

from actors.events import SessionsTakenOver
from actors.ports.events import OtherNodes
from actors.ports.sessions import SessionIdentity

#: Sessions per relay message (~80 bytes each on the wire).
MAX_BATCH = 500


class Takeovers:
    """A runtime service (see the module docstring)."""

    def __init__(self, others: OtherNodes, *, max_batch: int = MAX_BATCH) -> None:
        self._others = others
        self._max_batch = max_batch
        #: Per tenant, the newest session announced per device since the last round.
        self._pending: dict[UUID, dict[UUID, tuple[UUID, float]]] = {}
        self._wake = anyio.Event()
        self._stopping = False
        #: Relay messages published and the sessions they carried (for tests).
        self.published = 0
        self.announced = 0

    def announce(self, session: SessionIdentity) -> None:
        """``session`` is now its device's session (told to the other nodes soon)."""
        pending = self._pending.setdefault(session.tenant_id, {})
        pending[session.device_id] = (session.session_id, session.opened_at)
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while not self._stopping:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self._round()

    async def _round(self) -> None:
        pending, self._pending = self._pending, {}
        for tenant_id, sessions in pending.items():
            items = tuple((d, s, at) for d, (s, at) in sessions.items())
            for start in range(0, len(items), self._max_batch):
                if self._stopping:
                    return
                chunk = items[start : start + self._max_batch]
                # False: the relay logged it; nothing more to do (module docstring).
                await self._others.publish(tenant_id, SessionsTakenOver(chunk))
                self.published += 1
                self.announced += len(chunk)
