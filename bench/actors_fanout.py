"""Fan-out of one message to 10,000 actors, against 10,000 bare ``asyncio.Queue`` + tasks.

What a tenant actor does for an emergency: hand one pre-encoded frame to every device
actor's mailbox without awaiting any of them. Measured per round: the enqueue loop alone
(what the sender pays), and the time until the last of the 10,000 has handled it. Also the
memory each idle actor (or queue + task) costs, traced with ``tracemalloc``.

Run: ``.venv/bin/python -m bench.actors_fanout [--actors N] [--rounds R] [--no-freeze]
[--trio]``. Prints figures; there is no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tracemalloc

import anyio

from actors.runtime import Actor, ActorKind, Overflow, Runtime, RuntimeConfig, handler
from bench.actors_common import FRAME, Deliver, now, ratio, settle_gc, summary, unfreeze

CAPACITY = 1024


class Countdown:
    """Shared by every receiver: the last one to handle the round's message wakes the
    sender. Reset between rounds."""

    def __init__(self, total: int, event: asyncio.Event | anyio.Event) -> None:
        self.left = total
        self.event = event


class Device(Actor):
    def __init__(self, countdown: list[Countdown]) -> None:
        self.countdown = countdown
        self.frames = 0

    @handler(Overflow.NEVER_DROP)
    async def deliver(self, msg: Deliver) -> None:
        self.frames += 1
        countdown = self.countdown[0]
        countdown.left -= 1
        if countdown.left == 0:
            countdown.event.set()


async def baseline(
    actors: int, rounds: int, freeze: bool
) -> tuple[list[float], list[float], float]:
    countdown = [Countdown(actors, asyncio.Event())]

    async def handle(msg: Deliver) -> None:
        c = countdown[0]
        c.left -= 1
        if c.left == 0:
            c.event.set()

    async def consume(queue: asyncio.Queue[Deliver]) -> None:
        while True:
            await handle(await queue.get())

    loop = asyncio.get_running_loop()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    queues: list[asyncio.Queue[Deliver]] = [asyncio.Queue(CAPACITY) for _ in range(actors)]
    tasks = [loop.create_task(consume(q)) for q in queues]
    await asyncio.sleep(0)  # every consumer reaches its first get()
    per_actor = (tracemalloc.get_traced_memory()[0] - before) / actors
    tracemalloc.stop()
    settle_gc(freeze)
    enqueue, total = [], []
    for _ in range(rounds):
        countdown[0] = Countdown(actors, asyncio.Event())
        started = now()
        for queue in queues:
            queue.put_nowait(FRAME)
        enqueued = now()
        await countdown[0].event.wait()
        enqueue.append(enqueued - started)
        total.append(now() - started)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    unfreeze()
    return enqueue, total, per_actor


async def runtime_fanout(
    actors: int, rounds: int, freeze: bool
) -> tuple[list[float], list[float], float]:
    runtime = Runtime(RuntimeConfig(mailbox_capacity=CAPACITY, stuck_after_s=None))
    countdown = [Countdown(actors, anyio.Event())]
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        runtime.register(ActorKind("device"))
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        refs = [runtime.spawn("device", str(i), lambda: Device(countdown)) for i in range(actors)]
        await anyio.wait_all_tasks_blocked()  # every actor is idle in its mailbox
        per_actor = (tracemalloc.get_traced_memory()[0] - before) / actors
        tracemalloc.stop()
        settle_gc(freeze)
        enqueue, total = [], []
        for _ in range(rounds):
            countdown[0] = Countdown(actors, anyio.Event())
            started = now()
            for ref in refs:
                ref.tell(FRAME)
            enqueued = now()
            await countdown[0].event.wait()
            enqueue.append(enqueued - started)
            total.append(now() - started)
        runtime.stop()
    unfreeze()
    return enqueue, total, per_actor


def report(name: str, enqueue: list[float], total: list[float], per_actor: float) -> None:
    print(f"  {name}")
    print(f"    enqueue loop        {summary(enqueue)}")
    print(f"    last one handled    {summary(total)}")
    print(f"    memory per idle receiver  {per_actor / 1024:5.1f} KiB (tracemalloc)")


async def compare(actors: int, rounds: int, freeze: bool) -> None:
    gc_note = "GC frozen after setup" if freeze else "GC left alone"
    print(f"fan-out of one message to {actors:,} receivers, {rounds} rounds, asyncio, {gc_note}")
    b_enqueue, b_total, b_mem = await baseline(actors, rounds, freeze)
    r_enqueue, r_total, r_mem = await runtime_fanout(actors, rounds, freeze)
    report("asyncio.Queue + task per receiver (baseline)", b_enqueue, b_total, b_mem)
    report("runtime: device actors, never-drop tell", r_enqueue, r_total, r_mem)
    print(
        f"  median time to the last one: "
        f"{ratio(statistics.median(r_total), statistics.median(b_total))}"
    )


def main_trio(actors: int, rounds: int, freeze: bool) -> None:
    enqueue, total, per_actor = anyio.run(runtime_fanout, actors, rounds, freeze, backend="trio")
    report("runtime on trio (no bare-queue baseline there)", enqueue, total, per_actor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--actors", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-freeze", action="store_true", help="leave the GC alone")
    parser.add_argument("--trio", action="store_true", help="also run the runtime on trio")
    args = parser.parse_args(argv)
    asyncio.run(compare(args.actors, args.rounds, not args.no_freeze))
    if args.trio:
        main_trio(args.actors, args.rounds, not args.no_freeze)
    return 0


if __name__ == "__main__":
    sys.exit(main())
