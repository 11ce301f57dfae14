"""Supervision: restart with backoff, give up, escalate, kill the stuck, stop cleanly."""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from actors.metrics import MetricsRegistry
from actors.runtime import (
    ActorKind,
    ActorStopped,
    Escalation,
    MailboxOverflow,
    RestartPolicy,
    Runtime,
    RuntimeConfig,
    StopReason,
)
from tests.runtime.actors_under_test import Crash, Hang, Journal, Note, Read, Recorder, Urgent
from tests.runtime.conftest import FAST, task_names
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_a_crashed_actor_restarts_with_fresh_state_and_keeps_its_mailbox(
    runtime: Runtime,
) -> None:
    journal = Journal()
    runtime.register(ActorKind("recorder"))
    ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
    ref.tell(Note(sender=0, seq=1))
    ref.tell(Crash())
    ref.tell(Note(sender=0, seq=2))  # queued behind the crash: survives the restart
    seen = await ref.ask(Read(), reply=list)
    assert seen == [Note(sender=0, seq=1), Note(sender=0, seq=2)]
    assert journal.starts == 2
    assert journal.stops == [StopReason.CRASHED]
    snapshot = runtime.snapshot("recorder", "r")
    assert snapshot is not None
    assert (snapshot.restarts, snapshot.crashes, snapshot.state) == (1, 1, {"count": 1})
    assert runtime.metrics.sample("signage_actor_crashes_total", kind="recorder") == 1
    assert runtime.metrics.sample("signage_actor_restarts_total", kind="recorder") == 1


async def test_restarts_back_off_exponentially(runtime: Runtime) -> None:
    journal = Journal()
    policy = RestartPolicy(
        max_restarts=3, within_s=10, backoff_initial_s=0.02, backoff_max_s=1, jitter=0
    )
    runtime.register(ActorKind("recorder", restart=policy))
    ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
    for _ in range(3):
        ref.tell(Crash())
    await eventually(lambda: journal.starts == 4)
    gaps = [b - a for a, b in zip(journal.started_at, journal.started_at[1:], strict=False)]
    for gap, backoff in zip(gaps, (0.02, 0.04, 0.08), strict=True):
        assert gap >= backoff * 0.9  # timer granularity on some platforms
    assert ref.alive


async def test_a_crash_in_on_start_is_retried_like_any_crash(runtime: Runtime) -> None:
    journal = Journal()

    class FlakyStart(Recorder):
        async def on_start(self) -> None:
            await super().on_start()
            if self.journal.starts == 1:
                raise ConnectionError("database not there yet")

    runtime.register(ActorKind("flaky"))
    ref = runtime.spawn("flaky", "f", lambda: FlakyStart(journal))
    ref.tell(Note(sender=0, seq=1))
    assert await ref.ask(Read(), reply=list) == [Note(sender=0, seq=1)]
    assert journal.starts == 2
    assert journal.stops == []  # on_stop only follows an on_start that returned


async def test_a_temporary_actor_is_not_restarted(runtime: Runtime) -> None:
    journal = Journal()
    runtime.register(ActorKind("temp", restart=RestartPolicy(restart="temporary")))
    ref = runtime.spawn("temp", "t", lambda: Recorder(journal))
    ref.tell(Crash())
    await ref.join(timeout=5)
    assert not ref.alive
    assert runtime.get("temp", "t") is None
    assert journal.starts == 1


async def test_giving_up_stops_only_that_child(runtime: Runtime) -> None:
    flapping, steady = Journal(), Journal()
    policy = RestartPolicy(
        max_restarts=2, within_s=10, backoff_initial_s=0, backoff_max_s=0, on_give_up="stop"
    )
    runtime.register(ActorKind("device", restart=policy))
    bad = runtime.spawn("device", "bad", lambda: Recorder(flapping))
    good = runtime.spawn("device", "good", lambda: Recorder(steady))
    for _ in range(3):
        bad.tell(Crash())
    await bad.join(timeout=5)
    assert flapping.starts == 3  # the first start and two restarts, then no more
    with pytest.raises(ActorStopped):
        bad.tell(Note(sender=0, seq=0))
    good.tell(Note(sender=0, seq=0))
    assert await good.ask(Read(), reply=list) == [Note(sender=0, seq=0)]
    assert runtime.metrics.sample("signage_actor_give_ups_total", kind="device") == 1


async def test_escalation_restarts_the_supervisor_with_all_its_children_stopped(
    runtime: Runtime,
) -> None:
    group = runtime.add_supervisor(
        "group", policy=RestartPolicy(max_restarts=5, backoff_initial_s=0, backoff_max_s=0)
    )
    policy = RestartPolicy(max_restarts=1, within_s=10, backoff_initial_s=0, backoff_max_s=0)
    runtime.register(ActorKind("fragile", supervisor="group", restart=policy))
    fragile_journal, sibling_journal = Journal(), Journal()
    fragile = runtime.spawn("fragile", "f", lambda: Recorder(fragile_journal))
    sibling = runtime.spawn("fragile", "s", lambda: Recorder(sibling_journal))
    fragile.tell(Crash())
    fragile.tell(Crash())  # second crash within the window: budget of one restart spent
    await sibling.join(timeout=5)
    await fragile.join(timeout=5)
    assert sibling_journal.stops == [StopReason.SHUTDOWN]
    await eventually(lambda: group.restarts == 1 and group.status == "running")
    assert group.path == "root/group"
    fresh = runtime.spawn("fragile", "f", lambda: Recorder(Journal()))
    fresh.tell(Note(sender=0, seq=0))
    assert await fresh.ask(Read(), reply=list) == [Note(sender=0, seq=0)]
    paths = {s.path: s for s in runtime.supervisors()}
    assert paths["root/group"].restarts == 1


