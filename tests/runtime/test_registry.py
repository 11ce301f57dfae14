"""The registry: names, spawn on demand, passivation, inspection."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from actors.runtime import ActorKind, DuplicateActor, Runtime, StopReason
from tests.runtime.actors_under_test import Hang, Journal, Note, Read, Recorder

pytestmark = pytest.mark.anyio


async def test_get_or_spawn_builds_one_actor_per_name(runtime: Runtime) -> None:
    journals: dict[str, Journal] = {}
    runtime.register(
        ActorKind("tenant", factory=lambda id: Recorder(journals.setdefault(id, Journal())))
    )
    first = runtime.get_or_spawn("tenant", "t1")
    assert runtime.get_or_spawn("tenant", "t1") is first
    other = runtime.get_or_spawn("tenant", "t2")
    assert other is not first
    runtime.tell("tenant", "t1", Note(sender=0, seq=1))
    assert await first.ask(Read(), reply=list) == [Note(sender=0, seq=1)]
    assert set(journals) == {"t1", "t2"}
    assert runtime.get("tenant", "t3") is None


async def test_spawning_a_taken_name_is_refused_unless_replacing(runtime: Runtime) -> None:
    runtime.register(ActorKind("device"))
    old_journal, new_journal = Journal(), Journal()
    old = runtime.spawn("device", "d", lambda: Recorder(old_journal))
    with pytest.raises(DuplicateActor):
        runtime.spawn("device", "d", lambda: Recorder(Journal()))
    new = runtime.spawn("device", "d", lambda: Recorder(new_journal), replace=True)
    await old.join(timeout=5)
    assert not old.alive
    assert new.alive
    assert runtime.get("device", "d") is new
    assert old_journal.stops == [StopReason.REQUESTED]


def test_kinds_are_declared_once_and_checked() -> None:
    runtime = Runtime()
    runtime.register(ActorKind("tenant"))
    with pytest.raises(ValueError, match="already registered"):
        runtime.register(ActorKind("tenant"))
    with pytest.raises(ValueError, match="no supervisor"):
        runtime.register(ActorKind("device", supervisor="nowhere"))
    with pytest.raises(ValueError, match="unknown actor kind"):
        runtime.spawn("ghost", "1", lambda: Recorder(Journal()))
    with pytest.raises(ValueError, match="no factory"):
        runtime.get_or_spawn("tenant", "1")


def test_a_broken_factory_fails_the_spawn_itself() -> None:
    runtime = Runtime()
    runtime.register(ActorKind("tenant"))

    def broken() -> Recorder:
        raise LookupError("no such tenant")

    with pytest.raises(LookupError):
        runtime.spawn("tenant", "1", broken)
    assert runtime.get("tenant", "1") is None


@pytest.mark.mock_clock
async def test_an_idle_actor_is_passivated_and_respawned_by_the_next_message(
    runtime: Runtime,
) -> None:
    journal = Journal()
    runtime.register(ActorKind("tenant", factory=lambda _id: Recorder(journal), idle_after_s=0.05))
    first = runtime.get_or_spawn("tenant", "t")
    first.tell(Note(sender=0, seq=1))
    await first.join(timeout=5)  # nothing more arrives: it passivates
    assert journal.stops == [StopReason.IDLE]
    assert runtime.get("tenant", "t") is None
    runtime.tell("tenant", "t", Note(sender=0, seq=2))
    second = runtime.get("tenant", "t")
    assert second is not None
    assert second is not first
    seen = await second.ask(Read(), reply=list)
    assert seen == [Note(sender=0, seq=1), Note(sender=0, seq=2)]
    assert journal.starts == 2


@pytest.mark.mock_clock
async def test_a_busy_actor_is_not_passivated(runtime: Runtime) -> None:
    journal = Journal()
    runtime.register(ActorKind("tenant", factory=lambda _id: Recorder(journal), idle_after_s=0.05))
    ref = runtime.get_or_spawn("tenant", "t")
    ref.tell(Hang())
    await journal.entered.wait()
    await anyio.sleep(0.15)  # three idle periods pass while it is busy, not idle
    assert ref.alive
    journal.release.set()


async def test_snapshots_list_every_actor_without_state_and_one_with_it(
    runtime: Runtime,
) -> None:
    runtime.register(ActorKind("device"))
    runtime.register(ActorKind("tenant"))
    refs = [
        runtime.spawn("device", "b", lambda: Recorder(Journal())),
        runtime.spawn("device", "a", lambda: Recorder(Journal())),
        runtime.spawn("tenant", "t", lambda: Recorder(Journal())),
    ]
    refs[0].tell(Note(sender=0, seq=0))
    await refs[0].ask(Read(), reply=list)
    listed = runtime.snapshots()
    assert [(s.kind, s.id) for s in listed] == [("device", "a"), ("device", "b"), ("tenant", "t")]
    assert all(s.state is None for s in listed)
    assert [s.id for s in runtime.snapshots("device")] == ["a", "b"]
    one = runtime.snapshot("device", "b")
    assert one is not None
    assert one.state == {"count": 1}
    assert one.processed == 2
    assert one.mailbox == 0
    assert one.status == "running"
    assert one.last_message_at is not None
    assert one.supervisor == "root"
    encoded = msgspec.json.decode(msgspec.json.encode(one))
    assert {"kind", "id", "mailbox", "restarts", "last_message_at", "state"} <= encoded.keys()
    assert runtime.snapshot("device", "zzz") is None
    assert runtime.metrics.sample("signage_actors", kind="device") == 2
    assert runtime.metrics.sample("signage_actors", kind="tenant") == 1
