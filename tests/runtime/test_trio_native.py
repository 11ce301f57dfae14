"""The runtime inside plain trio code (pytest-trio): nurseries, trio cancel scopes."""

from __future__ import annotations

import pytest
import trio

from actors.runtime import ActorKind, Runtime, StopReason
from tests.runtime.actors_under_test import Journal, Note, Read, Recorder
from tests.runtime.conftest import FAST


@pytest.mark.trio
async def test_the_runtime_starts_in_a_trio_nursery_and_stops_cleanly() -> None:
    runtime = Runtime(FAST)
    journal = Journal()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        runtime.register(ActorKind("recorder"))
        ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
        ref.tell(Note(sender=0, seq=1))
        with trio.fail_after(5):
            assert await ref.ask(Read(), reply=list) == [Note(sender=0, seq=1)]
        runtime.stop()
    assert runtime.state == "stopped"
    assert journal.stops == [StopReason.SHUTDOWN]


@pytest.mark.trio
async def test_cancelling_the_runtime_from_outside_still_runs_on_stop() -> None:
    runtime = Runtime(FAST)
    journal = Journal()
    with trio.move_on_after(5) as deadline:
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            runtime.register(ActorKind("recorder"))
            ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
            with trio.fail_after(5):
                await ref.ask(Read(), reply=list)
            nursery.cancel_scope.cancel()  # no graceful stop: plain trio cancellation
    assert not deadline.cancelled_caught
    assert runtime.state == "stopped"
    assert journal.stops == [StopReason.SHUTDOWN]  # shielded, bounded on_stop still ran
    assert not ref.alive
