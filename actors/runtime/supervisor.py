"""Supervision, Erlang/OTP style: restart crashed children, give up, escalate.

A :class:`Supervisor` owns one anyio task group and runs each child (an actor, or another
supervisor) in a task of it; that task is the child's owner. The strategy is
**one-for-one**: a crash restarts only the child that crashed. What happens after a crash
is data, a :class:`RestartPolicy` per child:

- ``restart="transient"``: restart after a crash (never after a requested stop);
  ``"temporary"``: never restart (the child is stopped and its ref goes dead).
- Restarts wait an exponential backoff (``backoff_initial_s``, doubling per crash within
  the window, capped at ``backoff_max_s``, plus up to ``jitter`` of random spread so
  10,000 siblings do not restart in lockstep). The mailbox keeps filling meanwhile.
- More than ``max_restarts`` crashes within ``within_s`` seconds exhausts the budget:
  ``on_give_up="stop"`` stops that child for good (a flapping device session must not
  take its siblings down); ``"escalate"`` makes this supervisor fail in turn: it stops
  all its children and raises :class:`Escalation` to its own supervisor, which applies
  *its* policy for it. An escalation out of the root supervisor fails the runtime.

A *permanent* restart type (restart even after a normal exit) is not offered: an actor
only ends normally when someone asked it to.

Stopping a supervisor stops its children (each gets the stop timeout to finish its
message and ``on_stop``) and returns when the last has finished: no task outlives it.
A watchdog per supervisor kills a child whose handler (or ``on_start``) has been running
longer than ``stuck_after_s``; that counts as a crash.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from typing import Literal, Protocol

import anyio
import anyio.abc
import msgspec

from actors.runtime.actor import StopReason
from actors.runtime.errors import ActorStopped, Escalation
from actors.runtime.instruments import RuntimeMetrics
from actors.runtime.parking import LazyEvent
from actors.runtime.snapshot import Status, SupervisorSnapshot

log = logging.getLogger("actors.runtime")


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a supervisor treats one child's crashes (see the module docstring)."""

    restart: Literal["transient", "temporary"] = "transient"
    max_restarts: int = 5
    within_s: float = 60.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 10.0
    jitter: float = 0.1
    on_give_up: Literal["escalate", "stop"] = "escalate"

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.within_s <= 0:
            raise ValueError("RestartPolicy: need max_restarts >= 0 and within_s > 0")
        if not 0 <= self.backoff_initial_s <= self.backoff_max_s or not 0 <= self.jitter <= 1:
            raise ValueError("RestartPolicy: need 0 <= backoff_initial_s <= backoff_max_s")

    def backoff(self, recent_crashes: int) -> float:
        """Seconds to wait before the restart that follows the ``recent_crashes``-th
        crash within the window (1 for the first)."""
        base = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** max(0, recent_crashes - 1))
        return base * (1 + self.jitter * random.random())  # noqa: S311 - spread, not secrecy


class Child(Protocol):
    """What a supervisor needs of a child: an actor cell or another supervisor."""

    kind: str
    path: str
    policy: RestartPolicy
    crash_times: deque[float] | None
    stop_requested: LazyEvent
    busy_since: float | None

    @property
    def stopping(self) -> bool: ...

    async def run_once(self) -> None: ...

    def stop(self, reason: StopReason = ...) -> None: ...

    def kill(self, cause: Literal["stuck", "overflow"]) -> None: ...

    def crashed(self) -> None: ...

    def restarting(self) -> None: ...

    def finish(self) -> None: ...


