"""Message types and actors the runtime tests share (module level: handlers resolve their
annotations through this module's globals)."""

from __future__ import annotations

import anyio
import msgspec

from actors.runtime import Actor, Overflow, StopReason, handler


class Note(msgspec.Struct, frozen=True):
    """A fire-and-forget message recorded in arrival order."""

    sender: int
    seq: int


class Urgent(msgspec.Struct, frozen=True):
    """A never-drop message."""

    sender: int
    seq: int


class Telemetry(msgspec.Struct, frozen=True):
    """A drop-oldest message."""

    seq: int


class Manifest(msgspec.Struct, frozen=True):
    """A coalescing message, keyed per screen."""

    screen: str
    version: int


class Read(msgspec.Struct, frozen=True):
    """A request: answer with what was recorded so far."""


class Crash(msgspec.Struct, frozen=True):
    """Makes the handler raise."""

    why: str = "asked to"


class Hang(msgspec.Struct, frozen=True):
    """Makes the handler wait until released (or cancelled)."""


class Journal:
    """Outlives actor incarnations: what every incarnation saw, in order."""

    def __init__(self) -> None:
        self.seen: list[msgspec.Struct] = []
        self.starts = 0
        self.stops: list[StopReason] = []
        self.started_at: list[float] = []
        self.release = anyio.Event()
        self.entered = anyio.Event()


class Recorder(Actor):
    """Records every message in a shared journal; crashes on :class:`Crash`."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.count = 0

    async def on_start(self) -> None:
        self.journal.starts += 1
        self.journal.started_at.append(anyio.current_time())

    async def on_stop(self, reason: StopReason) -> None:
        self.journal.stops.append(reason)

    @handler(Overflow.BLOCK)
    async def note(self, msg: Note) -> None:
        self.journal.seen.append(msg)
        self.count += 1

    @handler(Overflow.NEVER_DROP)
    async def urgent(self, msg: Urgent) -> None:
        self.journal.seen.append(msg)

    @handler(Overflow.DROP_OLDEST)
    async def telemetry(self, msg: Telemetry) -> None:
        self.journal.seen.append(msg)

    @handler(Overflow.COALESCE, key=lambda m: m.screen)
    async def manifest(self, msg: Manifest) -> None:
        self.journal.seen.append(msg)

    @handler(Overflow.BLOCK)
    async def read(self, msg: Read) -> list[msgspec.Struct]:
        return list(self.journal.seen)

    @handler(Overflow.NEVER_DROP)
    async def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.why)

    @handler(Overflow.BLOCK)
    async def hang(self, msg: Hang) -> None:
        self.journal.entered.set()
        await self.journal.release.wait()

    def summary(self) -> dict[str, object]:
        return {"count": self.count}
