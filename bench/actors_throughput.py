"""Messages per second through one actor, against a bare ``asyncio.Queue`` + task.

Both sides do the same work per message: one bounded-queue hand-off and one awaited
handler call that counts. Two producer styles:

- ``send``: the producer awaits room (block policy) -- ``await queue.put(m)``;
- ``tell``: the producer enqueues a burst without awaiting (never-drop policy), then waits
  for the consumer to signal it drained the burst -- ``queue.put_nowait(m)`` in the same
  bursts (a tenant actor's waves; one wake-up per burst on both sides).

Run: ``.venv/bin/python -m bench.actors_throughput [--messages N] [--rounds R]``.
Prints figures; there is no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

import anyio

from actors.runtime import Actor, ActorKind, Overflow, Runtime, RuntimeConfig, handler
from bench.actors_common import FRAME, Deliver, now, ratio, settle_gc, unfreeze

CAPACITY = 1024
BURST = 512


class Waited(Deliver, frozen=True):
    """The same payload under the block policy."""


class Counter(Actor):
    def __init__(self, target: int, done: list[anyio.Event]) -> None:
        self.count = 0
        self.target = target
        self.done = done  # done[0]: set at the end of each burst (and at the target)

    @handler(Overflow.BLOCK)
    async def waited(self, msg: Waited) -> None:
        self.count += 1
        if self.count == self.target:
            self.done[0].set()

    @handler(Overflow.NEVER_DROP)
    async def deliver(self, msg: Deliver) -> None:
        self.count += 1
        if self.count % BURST == 0 or self.count == self.target:
            self.done[0].set()


async def baseline(messages: int, style: str) -> float:
    queue: asyncio.Queue[Deliver] = asyncio.Queue(CAPACITY)
    done = [asyncio.Event()]
    count = 0

    async def handle(msg: Deliver) -> None:
        nonlocal count
        count += 1
        if count == messages or (style == "tell" and count % BURST == 0):
            done[0].set()

    async def consume() -> None:
        while True:
            await handle(await queue.get())

    consumer = asyncio.get_running_loop().create_task(consume())
    settle_gc(freeze=True)
    started = now()
    if style == "send":
        for _ in range(messages):
            await queue.put(FRAME)
    else:
        for sent in range(messages):
            queue.put_nowait(FRAME)
            if sent % BURST == BURST - 1:
                await done[0].wait()
                done[0] = asyncio.Event()
    await done[0].wait()
    elapsed = now() - started
    consumer.cancel()
    unfreeze()
    return messages / elapsed


async def runtime_rate(messages: int, style: str) -> float:
    runtime = Runtime(RuntimeConfig(mailbox_capacity=CAPACITY, mailbox_reserve=CAPACITY))
    done = [anyio.Event()]
    waited = Waited(frame=FRAME.frame)
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        runtime.register(ActorKind("counter"))
        ref = runtime.spawn("counter", "c", lambda: Counter(messages, done))
        settle_gc(freeze=True)
        started = now()
        if style == "send":
            for _ in range(messages):
                await ref.send(waited)
        else:
            for sent in range(messages):
                ref.tell(FRAME)
                if sent % BURST == BURST - 1:
                    await done[0].wait()
                    done[0] = anyio.Event()
        await done[0].wait()
        elapsed = now() - started
        runtime.stop()
    unfreeze()
    return messages / elapsed


async def compare(messages: int, rounds: int) -> None:
    print(f"one actor, {messages:,} messages per round, {rounds} rounds, asyncio, GC frozen")
    for style in ("send", "tell"):
        base = [await baseline(messages, style) for _ in range(rounds)]
        ours = [await runtime_rate(messages, style) for _ in range(rounds)]
        b, o = statistics.median(base), statistics.median(ours)
        print(
            f"  {style:4}  asyncio.Queue+task {b:>10,.0f} msg/s   runtime {o:>10,.0f} msg/s"
            f"   ({ratio(b, o)} time per message)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(compare(args.messages, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
