"""The one way tests wait for something another task or process does: a bounded poll.

Use an event when the code under test offers one; otherwise :func:`eventually`, never a
bare sleep. Works under asyncio and trio (anyio).
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

DEFAULT_TIMEOUT_S = 10.0


async def eventually(
    condition: Callable[[], object],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    every_s: float = 0.01,
) -> None:
    """Return once ``condition()`` is truthy, checking every ``every_s`` seconds.

    :raises TimeoutError: if it still is not after ``timeout_s`` seconds.
    """
    with anyio.fail_after(timeout_s):
        while not condition():
            await anyio.sleep(every_s)
