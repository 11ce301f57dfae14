"""Park one task until another wakes it: the cheapest such wait each event loop offers.

Every idle actor waits here for its next message, so a fan-out to 10,000 actors is
10,000 wake-ups. ``anyio.Event`` works everywhere but costs ~3 µs just to create (it
looks up the running backend each time); on asyncio a bare future does the same job for
~0.4 µs, and on trio ``wait_task_rescheduled``/``reschedule`` are the primitives its own
events are built on. :func:`parker` picks the implementation once per parker, from
anyio's public :func:`anyio.lowlevel.current_token`; any other backend gets the
``anyio.Event`` one. All three honour cancellation (anyio cancel scopes included) and
are exercised by the runtime's tests on both asyncio and trio.

A parker serves one task at a time (a mailbox has one consumer).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import anyio
import anyio.lowlevel


class Parker(Protocol):
    async def park(self) -> None:
        """Wait until :meth:`unpark` (or cancellation)."""
        ...

    def unpark(self) -> None:
        """Wake the parked task; harmless when none is parked (or it was woken already)."""
        ...


class _AsyncioParker:
    __slots__ = ("_future", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] | None = None

    async def park(self) -> None:
        future = self._future = self._loop.create_future()
        try:
            await future
        finally:
            self._future = None

    def unpark(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)


class _TrioParker:
    __slots__ = ("_lowlevel", "_task")

    def __init__(self, lowlevel: Any) -> None:
        self._lowlevel = lowlevel
        self._task: object | None = None

    async def park(self) -> None:
        lowlevel = self._lowlevel
        self._task = lowlevel.current_task()

        def abort(_raise_cancel: object) -> object:
            self._task = None  # cancelled: nobody may reschedule this task for us now
            return lowlevel.Abort.SUCCEEDED

        await lowlevel.wait_task_rescheduled(abort)

    def unpark(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._lowlevel.reschedule(task)


class _EventParker:
    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def park(self) -> None:
        event = self._event = anyio.Event()
        try:
            await event.wait()
        finally:
            self._event = None

    def unpark(self) -> None:
        if self._event is not None:
            self._event.set()


def parker() -> Parker:
    """A parker for the running event loop (call it from inside one)."""
    native = anyio.lowlevel.current_token().native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        return _AsyncioParker(native)
    if type(native).__module__.startswith("trio"):
        import trio.lowlevel  # only ever imported when trio is the running loop

        return _TrioParker(trio.lowlevel)
    return _EventParker()


class LazyEvent:
    """A one-way flag that can be waited for, whose event is only made by the first
    waiter: most actors are never joined and never back off, and an ``anyio.Event``
    (with its backend's waiter queue) costs ~1 KiB each -- times 10,000 actors."""

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: anyio.Event | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        if self._set:
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()
