"""A bounded FIFO with one consumer and an overflow policy per message.

Every actor reads its messages from a :class:`Mailbox`; a device session can use one as
its outbound frame queue too. Order is FIFO: what the consumer receives from one sender
is always a subsequence, in order, of what that sender put (drops remove, never reorder).

The policy travels with each message (an actor declares it per message type):

=============== ========================================================================
``BLOCK``        Backpressure. ``await put()`` waits (bounded) for room, in arrival
                 order; ``put_nowait()`` raises :class:`MailboxFull` instead of waiting.
``DROP_OLDEST``  Never waits. A full mailbox evicts its oldest ``DROP_OLDEST`` entry;
                 with none queued, the newcomer itself is dropped. Counted either way.
``COALESCE``     Only the newest of a key matters (manifest versions): a newer message
                 removes the pending one of its key and joins the tail. On a full
                 mailbox it is treated like ``NEVER_DROP``: the latest state is never lost.
``NEVER_DROP``   Never lost, never waits (emergencies). A full mailbox first evicts its
                 oldest ``DROP_OLDEST`` entry; with none, the message goes into a reserve
                 past the capacity and the mailbox marks itself :attr:`overflowed` so the
                 owner can shed load (a device session disconnects, and the screen catches
                 up from PostgreSQL on reconnect). When the reserve too is full the owner
                 is stuck: ``on_stuck`` fires (the runtime kills the actor) and the put
                 raises :class:`MailboxOverflow`, so the sender knows it did not get in.
=============== ========================================================================

Costs: a put that finds room is a deque append of one tuple and, if the consumer is
idle, waking it (see :mod:`actors.runtime.parking`); nothing else is allocated and no task
is created. Evictions
and coalescing scan the queue (O(capacity)) and only happen on those paths.

Not thread-safe: use from tasks of one event loop.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Hashable
from typing import Literal

import anyio

from actors.runtime.errors import ActorStopped, MailboxFull, MailboxOverflow
from actors.runtime.parking import Parker, parker


class Overflow(enum.Enum):
    """What happens to a message that meets a full mailbox (see the module docstring)."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    COALESCE = "coalesce"
    NEVER_DROP = "never_drop"


#: Why a message left the mailbox without being received.
DropReason = Literal["overflow", "superseded", "stopped"]

_BLOCK = Overflow.BLOCK
_DROP_OLDEST = Overflow.DROP_OLDEST
_COALESCE = Overflow.COALESCE


class _Waiter:
    """A sender waiting for room; ``woken`` spares the consumer from setting its event
    once per message taken while the sender has not run yet."""

    __slots__ = ("event", "woken")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.woken = False


