"""Parking: every implementation wakes its task, and a cancelled park leaves no trace."""

from __future__ import annotations

import anyio
import pytest

from actors.runtime.parking import LazyEvent, Parker, _EventParker, parker

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["native", "anyio-event"])
def make(request: pytest.FixtureRequest) -> type[Parker] | None:
    return None if request.param == "native" else _EventParker


def build(make: type[Parker] | None) -> Parker:
    return parker() if make is None else make()


async def test_unpark_wakes_the_parked_task(make: type[Parker] | None) -> None:
    parked = build(make)
    woken = anyio.Event()

    async def sleeper() -> None:
        await parked.park()
        woken.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper)
            await anyio.wait_all_tasks_blocked()
            assert not woken.is_set()
            parked.unpark()
            parked.unpark()  # a second wake is harmless
    assert woken.is_set()


async def test_a_cancelled_park_can_be_parked_again(make: type[Parker] | None) -> None:
    parked = build(make)
    with anyio.move_on_after(0.01) as timed_out:
        await parked.park()
    assert timed_out.cancelled_caught
    parked.unpark()  # nobody parked: nothing happens
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(parked.park)
            await anyio.wait_all_tasks_blocked()
            parked.unpark()


async def test_a_lazy_event_wakes_its_waiters_and_stays_set() -> None:
    flag = LazyEvent()
    assert not flag.is_set()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(flag.wait)
            await anyio.wait_all_tasks_blocked()
            flag.set()
    await flag.wait()  # already set: returns at once
    assert flag.is_set()
