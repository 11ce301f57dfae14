"""The mailbox on its own: order, every overflow policy, waiting, closing."""

from __future__ import annotations

import anyio
import pytest

from actors.runtime import ActorStopped, Mailbox, MailboxFull, MailboxOverflow, Overflow
from actors.runtime.mailbox import DropReason

pytestmark = pytest.mark.anyio

BLOCK, DROP, COALESCE, NEVER = (
    Overflow.BLOCK,
    Overflow.DROP_OLDEST,
    Overflow.COALESCE,
    Overflow.NEVER_DROP,
)


def drain(mailbox: Mailbox[str]) -> list[str]:
    out = []
    while mailbox:
        out.append(mailbox.get_nowait())
    return out


class Discards:
    def __init__(self) -> None:
        self.items: list[tuple[str, DropReason]] = []

    def __call__(self, item: str, reason: DropReason) -> None:
        self.items.append((item, reason))


def test_messages_come_out_in_the_order_they_went_in() -> None:
    mailbox: Mailbox[str] = Mailbox(8)
    for item, policy in [("a", BLOCK), ("b", NEVER), ("c", DROP), ("d", BLOCK)]:
        mailbox.put_nowait(item, policy)
    assert drain(mailbox) == ["a", "b", "c", "d"]


def test_block_policy_refuses_put_nowait_on_a_full_mailbox() -> None:
    mailbox: Mailbox[str] = Mailbox(2)
    mailbox.put_nowait("a", BLOCK)
    mailbox.put_nowait("b", BLOCK)
    with pytest.raises(MailboxFull):
        mailbox.put_nowait("c", BLOCK)
    assert drain(mailbox) == ["a", "b"]
    assert mailbox.dropped == 0


async def test_block_policy_put_waits_for_room_in_arrival_order() -> None:
    mailbox: Mailbox[str] = Mailbox(1)
    mailbox.put_nowait("first", BLOCK)
    done: list[str] = []

    async def sender(item: str) -> None:
        await mailbox.put(item, BLOCK, timeout=5)
        done.append(item)

    async with anyio.create_task_group() as tg:
        for item in ("second", "third"):
            tg.start_soon(sender, item)
            await anyio.wait_all_tasks_blocked()
        assert done == []
        received = [await mailbox.get(timeout=5) for _ in range(3)]
    assert received == ["first", "second", "third"]
    assert done == ["second", "third"]


@pytest.mark.mock_clock
async def test_block_policy_put_times_out_with_mailbox_full() -> None:
    mailbox: Mailbox[str] = Mailbox(1)
    mailbox.put_nowait("a", BLOCK)
    with pytest.raises(MailboxFull):
        await mailbox.put("b", BLOCK, timeout=0.05)
    assert drain(mailbox) == ["a"]


async def test_a_put_waiting_for_room_fails_when_the_mailbox_closes() -> None:
    mailbox: Mailbox[str] = Mailbox(1)
    mailbox.put_nowait("a", BLOCK)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def close_soon() -> None:
                await anyio.wait_all_tasks_blocked()
                mailbox.close()

            tg.start_soon(close_soon)
            with pytest.raises(ActorStopped):
                await mailbox.put("b", BLOCK, timeout=5)


def test_drop_oldest_evicts_the_oldest_droppable_message() -> None:
    discards = Discards()
    mailbox: Mailbox[str] = Mailbox(3, on_discard=discards)
    mailbox.put_nowait("keep", BLOCK)
    mailbox.put_nowait("t1", DROP)
    mailbox.put_nowait("t2", DROP)
    mailbox.put_nowait("t3", DROP)
    assert drain(mailbox) == ["keep", "t2", "t3"]
    assert discards.items == [("t1", "overflow")]
    assert mailbox.dropped == 1


def test_drop_oldest_drops_the_newcomer_when_nothing_else_is_droppable() -> None:
    discards = Discards()
    mailbox: Mailbox[str] = Mailbox(2, on_discard=discards)
    mailbox.put_nowait("a", BLOCK)
    mailbox.put_nowait("b", NEVER)
    mailbox.put_nowait("t", DROP)
    assert drain(mailbox) == ["a", "b"]
    assert discards.items == [("t", "overflow")]


def test_coalesce_keeps_only_the_newest_per_key_at_the_tail() -> None:
    discards = Discards()
    mailbox: Mailbox[str] = Mailbox(8, on_discard=discards)
    mailbox.put_nowait("screen-1 v1", COALESCE, "screen-1")
    mailbox.put_nowait("other", BLOCK)
    mailbox.put_nowait("screen-2 v1", COALESCE, "screen-2")
    mailbox.put_nowait("screen-1 v2", COALESCE, "screen-1")
    # v2 joins the tail: "other" (sent before it) still comes first; order per sender holds.
    assert drain(mailbox) == ["other", "screen-2 v1", "screen-1 v2"]
    assert discards.items == [("screen-1 v1", "superseded")]


