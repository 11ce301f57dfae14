"""The actor runtime's tests run on asyncio *and* trio: it must rely on no asyncio quirk.

``runtime`` is a running :class:`Runtime` with fast timings (restarts in milliseconds);
it is stopped at the end of the test, and the test fails if any task it started is
still alive then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from trio.testing import MockClock

from actors.metrics import MetricsRegistry
from actors.runtime import RestartPolicy, Runtime, RuntimeConfig

FAST = RuntimeConfig(
    mailbox_capacity=16,
    mailbox_reserve=4,
    ask_timeout_s=2.0,
    stop_timeout_s=1.0,
    stuck_after_s=None,
    watchdog_interval_s=0.02,
    restart=RestartPolicy(
        max_restarts=3, within_s=10.0, backoff_initial_s=0.01, backoff_max_s=0.05, jitter=0.0
    ),
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mock_clock: on trio, run on trio.testing.MockClock(autojump_threshold=0) -- only for "
        "tests whose waits are all anyio time (sleeps, timeouts, deadlines), never real I/O",
    )


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str | tuple[str, dict[str, object]]:
    """asyncio and trio; a ``mock_clock`` test's trio run jumps virtual time whenever every
    task is waiting, so its timeouts pass instantly and exactly (asyncio keeps real time)."""
    backend: str = request.param
    if backend == "trio" and request.node.get_closest_marker("mock_clock") is not None:
        return backend, {"clock": MockClock(autojump_threshold=0)}
    return backend


def task_names() -> set[str]:
    return {task.name or "" for task in anyio.get_running_tasks()}


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    rt = Runtime(FAST, metrics=MetricsRegistry())
    before = task_names()
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        yield rt
        rt.stop()
    assert rt.state == "stopped"
    leaked = {
        name
        for name in task_names() - before
        if name.startswith(("actor ", "supervisor ", "watchdog "))
    }
    assert not leaked, leaked
