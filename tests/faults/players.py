"""Screens as the fault tests drive them: players following the reconnect contract of
docs/devices.md, with what they saw and when.

A player connects to its address, acknowledges every emergency, and after a session that
ended or an attempt that failed waits a full-jitter backoff (never less than a
``Retry-After``) and tries the next address of its list. It stops when ``stop`` is set:
an open session is closed with a close handshake, an attempt in flight finishes first —
a player is never cancelled in the middle of one, which would leave its socket to the
garbage collector.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from simulator.screen import reconnect_delay


@dataclass
class Player:
    """One screen: the node it holds a session on, and when frames arrived."""

    secret: str
    urls: list[str]
    #: The address it tries first (and the one it is on or tries now).
    at: int = 0
    open_timeout_s: float = 10.0
    #: ``(address index, monotonic time)`` of every welcome, oldest first.
    welcomes: list[tuple[int, float]] = field(default_factory=list)
    #: When each emergency first arrived, by id.
    emergencies: dict[str, float] = field(default_factory=dict)
    #: Upgrades refused before the WebSocket opened (503/429).
    refusals: int = 0

    @property
    def node(self) -> int:
        """The address of its latest session."""
        return self.welcomes[-1][0]

    @property
    def welcomed_at(self) -> float | None:
        """When its latest session was welcomed."""
        return self.welcomes[-1][1] if self.welcomes else None

    def welcome_after(self, instant: float) -> float | None:
        later = [t for _node, t in self.welcomes if t > instant]
        return later[0] if later else None

    async def run(self, stop: anyio.Event) -> None:
        failures = 0
        while not stop.is_set():
            welcomed = len(self.welcomes)
            retry_after: float | None = None
            try:
                async with (
                    connect(
                        self.urls[self.at],
                        additional_headers={"Authorization": f"Bearer {self.secret}"},
                        open_timeout=self.open_timeout_s,
                        close_timeout=1,
                    ) as ws,
                    anyio.create_task_group() as session,
                ):
                    session.start_soon(_close_on, stop, ws)
                    # Caught here, inside the task group (which would wrap it in a group).
                    with contextlib.suppress(ConnectionClosed):
                        await self._play(ws)
                    session.cancel_scope.cancel()  # the session ended: nothing to close
            except InvalidStatus as exc:  # refused before the upgrade
                self.refusals += 1
                header = exc.response.headers.get("Retry-After", "")
                retry_after = float(header) if header.isdigit() else None
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                pass
            failures = 0 if len(self.welcomes) > welcomed else failures + 1
            self.at = (self.at + 1) % len(self.urls)  # the next address after any ending
            with anyio.move_on_after(reconnect_delay(failures, retry_after_s=retry_after)):
                await stop.wait()

    async def _play(self, ws: ClientConnection) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "welcome":
                self.welcomes.append((self.at, time.monotonic()))
            elif frame["type"] == "emergency":
                self.emergencies.setdefault(frame["id"], time.monotonic())
                await ws.send(json.dumps({"type": "ack", "emergency_id": frame["id"]}))


async def _close_on(stop: anyio.Event, ws: ClientConnection) -> None:
    await stop.wait()
    await ws.close()