class Mailbox[T]:
    """A bounded mailbox; see the module docstring for the policies.

    :param capacity: entries accepted before a policy applies (>= 1).
    :param reserve: extra room for ``NEVER_DROP``/``COALESCE`` messages past ``capacity``.
    :param on_discard: told of every message dropped, superseded or discarded at close
        (the runtime fails a dropped request's ``ask`` through it).
    :param on_stuck: called once per overflow of the reserve (the runtime kills the actor).
    """

    __slots__ = (
        "_capacity",
        "_closed",
        "_coalesced",
        "_consumer_parked",
        "_droppable",
        "_limit",
        "_on_discard",
        "_on_stuck",
        "_parker",
        "_putters",
        "_queue",
        "dropped",
        "high_water",
        "overflowed",
        "overflows",
    )

    def __init__(
        self,
        capacity: int,
        reserve: int = 0,
        *,
        on_discard: Callable[[T, DropReason], None] | None = None,
        on_stuck: Callable[[], None] | None = None,
    ) -> None:
        if capacity < 1 or reserve < 0:
            raise ValueError("a mailbox needs capacity >= 1 and reserve >= 0")
        self._capacity = capacity
        self._limit = capacity + reserve
        self._queue: deque[tuple[T, Overflow, Hashable]] = deque()
        #: Where the consumer waits when the queue is empty (made at its first wait: it
        #: needs the running event loop).
        self._parker: Parker | None = None
        self._consumer_parked = False
        #: Senders waiting for room, oldest first; made by the first one (most mailboxes
        #: never see one, and an empty deque costs ~700 bytes -- times 10,000 actors).
        self._putters: deque[_Waiter] | None = None
        self._coalesced: dict[Hashable, tuple[T, Overflow, Hashable]] = {}
        self._droppable = 0
        self._closed = False
        self._on_discard = on_discard
        self._on_stuck = on_stuck
        #: Messages dropped, superseded or discarded at close, since creation.
        self.dropped = 0
        #: Never-drop messages that had to use the reserve, since creation.
        self.overflows = 0
        #: The deepest the queue has been.
        self.high_water = 0
        #: Set when a message went into the reserve; the consumer clears it once handled.
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def has_room(self) -> bool:
        """A ``BLOCK`` message put now would not wait (nobody waits, and there is room)."""
        return not self._putters and len(self._queue) < self._capacity

    # -- producer side ---------------------------------------------------------------

    def put_nowait(self, item: T, policy: Overflow, key: Hashable = None) -> None:
        """Enqueue ``item`` under ``policy`` without waiting.

        ``key`` names what a ``COALESCE`` message supersedes (ignored otherwise).

        :raises ActorStopped: if the mailbox is closed.
        :raises MailboxFull: for a ``BLOCK`` message when the mailbox is full.
        :raises MailboxOverflow: for a ``NEVER_DROP``/``COALESCE`` message when even the
            reserve is full (``on_stuck`` has been called).
        """
        if self._closed:
            raise ActorStopped("the mailbox is closed")
        if item is None:
            raise TypeError("a mailbox cannot carry None")
        queue = self._queue
        depth = len(queue)
        if policy is _COALESCE or depth >= self._capacity:
            self._put_slow(item, policy, key)
            return
        if policy is _DROP_OLDEST:
            self._droppable += 1
        queue.append((item, policy, key))
        if depth >= self.high_water:
            self.high_water = depth + 1
        if self._consumer_parked:
            self._consumer_parked = False
            self._parker.unpark()  # type: ignore[union-attr] # parked implies a parker

    async def put(
        self,
        item: T,
        policy: Overflow,
        key: Hashable = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - callers bound every wait
    ) -> None:
        """Enqueue ``item``; a ``BLOCK`` message waits for room, in arrival order.

        Returns without yielding when there is room (like ``asyncio.Queue.put``), so a
        producer that never fills the mailbox never gives up the event loop here.

        :raises ActorStopped: if the mailbox is or gets closed.
        :raises MailboxFull: if still no room after ``timeout`` seconds.
        :raises MailboxOverflow: as :meth:`put_nowait`, for the other policies.
        """
        if policy is not _BLOCK or self.has_room:
            self.put_nowait(item, policy, key)
            return
        waiter = _Waiter()
        putters = self._putters
        if putters is None:
            putters = self._putters = deque()
        putters.append(waiter)
        try:
            with anyio.fail_after(timeout):
                while putters[0] is not waiter or len(self._queue) >= self._capacity:
                    if self._closed:
                        raise ActorStopped("the mailbox is closed")
                    await waiter.event.wait()
                    waiter.event, waiter.woken = anyio.Event(), False
            self.put_nowait(item, policy, key)
        except TimeoutError:
            raise MailboxFull(f"still full after {timeout}s") from None
        finally:
            putters.remove(waiter)
            self._wake_putter()

    def _put_slow(self, item: T, policy: Overflow, key: Hashable) -> None:
        queue = self._queue
        if policy is _COALESCE:
            pending = self._coalesced.pop(key, None)
            if pending is not None:
                self._remove(pending)
                self._discard(pending[0], "superseded")
        if len(queue) >= self._capacity:
            if policy is _BLOCK:
                raise MailboxFull(f"the mailbox is full ({self._capacity})")
            if policy is _DROP_OLDEST:
                if not self._droppable:
                    self._discard(item, "overflow")
                    return
                self._evict_oldest_droppable()
            elif self._droppable:
                self._evict_oldest_droppable()
            elif len(queue) >= self._limit:
                if self._on_stuck is not None:
                    self._on_stuck()
                raise MailboxOverflow(
                    f"the mailbox is full past its reserve ({len(queue)} messages)"
                )
            else:
                self.overflows += 1
                self.overflowed = True
        entry = (item, policy, key)
        if policy is _DROP_OLDEST:
            self._droppable += 1
        elif policy is _COALESCE:
            self._coalesced[key] = entry
        queue.append(entry)
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        if self._consumer_parked:
            self._consumer_parked = False
            self._parker.unpark()  # type: ignore[union-attr] # parked implies a parker

    def _evict_oldest_droppable(self) -> None:
        for index, entry in enumerate(self._queue):
            if entry[1] is _DROP_OLDEST:
                del self._queue[index]
                self._droppable -= 1
                self._discard(entry[0], "overflow")
                return
        raise AssertionError("droppable count out of step with the queue")  # pragma: no cover

    def _remove(self, entry: tuple[T, Overflow, Hashable]) -> None:
        for index, queued in enumerate(self._queue):
            if queued is entry:
                del self._queue[index]
                return
        raise AssertionError("coalesced entry missing from the queue")  # pragma: no cover

    def _discard(self, item: T, reason: DropReason) -> None:
        self.dropped += 1
        if self._on_discard is not None:
            self._on_discard(item, reason)

    def _wake_putter(self) -> None:
        if self._putters and (self._closed or len(self._queue) < self._capacity):
            first = self._putters[0]
            if not first.woken:
                first.woken = True
                first.event.set()

    # -- consumer side ---------------------------------------------------------------

    def get_nowait(self) -> T:
        """The oldest message.

        :raises anyio.WouldBlock: if the mailbox is empty.
        """
        item = self.poll()
        if item is None:
            raise anyio.WouldBlock
        return item

    def poll(self) -> T | None:
        """The oldest message, or ``None`` if the mailbox is empty (the consumer's hot
        path: no exception, one call). A mailbox never carries ``None`` itself."""
        if not self._queue:
            return None
        item, policy, key = self._queue.popleft()
        if policy is _DROP_OLDEST:
            self._droppable -= 1
        elif policy is _COALESCE:
            del self._coalesced[key]
        putters = self._putters
        if putters and not putters[0].woken:
            self._wake_putter()
        return item

    async def get(self, timeout: float | None = None) -> T:  # noqa: ASYNC109 - idle timeout
        """The oldest message, waiting for one if need be.

        Returns without yielding when a message is queued. Only one task may wait at a
        time: a mailbox has one consumer.

        :raises anyio.EndOfStream: if the mailbox is closed (nothing is left in it then).
        :raises TimeoutError: if nothing arrived within ``timeout`` seconds.
        :raises anyio.BusyResourceError: if another task is already waiting.
        """
        if not self._queue:
            if self._consumer_parked:
                raise anyio.BusyResourceError("receiving from")
            if timeout is None:  # no cancel scope: this wait is on every idle actor's path
                await self._wait_for_item()
            else:
                with anyio.fail_after(timeout):
                    await self._wait_for_item()
        return self.get_nowait()

    async def _wait_for_item(self) -> None:
        waiting = self._parker
        if waiting is None:
            waiting = self._parker = parker()
        while not self._queue:
            if self._closed:
                raise anyio.EndOfStream
            self._consumer_parked = True
            try:
                await waiting.park()
            finally:
                self._consumer_parked = False

    def close(self) -> list[T]:
        """Refuse new messages, wake every waiter, and discard what is queued.

        Returns the discarded messages (already reported to ``on_discard`` with reason
        ``"stopped"``). Closing twice is harmless.
        """
        if self._closed:
            return []
        self._closed = True
        discarded = [entry[0] for entry in self._queue]
        self._queue.clear()
        self._coalesced.clear()
        self._droppable = 0
        for item in discarded:
            self._discard(item, "stopped")
        if self._consumer_parked:
            self._consumer_parked = False
            self._parker.unpark()  # type: ignore[union-attr] # parked implies a parker
        for waiter in self._putters or ():
            waiter.event.set()
        return discarded

    def clear_overflow(self) -> bool:
        """Return whether the mailbox overflowed since the last call, and reset the flag."""
        overflowed, self.overflowed = self.overflowed, False
        return overflowed