async def test_an_escalation_out_of_the_root_fails_the_runtime() -> None:
    runtime = Runtime(RuntimeConfig(restart=RestartPolicy(max_restarts=0), stop_timeout_s=1))
    runtime.register(ActorKind("fragile"))
    runtime.register(ActorKind("bystander"))
    other = Journal()
    bystander = runtime.spawn("bystander", "b", lambda: Recorder(other))
    runtime.spawn("fragile", "f", lambda: Recorder(Journal())).tell(Crash())
    before = task_names()
    with anyio.fail_after(5), pytest.raises(Escalation, match="root/fragile:f"):
        await runtime.run()
    assert runtime.state == "failed"
    assert not bystander.alive
    assert other.stops == [StopReason.SHUTDOWN]
    assert not {n for n in task_names() - before if n.startswith(("actor ", "supervisor "))}


async def test_the_watchdog_kills_a_stuck_handler() -> None:
    config = RuntimeConfig(
        stuck_after_s=0.05, watchdog_interval_s=0.01, restart=FAST.restart, stop_timeout_s=1
    )
    runtime = Runtime(config, metrics=MetricsRegistry())
    journal = Journal()
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        runtime.register(ActorKind("recorder"))
        ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
        ref.tell(Hang())  # never released: only the watchdog ends it
        ref.tell(Note(sender=0, seq=1))
        assert await ref.ask(Read(), reply=list) == [Note(sender=0, seq=1)]
        assert journal.starts == 2
        kills = runtime.metrics.sample("signage_actor_kills_total", kind="recorder", cause="stuck")
        assert kills == 1
        runtime.stop()


async def test_falling_behind_never_drop_messages_restarts_and_keeps_them(
    runtime: Runtime,
) -> None:
    journal = Journal()
    runtime.register(ActorKind("recorder"))
    ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
    ref.tell(Hang())
    await journal.entered.wait()
    capacity = runtime.config.mailbox_capacity
    for seq in range(capacity + 2):  # two past the capacity: into the reserve
        ref.tell(Urgent(sender=0, seq=seq))
    journal.release.set()
    seen = await ref.ask(Read(), reply=list)
    assert [m.seq for m in seen if isinstance(m, Urgent)] == list(range(capacity + 2))
    assert journal.stops == [StopReason.CRASHED]  # default on_overflow: crash, restart
    assert journal.starts == 2


async def test_a_mailbox_full_past_its_reserve_kills_the_actor(runtime: Runtime) -> None:
    journal = Journal()
    runtime.register(ActorKind("recorder"))
    ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
    ref.tell(Hang())
    await journal.entered.wait()
    limit = runtime.config.mailbox_capacity + runtime.config.mailbox_reserve
    for seq in range(limit):
        ref.tell(Urgent(sender=0, seq=seq))
    with pytest.raises(MailboxOverflow):
        ref.tell(Urgent(sender=0, seq=limit))
    seen = await ref.ask(Read(), reply=list)  # the killed actor restarted; nothing accepted lost
    assert [m.seq for m in seen if isinstance(m, Urgent)] == list(range(limit))
    kills = runtime.metrics.sample("signage_actor_kills_total", kind="recorder", cause="overflow")
    assert kills == 1


@pytest.mark.mock_clock
async def test_an_actor_that_ignores_stop_is_cancelled_after_the_stop_timeout(
    runtime: Runtime,
) -> None:
    journal = Journal()
    runtime.register(ActorKind("recorder"))
    ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
    ref.tell(Hang())
    await journal.entered.wait()
    started = anyio.current_time()
    ref.stop()
    await ref.join(timeout=5)
    elapsed = anyio.current_time() - started
    assert runtime.config.stop_timeout_s * 0.9 <= elapsed < runtime.config.stop_timeout_s + 1
    assert journal.stops == [StopReason.REQUESTED]


async def test_stop_during_backoff_ends_the_actor_without_waiting_it_out(
    runtime: Runtime,
) -> None:
    journal = Journal()
    slow = RestartPolicy(backoff_initial_s=30, backoff_max_s=30, jitter=0)
    runtime.register(ActorKind("recorder", restart=slow))
    ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))
    ref.tell(Crash())
    await eventually(lambda: journal.stops == [StopReason.CRASHED])
    ref.stop()
    await ref.join(timeout=2)
    assert journal.starts == 1


@pytest.mark.mock_clock
async def test_shutdown_stops_every_actor_and_leaves_no_task_behind() -> None:
    runtime = Runtime(FAST)
    journals = [Journal() for _ in range(50)]
    before = task_names()
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        runtime.register(ActorKind("recorder"))
        group = runtime.add_supervisor("group")
        runtime.register(ActorKind("member", supervisor=group.name))
        refs = [
            runtime.spawn("recorder" if i % 2 else "member", str(i), partial(Recorder, journal))
            for i, journal in enumerate(journals)
        ]
        for ref in refs:
            ref.tell(Note(sender=0, seq=0))
        refs[0].tell(Hang())  # one busy actor: released by the stop timeout
        await eventually(lambda: all(j.seen for j in journals))
        assert len(anyio.get_running_tasks()) > len(before) + 50
        runtime.stop()
    assert runtime.state == "stopped"
    assert all(not ref.alive for ref in refs)
    assert all(j.stops == [StopReason.SHUTDOWN] for j in journals)
    assert task_names() == before
    with pytest.raises(ActorStopped):
        runtime.spawn("recorder", "late", lambda: Recorder(Journal()))


async def test_a_runtime_runs_once() -> None:
    runtime = Runtime(FAST)
    runtime.stop()
    await runtime.run()
    assert runtime.state == "stopped"
    with pytest.raises(RuntimeError, match="runs once"):
        await runtime.run()