class Supervisor:
    """A one-for-one supervisor; can itself be the child of another (see module doc)."""

    kind = "supervisor"

    def __init__(
        self,
        name: str,
        *,
        parent: Supervisor | None,
        policy: RestartPolicy,
        metrics: RuntimeMetrics,
        stuck_after_s: float | None,
        watchdog_interval_s: float,
    ) -> None:
        self.name = name
        self.path: str = name if parent is None else f"{parent.path}/{name}"
        self.policy = policy
        self.crash_times: deque[float] | None = None
        self.crashes = 0
        self.restarts = 0
        self.status: Status = "starting"
        self.stop_requested = LazyEvent()
        self.stopped = LazyEvent()
        #: Supervisors are never "busy": the watchdog only judges actors.
        self.busy_since: float | None = None
        self._metrics = metrics
        self._stuck_after_s = stuck_after_s
        self._watchdog_interval_s = watchdog_interval_s
        self._stopping: StopReason | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._wake: anyio.Event | None = None
        self._failure: Escalation | None = None
        self._children: set[Child] = set()
        self._pending: list[Child] = []

    @property
    def stopping(self) -> bool:
        return self._stopping is not None

    def __len__(self) -> int:
        return len(self._children) + len(self._pending)

    def start_child(self, child: Child) -> None:
        """Supervise ``child`` from now on. While this supervisor is between two
        incarnations (backing off after a crash), the child waits and starts with the
        next one; its mailbox already accepts messages.

        :raises ActorStopped: if this supervisor is stopping for good.
        """
        if self._stopping is not None:
            raise ActorStopped(f"supervisor {self.path} is stopping")
        if self._task_group is None:
            self._pending.append(child)
        else:
            self._launch(child)

    def _launch(self, child: Child) -> None:
        assert self._task_group is not None
        self._children.add(child)
        self._task_group.start_soon(self._supervise, child, name=f"actor {child.path}")

    def stop(self, reason: StopReason = StopReason.SHUTDOWN) -> None:
        """Stop every child, then this supervisor, for good. Returns at once; idempotent."""
        if self._stopping is not None:
            return
        self._stopping = reason
        self.status = "stopping"
        self.stop_requested.set()
        if self._wake is not None:
            self._wake.set()

    def kill(self, cause: Literal["stuck", "overflow"]) -> None:  # pragma: no cover - protocol
        """Supervisors are never killed by a watchdog (see :attr:`busy_since`)."""

    async def run_once(self) -> None:
        """Run until stopped (returns) or until a child escalates (raises
        :class:`Escalation` once every child has stopped)."""
        wake = self._wake = anyio.Event()
        self._failure = None
        if self._stopping is not None:
            wake.set()
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                if self._stopping is None:
                    self.status = "running"
                pending, self._pending = self._pending, []
                for child in pending:
                    if child.stopping:  # stopped while it waited: never started
                        child.finish()
                    else:
                        self._launch(child)
                task_group.start_soon(self._watchdog, wake, name=f"watchdog {self.path}")
                await wake.wait()  # the supervisor's lifetime: until stop() or a failure
                self._task_group = None
                self.status = "stopping"
                for child in list(self._children):
                    child.stop(StopReason.SHUTDOWN)
        finally:
            self._task_group = None
            self._wake = None
        if self._failure is not None:
            raise self._failure

    async def _supervise(self, child: Child) -> None:
        try:
            while True:
                try:
                    await child.run_once()
                    return
                except Exception as exc:
                    if not await self._after_crash(child, exc):
                        return
        finally:
            self._children.discard(child)
            child.finish()

    async def _after_crash(self, child: Child, error: Exception) -> bool:
        """Account for a crash; wait out the backoff. True: restart the child now."""
        child.crashed()
        policy = child.policy
        now = time.monotonic()
        window = child.crash_times
        if window is None:
            window = child.crash_times = deque()
        window.append(now)
        while now - window[0] > policy.within_s:
            window.popleft()
        if child.stopping or self._stopping is not None:
            log.warning("%s crashed while stopping: %r", child.path, error)
            return False
        if policy.restart == "temporary":
            log.error("%s crashed (temporary: not restarted)", child.path, exc_info=error)
            return False
        if len(window) > policy.max_restarts:
            self._metrics.give_ups.inc(kind=child.kind)
            detail = f"{len(window)} crashes within {policy.within_s:g}s"
            if policy.on_give_up == "stop":
                log.error("%s gave up after %s; stopped", child.path, detail, exc_info=error)
                return False
            log.critical("%s gave up after %s; escalating", child.path, detail, exc_info=error)
            escalation = Escalation(child.path, detail)
            escalation.__cause__ = error
            self._fail(escalation)
            return False
        delay = policy.backoff(len(window))
        log.error(
            "%s crashed (%d within %gs); restarting in %.3fs",
            child.path,
            len(window),
            policy.within_s,
            delay,
            exc_info=error,
            extra={"actor": child.path},
        )
        child.restarting()
        with anyio.move_on_after(delay):
            await child.stop_requested.wait()
        return not child.stopping

    def _fail(self, escalation: Escalation) -> None:
        if self._failure is None:
            self._failure = escalation
        if self._wake is not None:
            self._wake.set()

    async def _watchdog(self, wake: anyio.Event) -> None:
        limit = self._stuck_after_s
        while not wake.is_set():
            with anyio.move_on_after(self._watchdog_interval_s):
                await wake.wait()
            if limit is None:
                continue
            now = time.monotonic()
            for child in list(self._children):
                since = child.busy_since
                if since is not None and now - since > limit:
                    log.error("%s: busy for %.1fs (limit %gs)", child.path, now - since, limit)
                    child.kill("stuck")

    # -- as a child of another supervisor ------------------------------------------------

    def crashed(self) -> None:
        self.crashes += 1
        self._metrics.crashes.inc(kind=self.kind)

    def restarting(self) -> None:
        self.restarts += 1
        self.status = "restarting"
        self._metrics.restarts.inc(kind=self.kind)

    def finish(self) -> None:
        self.stop(self._stopping or StopReason.CRASHED)
        for child in self._pending:
            child.finish()
        self._pending.clear()
        self.status = "stopped"
        self.stopped.set()

    def snapshot(self) -> SupervisorSnapshot:
        return SupervisorSnapshot(
            path=self.path,
            status=self.status,
            children=len(self),
            restarts=self.restarts,
            crashes=self.crashes,
        )
