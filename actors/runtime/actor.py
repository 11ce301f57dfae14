"""What an actor is: private state, typed handlers, and lifecycle hooks.

Subclass :class:`Actor`, keep state in instance attributes, and mark one ``async``
method per message type with :func:`handler`, stating the overflow policy that type
gets in this actor's mailbox::

    class Counter(Actor):
        def __init__(self) -> None:
            self.total = 0

        @handler(Overflow.BLOCK)
        async def add(self, msg: Add) -> None:
            self.total += msg.amount

        @handler(Overflow.BLOCK)
        async def read(self, msg: Read) -> int:   # the return value answers an ``ask``
            return self.total

The runtime delivers one message at a time, so handlers never race each other; an
``await`` inside a handler pauses this actor only. Message types are msgspec Structs
(frozen); the handler is found by the message's exact type, and a sender that tells an
actor a type it does not handle gets :class:`UnhandledMessage` at once.

An instance lives for one *incarnation*: every restart builds a fresh one through the
factory the actor was spawned with, then awaits :meth:`Actor.on_start`, which is where
state is (re)built from PostgreSQL. Nothing survives a crash but the mailbox.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from actors.runtime.errors import MailboxOverflow
from actors.runtime.mailbox import Overflow

if TYPE_CHECKING:
    from actors.runtime.ref import ActorRef

_MARK = "__actor_handler__"


class StopReason(enum.Enum):
    """Why an incarnation ended; given to :meth:`Actor.on_stop`."""

    #: ``ref.stop()`` (or ``self.ref.stop()``): a deliberate, final stop.
    REQUESTED = "requested"
    #: Idle past the kind's ``idle_after_s``: passivated, respawned on the next message.
    IDLE = "idle"
    #: A handler, hook or the watchdog failed it; the supervisor decides what comes next.
    CRASHED = "crashed"
    #: Its supervisor (or the whole runtime) is stopping.
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class Handler:
    """One entry of an actor class's dispatch table."""

    method: Callable[[Any, Any], Awaitable[Any]]
    overflow: Overflow
    #: For ``COALESCE``: computes the coalescing key from a message; ``None`` otherwise.
    key: Callable[[Any], Hashable] | None


def handler[F: Callable[..., Awaitable[Any]]](
    overflow: Overflow, *, key: Callable[[Any], Hashable] | None = None
) -> Callable[[F], F]:
    """Mark ``async def name(self, msg: T)`` as this actor's handler for ``T``.

    ``T`` comes from the annotation (a union registers each member). ``overflow`` is the
    policy ``T`` gets in this actor's mailbox. For :attr:`Overflow.COALESCE`, ``key``
    says which messages supersede each other (default: all messages of the type); any
    other policy refuses a ``key``.
    """
    if key is not None and overflow is not Overflow.COALESCE:
        raise ValueError("key= only applies to Overflow.COALESCE handlers")

    def mark(method: F) -> F:
        function: object = method
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"{method.__qualname__}: a handler must be an async def")
        setattr(method, _MARK, (overflow, key))
        return method

    return mark


def _message_types(method: Callable[..., Any]) -> tuple[type[msgspec.Struct], ...]:
    params = list(inspect.signature(method).parameters.values())
    if len(params) != 2:
        raise TypeError(f"{method.__qualname__}: a handler takes (self, message)")
    try:
        hints = typing.get_type_hints(method)
    except NameError as exc:
        raise TypeError(
            f"{method.__qualname__}: cannot resolve the message annotation ({exc}); "
            "define message types at module level"
        ) from None
    annotation = hints.get(params[1].name)
    if annotation is None:
        raise TypeError(f"{method.__qualname__}: annotate the message parameter")
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = typing.get_args(annotation) if is_union else (annotation,)
    for member in members:
        if not (isinstance(member, type) and issubclass(member, msgspec.Struct)):
            raise TypeError(f"{method.__qualname__}: {member!r} is not a msgspec Struct")
    return tuple(members)


def _coalesce_key(
    message_type: type, key: Callable[[Any], Hashable] | None
) -> Callable[[Any], Hashable]:
    if key is None:
        return lambda _message: message_type
    return lambda message: (message_type, key(message))


class Actor:
    """Base class of every actor (see the module docstring).

    The runtime sets :attr:`ref` before :meth:`on_start`; use it to stop yourself or to
    hand your address to others. Subclasses must not override ``__init_subclass__``
    without calling it.
    """

    #: This actor's own address, valid across restarts.
    ref: ActorRef
    #: The dispatch table built from the ``@handler`` methods (inherited and extended).
    __handlers__: ClassVar[Mapping[type, Handler]] = types.MappingProxyType({})
    #: The same table as a plain dict, for the runtime's hot path. Do not mutate.
    __dispatch__: ClassVar[dict[type, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type, Handler] = dict(cls.__handlers__)
        mine: set[type] = set()
        for name, attr in vars(cls).items():
            mark = getattr(attr, _MARK, None)
            if mark is None:
                continue
            overflow, key = mark
            for message_type in _message_types(attr):
                if message_type in mine:
                    raise TypeError(f"{cls.__qualname__}: two handlers for {message_type.__name__}")
                mine.add(message_type)
                coalesce = (
                    _coalesce_key(message_type, key) if overflow is Overflow.COALESCE else None
                )
                table[message_type] = Handler(getattr(cls, name), overflow, coalesce)
        cls.__dispatch__ = table
        cls.__handlers__ = types.MappingProxyType(table)

    async def on_start(self) -> None:
        """(Re)build state before the first message; runs at every (re)start.

        Raising here is a crash like any other (counted, backed off, restarted).
        """

    async def on_stop(self, reason: StopReason) -> None:
        """Release what :meth:`on_start` acquired. Runs once for every ``on_start`` that
        returned, whatever ended the incarnation; bounded by the runtime's stop timeout
        and shielded from cancellation. Errors are logged, never propagated."""

    def on_undelivered(self, message: msgspec.Struct) -> None:
        """A message this actor will not handle: still queued when it was stopped (the
        mailbox discards it), or told after that. An actor whose messages carry facts that
        must not be lost (a screen's acknowledgements) records them here. Synchronous,
        called from the stopping or sending task; errors are logged, never propagated.
        The default ignores the message."""

    async def on_overflow(self) -> None:
        """Called, before the next message, when a never-drop message had to go into the
        mailbox's reserve: this actor is falling behind its never-drop traffic.

        The default raises :class:`MailboxOverflow`, a crash: the supervisor restarts the
        actor, whose ``on_start`` catches up from PostgreSQL (queued messages are kept).
        A device actor overrides it to close its session instead, so the screen
        reconnects and catches up.
        """
        raise MailboxOverflow(f"{type(self).__name__} fell behind its never-drop messages")

    def summary(self) -> msgspec.Struct | Mapping[str, object] | None:
        """A small, JSON-encodable view of this actor's state for operators.

        Called from the inspecting task, between two of this actor's awaits: it may see
        a handler's intermediate state, and it must be cheap and never block.
        """
        return None
