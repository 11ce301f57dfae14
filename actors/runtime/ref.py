"""The address of an actor: how everyone else talks to it.

An :class:`ActorRef` stays valid across restarts (the mailbox outlives each incarnation)
and goes dead for good when the actor stops; sending to a dead ref raises
:class:`ActorStopped`. Refs are cheap to copy and compare by identity of the actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import msgspec

from actors.runtime.actor import StopReason
from actors.runtime.errors import ActorStopped, AskTimeout, UnhandledMessage
from actors.runtime.mailbox import Overflow

if TYPE_CHECKING:
    from actors.runtime.cell import ActorCell


class Reply:
    """A one-shot answer slot for one ``ask``."""

    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._value: object = None
        self._error: BaseException | None = None

    @property
    def settled(self) -> bool:
        return self._done.is_set()

    def resolve(self, value: object) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self) -> object:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class Ask:
    """A request travelling through a mailbox together with its reply slot."""

    __slots__ = ("message", "reply")

    def __init__(self, message: msgspec.Struct) -> None:
        self.message = message
        self.reply = Reply()


class ActorRef:
    """Send messages to one actor: :meth:`tell`, :meth:`send`, :meth:`ask`; or stop it."""

    # The mailbox and the dispatch table are held here too, so that ``tell`` -- the
    # fan-out path, 10,000 calls in a row -- touches as few objects as it can.
    __slots__ = ("_cell", "_handlers", "_mailbox")

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self._handlers = cell.handlers
        self._mailbox = cell.mailbox

    @property
    def kind(self) -> str:
        return self._cell.kind

    @property
    def id(self) -> str:
        return self._cell.id

    @property
    def alive(self) -> bool:
        """False once the actor stopped accepting messages (for good)."""
        return not self._cell.mailbox.closed

    def __repr__(self) -> str:
        return f"<ActorRef {self._cell.kind}/{self._cell.id}{'' if self.alive else ' dead'}>"

    def tell(self, message: msgspec.Struct) -> None:
        """Enqueue ``message`` and return at once: the hot path (no task, no await).

        What a full mailbox does depends on the policy the receiver declared for the
        message's type (see :mod:`actors.runtime.mailbox`).

        :raises UnhandledMessage: if the actor has no handler for ``type(message)``.
        :raises ActorStopped: if the actor has stopped (the message is handed to its
            :meth:`~actors.runtime.actor.Actor.on_undelivered`).
        :raises MailboxFull: for a block-policy message when the mailbox is full (use
            :meth:`send` to wait for room instead).
        :raises MailboxOverflow: for a never-drop message when the mailbox is full past
            its reserve; the actor is killed, the message is not delivered.
        """
        entry = self._handlers.get(type(message))
        if entry is None:
            raise UnhandledMessage(
                f"{self._cell.kind} actors do not handle {type(message).__name__}"
            )
        key = entry.key
        try:
            self._mailbox.put_nowait(message, entry.overflow, None if key is None else key(message))
        except ActorStopped:
            self._cell.undelivered(message)
            raise

    async def send(
        self,
        message: msgspec.Struct,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - bounded by default too
    ) -> None:
        """Like :meth:`tell`, but a block-policy message waits for room.

        ``timeout`` defaults to the runtime's ask timeout: no wait is unbounded.

        :raises MailboxFull: if there is still no room after ``timeout`` seconds.
        :raises ActorStopped, UnhandledMessage, MailboxOverflow: as :meth:`tell`.
        """
        cell = self._cell
        entry = cell.handlers.get(type(message))
        if entry is None:
            raise UnhandledMessage(f"{cell.kind} actors do not handle {type(message).__name__}")
        key = entry.key
        mailbox = cell.mailbox
        try:
            if entry.overflow is not Overflow.BLOCK or mailbox.has_room:  # the common case
                mailbox.put_nowait(message, entry.overflow, None if key is None else key(message))
                return
            await mailbox.put(
                message,
                entry.overflow,
                None,
                timeout=cell.ask_timeout_s if timeout is None else timeout,
            )
        except ActorStopped:
            cell.undelivered(message)
            raise

    async def ask[R](
        self,
        message: msgspec.Struct,
        *,
        reply: type[R],
        timeout: float | None = None,  # noqa: ASYNC109 - bounded by default too
    ) -> R:
        """Send ``message`` and wait for the handler's return value, which must be an
        instance of ``reply``.

        The request takes its place in the mailbox like any message, under its type's
        policy (a block-policy request waits for room within the same ``timeout``).

        :raises AskTimeout: if no reply within ``timeout`` seconds (the runtime's ask
            timeout by default); the request may still be handled later.
        :raises ActorStopped: if the actor is stopped, or stops before handling it.
        :raises ActorCrashed: if the handler raised (``__cause__`` is the error).
        :raises MailboxFull: if the request was dropped by its overflow policy.
        :raises UnhandledMessage: if the actor has no handler for ``type(message)``.
        """
        cell = self._cell
        entry = cell.handlers.get(type(message))
        if entry is None:
            raise UnhandledMessage(f"{cell.kind} actors do not handle {type(message).__name__}")
        limit = cell.ask_timeout_s if timeout is None else timeout
        request = Ask(message)
        key = entry.key
        try:
            with anyio.fail_after(limit):
                if entry.overflow is Overflow.BLOCK:
                    await cell.mailbox.put(request, entry.overflow, None, timeout=None)
                else:
                    cell.mailbox.put_nowait(
                        request, entry.overflow, None if key is None else key(message)
                    )
                value = await request.reply.wait()
        except TimeoutError:
            raise AskTimeout(
                f"{cell.kind}/{cell.id} did not answer {type(message).__name__} in {limit}s"
            ) from None
        if not isinstance(value, reply):
            raise TypeError(
                f"{cell.kind}/{cell.id} answered {type(message).__name__} with "
                f"{type(value).__name__}, expected {reply.__name__}"
            )
        return value

    def stop(self, reason: StopReason = StopReason.REQUESTED) -> None:
        """Ask the actor to stop for good: it finishes its current message, then runs
        ``on_stop(reason)``. Queued messages are discarded (pending asks fail with
        :class:`ActorStopped`). Returns at once; idempotent."""
        self._cell.stop(reason)

    async def join(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - bounded
        """Wait until the actor has fully stopped (``on_stop`` included).

        :raises TimeoutError: if it has not within ``timeout`` seconds (the runtime's
            stop timeout plus its ask timeout by default).
        """
        cell = self._cell
        limit = cell.stop_timeout_s + cell.ask_timeout_s if timeout is None else timeout
        with anyio.fail_after(limit):
            await cell.stopped.wait()