def test_coalesce_never_loses_the_latest_state_to_a_full_mailbox() -> None:
    mailbox: Mailbox[str] = Mailbox(2, reserve=1)
    mailbox.put_nowait("a", BLOCK)
    mailbox.put_nowait("b", BLOCK)
    mailbox.put_nowait("v1", COALESCE, "k")
    assert mailbox.overflowed
    mailbox.put_nowait("v2", COALESCE, "k")  # replaces v1: no new room needed
    assert drain(mailbox) == ["a", "b", "v2"]


def test_never_drop_evicts_a_droppable_message_before_using_the_reserve() -> None:
    discards = Discards()
    mailbox: Mailbox[str] = Mailbox(2, reserve=2, on_discard=discards)
    mailbox.put_nowait("t", DROP)
    mailbox.put_nowait("a", BLOCK)
    mailbox.put_nowait("alarm", NEVER)
    assert not mailbox.overflowed
    assert drain(mailbox) == ["a", "alarm"]
    assert discards.items == [("t", "overflow")]


def test_never_drop_uses_the_reserve_and_flags_the_overflow() -> None:
    mailbox: Mailbox[str] = Mailbox(2, reserve=2)
    mailbox.put_nowait("a", BLOCK)
    mailbox.put_nowait("b", BLOCK)
    mailbox.put_nowait("alarm-1", NEVER)
    mailbox.put_nowait("alarm-2", NEVER)
    assert mailbox.overflows == 2
    assert mailbox.clear_overflow() is True
    assert mailbox.clear_overflow() is False
    assert drain(mailbox) == ["a", "b", "alarm-1", "alarm-2"]
    assert mailbox.dropped == 0


def test_never_drop_past_the_reserve_raises_and_reports_the_owner_stuck() -> None:
    stuck: list[bool] = []
    mailbox: Mailbox[str] = Mailbox(1, reserve=1, on_stuck=lambda: stuck.append(True))
    mailbox.put_nowait("a", BLOCK)
    mailbox.put_nowait("alarm-1", NEVER)
    with pytest.raises(MailboxOverflow):
        mailbox.put_nowait("alarm-2", NEVER)
    assert stuck == [True]
    assert drain(mailbox) == ["a", "alarm-1"]


async def test_get_waits_for_a_message() -> None:
    mailbox: Mailbox[str] = Mailbox(4)
    async with anyio.create_task_group() as tg:

        async def put_soon() -> None:
            await anyio.wait_all_tasks_blocked()
            mailbox.put_nowait("hello", NEVER)

        tg.start_soon(put_soon)
        assert await mailbox.get(timeout=5) == "hello"


@pytest.mark.mock_clock
async def test_get_times_out_on_an_empty_mailbox() -> None:
    mailbox: Mailbox[str] = Mailbox(4)
    with pytest.raises(TimeoutError):
        await mailbox.get(timeout=0.01)


async def test_close_discards_the_queue_and_ends_the_consumer() -> None:
    discards = Discards()
    mailbox: Mailbox[str] = Mailbox(4, on_discard=discards)
    mailbox.put_nowait("a", BLOCK)
    assert mailbox.close() == ["a"]
    assert discards.items == [("a", "stopped")]
    with pytest.raises(anyio.EndOfStream):
        await mailbox.get(timeout=5)
    with pytest.raises(ActorStopped):
        mailbox.put_nowait("b", NEVER)
    assert mailbox.close() == []


async def test_a_waiting_consumer_is_woken_by_close() -> None:
    mailbox: Mailbox[str] = Mailbox(4)
    async with anyio.create_task_group() as tg:

        async def close_soon() -> None:
            await anyio.wait_all_tasks_blocked()
            mailbox.close()

        tg.start_soon(close_soon)
        with pytest.raises(anyio.EndOfStream):
            await mailbox.get(timeout=5)


async def test_only_one_consumer_may_wait() -> None:
    mailbox: Mailbox[str] = Mailbox(4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(mailbox.get, 5)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(anyio.BusyResourceError):
            await mailbox.get(timeout=5)
        mailbox.put_nowait("x", NEVER)


def test_capacity_and_reserve_must_make_sense() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Mailbox(0)
    with pytest.raises(ValueError, match="reserve"):
        Mailbox(1, reserve=-1)
