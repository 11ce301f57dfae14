"""The machinery behind one actor: its mailbox, its incarnations, its counters.

A cell lives from ``spawn`` until the actor stops for good; each restart runs a new
*incarnation* (a fresh instance from the factory) over the same mailbox, so senders never
notice a restart. The cell never decides whether to restart: it runs one incarnation and
reports how it ended; its :class:`~actors.runtime.supervisor.Supervisor` decides.

Internal to the runtime: everyone else holds an :class:`~actors.runtime.ref.ActorRef`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.lowlevel
import msgspec

from actors.runtime.actor import Actor, Handler, StopReason
from actors.runtime.errors import ActorCrashed, ActorKilled, ActorStopped, MailboxFull
from actors.runtime.mailbox import DropReason, Mailbox
from actors.runtime.parking import LazyEvent
from actors.runtime.ref import ActorRef, Ask
from actors.runtime.snapshot import ActorSnapshot, Status

if TYPE_CHECKING:
    from actors.runtime.instruments import RuntimeMetrics
    from actors.runtime.supervisor import RestartPolicy

log = logging.getLogger("actors.runtime")

#: The longest an actor handles queued messages back to back before it yields to the
#: event loop once, so a deep mailbox cannot starve the node's other tasks (10,000 device
#: actors share one loop). A time, not a count: cheap messages drain a burst in one turn,
#: like a bare queue consumer; costly ones yield often.
TIME_SLICE_S = 0.002

Message = msgspec.Struct | Ask
KillCause = Literal["stuck", "overflow"]
_KILL_CAUSES: dict[KillCause, str] = {
    "stuck": "a handler ran past the stuck limit",
    "overflow": "its mailbox is full past the reserve",
}


def wall_clock(monotonic_at: float | None) -> datetime | None:
    """The wall-clock time of a ``time.monotonic()`` reading (for snapshots only)."""
    if monotonic_at is None:
        return None
    return datetime.fromtimestamp(time.time() - (time.monotonic() - monotonic_at), UTC)


class ActorCell:
    """One actor's mailbox and lifecycle (see the module docstring)."""

    __slots__ = (
        "_actor_type",
        "_factory",
        "_idle_after_s",
        "_kill_cause",
        "_latest",
        "_metrics",
        "_next",
        "_on_closed",
        "_scope",
        "_stopping",
        "actor",
        "ask_timeout_s",
        "busy_since",
        "crash_times",
        "crashes",
        "handlers",
        "id",
        "kind",
        "last_message",
        "mailbox",
        "path",
        "policy",
        "processed",
        "ref",
        "restarts",
        "started_at",
        "status",
        "stop_requested",
        "stop_timeout_s",
        "stopped",
        "supervisor",
    )

    def __init__(
        self,
        *,
        kind: str,
        id: str,
        factory: Callable[[], Actor],
        supervisor: str,
        policy: RestartPolicy,
        metrics: RuntimeMetrics,
        capacity: int,
        reserve: int,
        ask_timeout_s: float,
        stop_timeout_s: float,
        idle_after_s: float | None,
        on_closed: Callable[[ActorCell], None],
    ) -> None:
        first = factory()  # built now: a broken factory fails the spawn, not a task
        if not isinstance(first, Actor):
            raise TypeError(f"the factory for {kind}/{id} built {type(first).__name__}")
        self.kind = kind
        self.id = id
        self.supervisor = supervisor
        self.path = f"{supervisor}/{kind}:{id}"
        self.policy = policy
        # The class's plain dict, shared by every actor of the class: looked up on every
        # tell (a mappingproxy forwards, slower; a copy per actor costs memory and cache).
        self.handlers: dict[type, Handler] = type(first).__dispatch__
        self.ask_timeout_s = ask_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._actor_type = type(first)
        self._factory = factory
        self._next: Actor | None = first
        #: The latest incarnation built: told of the messages it will not handle.
        self._latest: Actor = first
        self._idle_after_s = idle_after_s
        self._metrics = metrics
        self._on_closed = on_closed
        self.mailbox: Mailbox[Message] = Mailbox(
            capacity, reserve, on_discard=self._discarded, on_stuck=self._stuck
        )
        self.ref = ActorRef(self)
        self.actor: Actor | None = None
        self.status: Status = "starting"
        self.started_at = time.time()
        self.restarts = 0
        self.crashes = 0
        self.processed = 0
        self.last_message: float | None = None
        self.busy_since: float | None = None
        #: Monotonic times of recent crashes, for the supervisor's restart budget.
        self.crash_times: deque[float] | None = None
        self.stopped = LazyEvent()
        self.stop_requested = LazyEvent()
        self._stopping: StopReason | None = None
        self._kill_cause: KillCause | None = None
        self._scope: anyio.CancelScope | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping is not None

    # -- requests from other tasks (synchronous, never block) ---------------------------

    def stop(self, reason: StopReason = StopReason.REQUESTED) -> None:
        """Close the mailbox, forget the name, and give the incarnation ``stop_timeout_s``
        to finish its message and ``on_stop`` before it is cancelled. Idempotent."""
        if self._stopping is not None:
            return
        self._stopping = reason
        self.status = "stopping"
        self.mailbox.close()
        self._on_closed(self)
        self.stop_requested.set()
        scope = self._scope
        if scope is not None:
            scope.deadline = min(scope.deadline, anyio.current_time() + self.stop_timeout_s)

    def kill(self, cause: KillCause) -> None:
        """Cancel the running incarnation now; it ends as a crash (:class:`ActorKilled`)."""
        scope = self._scope
        if scope is None or self._kill_cause is not None:
            return
        self._kill_cause = cause
        self._metrics.kills.inc(kind=self.kind, cause=cause)
        log.error("actor %s: killed (%s)", self.path, _KILL_CAUSES[cause])
        scope.cancel()

    def _stuck(self) -> None:
        self.kill("overflow")

    def _discarded(self, item: Message, reason: DropReason) -> None:
        self._metrics.dropped.inc(kind=self.kind, reason=reason)
        if isinstance(item, Ask):
            if reason == "stopped":
                item.reply.fail(ActorStopped(f"{self.path} stopped before answering"))
            else:
                item.reply.fail(MailboxFull(f"{self.path} dropped the request ({reason})"))
        elif reason == "stopped":
            self.undelivered(item)

    def undelivered(self, message: msgspec.Struct) -> None:
        """``message`` will not be handled (the actor stopped): its ``on_undelivered``."""
        try:
            self._latest.on_undelivered(message)
        except Exception:
            log.exception("actor %s: on_undelivered(%s) failed", self.path, type(message).__name__)

    # -- the incarnation (runs in the supervisor's task for this child) ----------------

    async def run_once(self) -> None:
        """Run one incarnation to its end.

        Returns when the actor stopped as asked (or was passivated); raises what crashed
        it otherwise (a killed incarnation raises :class:`ActorKilled`). Outside
        cancellation propagates after ``on_stop`` ran (shielded, bounded).
        """
        actor = self._next if self._next is not None else self._factory()
        self._next = None
        self._latest = actor
        if type(actor) is not self._actor_type:
            raise TypeError(f"{self.path}: the factory built {type(actor).__name__}")
        actor.ref = self.ref
        self.actor = actor
        self._kill_cause = None
        self.status = "stopping" if self._stopping else "starting"
        scope = self._scope = anyio.CancelScope()
        if self._stopping is not None:
            scope.deadline = anyio.current_time() + self.stop_timeout_s
        started = False
        error: Exception | None = None
        reason = StopReason.SHUTDOWN  # if cancelled from outside
        try:
            with scope:
                try:
                    self.busy_since = time.monotonic()
                    await actor.on_start()
                    self.busy_since = None
                    started = True
                    if self._stopping is None:
                        self.status = "running"
                    reason = await self._loop(actor)
                except Exception as exc:
                    error = exc
            if scope.cancelled_caught and error is None:
                if self._kill_cause is not None:
                    error = ActorKilled(self.path, self._kill_cause)
                else:  # the stop deadline passed
                    log.warning("actor %s: did not stop within %ss", self.path, self.stop_timeout_s)
                    reason = self._stopping or StopReason.SHUTDOWN
            if error is not None:
                reason = StopReason.CRASHED
        finally:
            self._scope = None
            self.busy_since = None
            if started:
                await self._call_on_stop(actor, reason)
            self.actor = None
        if error is not None:
            raise error

    async def _call_on_stop(self, actor: Actor, reason: StopReason) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.stop_timeout_s) as late:
            try:
                await actor.on_stop(reason)
            except Exception:
                log.exception("actor %s: on_stop(%s) failed", self.path, reason.value)
        if late.cancelled_caught:
            log.warning("actor %s: on_stop exceeded %ss", self.path, self.stop_timeout_s)

    async def _loop(self, actor: Actor) -> StopReason:
        mailbox = self.mailbox
        poll = mailbox.poll
        handlers = self.handlers
        clock = time.monotonic
        idle_after = self._idle_after_s
        slice_ends = clock() + TIME_SLICE_S
        while True:
            if mailbox.overflowed:
                mailbox.overflowed = False
                self._metrics.overflows.inc(kind=self.kind)
                await actor.on_overflow()
            message = poll()
            if message is None:
                try:
                    message = await mailbox.get(idle_after)
                except anyio.EndOfStream:
                    return self._stopping or StopReason.REQUESTED
                except TimeoutError:
                    if mailbox:
                        continue
                    self.stop(StopReason.IDLE)  # empty and unnamed at once: no message lost
                    return StopReason.IDLE
                slice_ends = clock() + TIME_SLICE_S
            now = clock()
            self.busy_since = self.last_message = now
            if type(message) is Ask:
                await self._answer(actor, message)
            else:
                await handlers[type(message)].method(actor, message)
            self.busy_since = None
            self.processed += 1
            if now > slice_ends:  # yield once, between two messages: none is held meanwhile
                await anyio.lowlevel.checkpoint()
                slice_ends = clock() + TIME_SLICE_S

    async def _answer(self, actor: Actor, request: Ask) -> None:
        handle = self.handlers[type(request.message)]
        try:
            value = await handle.method(actor, request.message)
        except Exception as exc:
            crashed = ActorCrashed(f"{self.path} crashed handling {type(request.message).__name__}")
            crashed.__cause__ = exc
            request.reply.fail(crashed)
            raise
        except BaseException:
            request.reply.fail(ActorStopped(f"{self.path} was stopped while handling it"))
            raise
        request.reply.resolve(value)

    # -- bookkeeping for the supervisor ----------------------------------------------------

    def crashed(self) -> None:
        self.crashes += 1
        self._metrics.crashes.inc(kind=self.kind)

    def restarting(self) -> None:
        self.restarts += 1
        self.status = "restarting"
        self._metrics.restarts.inc(kind=self.kind)

    def finish(self) -> None:
        """The supervisor is done with this child: close everything, wake joiners."""
        self.stop(self._stopping or StopReason.CRASHED)
        self.status = "stopped"
        self.stopped.set()

    def snapshot(self, *, detail: bool = False) -> ActorSnapshot:
        state = None
        if detail and self.actor is not None:
            try:
                state = self.actor.summary()
            except Exception:  # an inspection must not fail because of one actor
                log.exception("actor %s: summary() failed", self.path)
        mailbox = self.mailbox
        return ActorSnapshot(
            kind=self.kind,
            id=self.id,
            mailbox=len(mailbox),
            restarts=self.restarts,
            last_message_at=wall_clock(self.last_message),
            status=self.status,
            supervisor=self.supervisor,
            capacity=mailbox.capacity,
            high_water=mailbox.high_water,
            processed=self.processed,
            crashes=self.crashes,
            dropped=mailbox.dropped,
            overflows=mailbox.overflows,
            started_at=datetime.fromtimestamp(self.started_at, UTC),
            busy_since=wall_clock(self.busy_since),
            state=state,
        )
