"""The one way tests wait for something another task or process does: a bounded poll.

Use an event when the code under test offers one; otherwise :func:`eventually`, never a
bare sleep. Works under asyncio and trio (anyio). Code that blocks (a synchronous fixture
starting a process, a helper run in a thread) uses its twin :func:`eventually_sync`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable

import anyio

DEFAULT_TIMEOUT_S = 10.0


async def eventually(
    condition: Callable[[], object] | Callable[[], Awaitable[object]],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    every_s: float = 0.01,
) -> None:
    """Return once ``condition()`` is truthy, checking every ``every_s`` seconds.

    ``condition`` may be a plain check or an async one (a coroutine function, or a callable
    returning an awaitable, e.g. an HTTP GET through a test client): its result is awaited
    before it is tested, and the wait's bound covers the awaiting too.

    :raises TimeoutError: if it still is not after ``timeout_s`` seconds.
    """
    with anyio.fail_after(timeout_s):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await anyio.sleep(every_s)


async def polled[T](
    fetch: Callable[[], Awaitable[T]],
    until: Callable[[T], object],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    every_s: float = 0.05,
) -> T:
    """:func:`eventually` for a value: fetch it (e.g. a report behind a batched writer)
    until ``until(value)`` holds, and return that value.

    :raises TimeoutError: if no fetched value satisfies ``until`` within ``timeout_s``.
    """
    found: list[T] = []

    async def holds() -> bool:
        value = await fetch()
        if until(value):
            found.append(value)
            return True
        return False

    await eventually(holds, timeout_s=timeout_s, every_s=every_s)
    return found[0]


def eventually_sync(
    condition: Callable[[], object],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    every_s: float = 0.05,
    failure: Callable[[], str] | None = None,
) -> None:
    """:func:`eventually` for blocking code: return once ``condition()`` is truthy, checking
    every ``every_s`` seconds (``condition`` may raise to give up at once, e.g. when the
    process it waits for exited).

    :raises TimeoutError: if it still is not after ``timeout_s`` seconds, with ``failure()``
        (say, the process's log) as its message.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(failure() if failure is not None else f"not within {timeout_s} s")
        time.sleep(every_s)
