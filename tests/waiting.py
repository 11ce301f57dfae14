"""The one way tests wait for something another task or process does: a bounded poll.

Use an event when the code under test offers one; otherwise :func:`eventually`, never a
bare sleep. Works under asyncio and trio (anyio).
"""

from __future__ import annotations

import inspect
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
