"""Properties over arbitrary interleavings of tell / send / ask / crash from several senders:
no never-drop (or waited-for) message is ever lost, and no sender's messages are reordered."""

from __future__ import annotations

from typing import Literal

import anyio
import anyio.lowlevel
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.runtime import ActorKind, MailboxOverflow, RestartPolicy, Runtime, RuntimeConfig
from tests.runtime.actors_under_test import Crash, Journal, Note, Read, Recorder, Urgent

pytestmark = pytest.mark.anyio

Op = Literal["send", "tell_urgent", "ask", "crash", "yield"]

CONFIG = RuntimeConfig(
    mailbox_capacity=4,  # small: senders really do meet a full mailbox
    mailbox_reserve=64,
    ask_timeout_s=5.0,
    stop_timeout_s=1.0,
    stuck_after_s=None,
    restart=RestartPolicy(max_restarts=10_000, backoff_initial_s=0, backoff_max_s=0, jitter=0),
)

senders = st.lists(
    st.lists(st.sampled_from(["send", "tell_urgent", "ask", "crash", "yield"]), max_size=25),
    min_size=1,
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=senders)
async def test_no_never_drop_message_is_lost_and_no_sender_is_reordered(
    plans: list[list[Op]],
) -> None:
    runtime = Runtime(CONFIG)
    journal = Journal()
    accepted: list[msgspec.Struct] = []
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        runtime.register(ActorKind("recorder"))
        ref = runtime.spawn("recorder", "r", lambda: Recorder(journal))

        async def sender(who: int, plan: list[Op]) -> None:
            for seq, op in enumerate(plan):
                if op == "send":
                    note = Note(sender=who, seq=seq)
                    await ref.send(note)
                    accepted.append(note)
                elif op == "tell_urgent":
                    urgent = Urgent(sender=who, seq=seq)
                    try:
                        ref.tell(urgent)
                    except MailboxOverflow:  # refused, and the sender was told: not lost
                        continue
                    accepted.append(urgent)
                elif op == "ask":
                    seen = await ref.ask(Read(), reply=list)
                    assert_in_order_per_sender(seen)
                elif op == "crash":
                    ref.tell(Crash())
                else:
                    await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as senders_group:
            for who, plan in enumerate(plans):
                senders_group.start_soon(sender, who, plan)
        final = await ref.ask(Read(), reply=list)  # FIFO: everything accepted came first
        runtime.stop()
    assert_in_order_per_sender(final)
    assert sorted(map(repr, final)) == sorted(map(repr, accepted))


def assert_in_order_per_sender(seen: list[msgspec.Struct]) -> None:
    last: dict[int, int] = {}
    for message in seen:
        assert isinstance(message, Note | Urgent)
        assert message.seq > last.get(message.sender, -1), f"reordered: {message}"
        last[message.sender] = message.seq
