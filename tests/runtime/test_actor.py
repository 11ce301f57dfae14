"""Actors: one message at a time, in order; tell, send, ask and their errors."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import msgspec
import pytest

from actors.runtime import (
    Actor,
    ActorCrashed,
    ActorKind,
    ActorRef,
    ActorStopped,
    AskTimeout,
    MailboxFull,
    Overflow,
    Runtime,
    StopReason,
    UnhandledMessage,
    handler,
)
from tests.runtime.actors_under_test import (
    Crash,
    Hang,
    Journal,
    Manifest,
    Note,
    Read,
    Recorder,
    Telemetry,
    Urgent,
)

pytestmark = pytest.mark.anyio


class Stranger(msgspec.Struct, frozen=True):
    pass


def spawn_recorder(runtime: Runtime, journal: Journal) -> ActorRef:
    runtime.register(ActorKind("recorder"))
    return runtime.spawn("recorder", "r", lambda: Recorder(journal))


async def test_messages_are_handled_in_the_order_they_were_told(runtime: Runtime) -> None:
    journal = Journal()
    ref = spawn_recorder(runtime, journal)
    for seq in range(200):
        if seq % 7:
            await ref.send(Note(sender=0, seq=seq))  # waits whenever the mailbox is full
        else:
            ref.tell(Urgent(sender=0, seq=seq))
            await anyio.lowlevel.checkpoint()
    seen = await ref.ask(Read(), reply=list)
    assert [m.seq for m in seen] == list(range(200))


async def test_ask_returns_the_handlers_answer(runtime: Runtime) -> None:
    journal = Journal()
    ref = spawn_recorder(runtime, journal)
    ref.tell(Note(sender=1, seq=1))
    assert await ref.ask(Read(), reply=list) == [Note(sender=1, seq=1)]


@pytest.mark.mock_clock
async def test_ask_times_out_with_a_clear_error(runtime: Runtime) -> None:
    journal = Journal()
    ref = spawn_recorder(runtime, journal)
    ref.tell(Hang())
    with pytest.raises(AskTimeout, match="did not answer Read"):
        await ref.ask(Read(), reply=list, timeout=0.05)
    journal.release.set()
    assert await ref.ask(Read(), reply=list) == []


async def test_ask_to_a_stopped_actor_fails_at_once(runtime: Runtime) -> None:
    journal = Journal()
    ref = spawn_recorder(runtime, journal)
    ref.stop()
    with pytest.raises(ActorStopped):
        await ref.ask(Read(), reply=list, timeout=5)
    with pytest.raises(ActorStopped):
        ref.tell(Note(sender=0, seq=0))
    await ref.join()
    assert journal.stops == [StopReason.REQUESTED]
    assert not ref.alive


async def test_ask_pending_when_the_actor_stops_fails_with_actor_stopped(runtime: Runtime) -> None:
    journal = Journal()
    ref = spawn_recorder(runtime, journal)
    ref.tell(Hang())
    with anyio.fail_after(5):
        await journal.entered.wait()
    async with anyio.create_task_group() as tg:

        async def stop_soon() -> None:
            await anyio.wait_all_tasks_blocked()
            ref.stop()
            journal.release.set()

        tg.start_soon(stop_soon)
        with pytest.raises(ActorStopped, match="stopped before answering"):
            await ref.ask(Read(), reply=list, timeout=5)


async def test_ask_whose_handler_raises_gets_actor_crashed(runtime: Runtime) -> None:
    class Boom(Recorder):
        @handler(Overflow.BLOCK)
        async def read(self, msg: Read) -> list[msgspec.Struct]:
            raise ValueError("no")

    runtime.register(ActorKind("boom"))
    journal = Journal()
    ref = runtime.spawn("boom", "b", lambda: Boom(journal))
    with pytest.raises(ActorCrashed) as caught:
        await ref.ask(Read(), reply=list)
    assert isinstance(caught.value.__cause__, ValueError)


async def test_ask_with_the_wrong_reply_type_is_a_type_error(runtime: Runtime) -> None:
    ref = spawn_recorder(runtime, Journal())
    with pytest.raises(TypeError, match="expected dict"):
        await ref.ask(Read(), reply=dict)


async def test_telling_an_unhandled_type_fails_at_the_sender(runtime: Runtime) -> None:
    ref = spawn_recorder(runtime, Journal())
    with pytest.raises(UnhandledMessage, match="Stranger"):
        ref.tell(Stranger())
    with pytest.raises(UnhandledMessage):
        await ref.ask(Stranger(), reply=object)


async def test_drop_oldest_and_coalesce_apply_per_message_type(runtime: Runtime) -> None:
    journal = Journal()
    ref = spawn_recorder(runtime, journal)
    ref.tell(Hang())
    with anyio.fail_after(5):
        await journal.entered.wait()
    capacity = runtime.config.mailbox_capacity
    for seq in range(capacity + 5):
        ref.tell(Telemetry(seq=seq))
    ref.tell(Manifest(screen="s", version=1))  # evicts the oldest telemetry
    ref.tell(Manifest(screen="s", version=2))  # supersedes version 1
    journal.release.set()
    seen = await ref.ask(Read(), reply=list)
    telemetry = [m.seq for m in seen if isinstance(m, Telemetry)]
    assert telemetry == list(range(6, capacity + 5))
    assert [m for m in seen if isinstance(m, Manifest)] == [Manifest(screen="s", version=2)]
    snapshot = runtime.snapshot("recorder", "r")
    assert snapshot is not None
    assert snapshot.dropped == 7
    dropped = "signage_actor_messages_dropped_total"
    assert runtime.metrics.sample(dropped, kind="recorder", reason="overflow") == 6
    assert runtime.metrics.sample(dropped, kind="recorder", reason="superseded") == 1


async def test_send_waits_for_room_and_tell_refuses_when_full(runtime: Runtime) -> None:
    journal = Journal()
    ref = spawn_recorder(runtime, journal)
    ref.tell(Hang())
    with anyio.fail_after(5):
        await journal.entered.wait()
    for seq in range(runtime.config.mailbox_capacity):
        ref.tell(Note(sender=0, seq=seq))
    with pytest.raises(MailboxFull):
        ref.tell(Note(sender=0, seq=-1))
    with pytest.raises(MailboxFull):
        await ref.send(Note(sender=0, seq=-1), timeout=0.02)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ref.send, Note(sender=0, seq=999))
        await anyio.wait_all_tasks_blocked()
        journal.release.set()
    seen = await ref.ask(Read(), reply=list)
    assert seen[-1] == Note(sender=0, seq=999)


async def test_the_actor_can_stop_itself(runtime: Runtime) -> None:
    class Quitter(Actor):
        @handler(Overflow.NEVER_DROP)
        async def quit(self, msg: Crash) -> None:
            self.ref.stop()

    runtime.register(ActorKind("quitter"))
    ref = runtime.spawn("quitter", "q", Quitter)
    ref.tell(Crash())
    await ref.join(timeout=5)
    assert runtime.get("quitter", "q") is None


def test_handler_declarations_are_checked() -> None:
    with pytest.raises(TypeError, match="async def"):

        class Sync(Actor):
            @handler(Overflow.BLOCK)  # type: ignore[type-var]
            def note(self, msg: Note) -> None: ...

    with pytest.raises(TypeError, match="not a msgspec Struct"):

        class NotStruct(Actor):
            @handler(Overflow.BLOCK)
            async def note(self, msg: int) -> None: ...

    with pytest.raises(TypeError, match="two handlers"):

        class Twice(Actor):
            @handler(Overflow.BLOCK)
            async def one(self, msg: Note) -> None: ...

            @handler(Overflow.BLOCK)
            async def two(self, msg: Note | Read) -> None: ...

    with pytest.raises(ValueError, match="COALESCE"):
        handler(Overflow.BLOCK, key=lambda m: m)


def test_a_union_annotation_registers_each_member() -> None:
    class Both(Actor):
        @handler(Overflow.NEVER_DROP)
        async def either(self, msg: Note | Urgent) -> None: ...

    assert set(Both.__handlers__) == {Note, Urgent}


async def test_subclasses_inherit_and_extend_handlers(runtime: Runtime) -> None:
    assert Crash in Recorder.__handlers__

    class Extended(Recorder):
        @handler(Overflow.NEVER_DROP)
        async def stranger(self, msg: Stranger) -> None: ...

    assert {Crash, Stranger} <= set(Extended.__handlers__)
    assert Stranger not in Recorder.__handlers__


class Keeper(Recorder):
    """A recorder that keeps what it will not handle."""

    def __init__(self, journal: Journal, kept: list[msgspec.Struct]) -> None:
        super().__init__(journal)
        self.kept = kept

    def on_undelivered(self, message: msgspec.Struct) -> None:
        self.kept.append(message)


async def test_messages_an_actor_will_not_handle_go_to_its_on_undelivered(
    runtime: Runtime,
) -> None:
    journal, kept = Journal(), list[msgspec.Struct]()
    runtime.register(ActorKind("keeper"))
    ref = runtime.spawn("keeper", "k", lambda: Keeper(journal, kept))
    ref.tell(Hang())
    await journal.entered.wait()
    ref.tell(Note(sender=0, seq=1))
    await ref.send(Note(sender=0, seq=2))
    ref.stop()  # the two queued notes are discarded
    with pytest.raises(ActorStopped):
        ref.tell(Note(sender=0, seq=3))
    with pytest.raises(ActorStopped):
        await ref.send(Note(sender=0, seq=4))
    journal.release.set()
    await ref.join(5.0)
    assert [m.seq for m in kept if isinstance(m, Note)] == [1, 2, 3, 4]
    assert [m for m in journal.seen if isinstance(m, Note)] == []
