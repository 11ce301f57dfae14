"""The runtime of one node: a root supervisor, the registry, and the services they need.

:meth:`Runtime.run` owns one anyio task group for everything: it starts the services
(the relay) first, then the root supervisor, reports *started*, and runs until
:meth:`Runtime.stop`; then it stops the actors (each within the stop timeout), then the
services in reverse order, and returns. Nothing it started outlives it::

    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        ...
        runtime.stop()

If a child escalates out of the root supervisor the runtime *fails*: it stops
everything the same way and ``run`` raises :class:`Escalation` (the node is then not
ready; restarting the process is the operator's, or systemd's, move).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol

import anyio
import anyio.abc
import msgspec

from actors.metrics import MetricsRegistry
from actors.runtime.actor import Actor, StopReason
from actors.runtime.cell import ActorCell
from actors.runtime.errors import Escalation
from actors.runtime.instruments import RuntimeMetrics
from actors.runtime.ref import ActorRef
from actors.runtime.registry import ActorKind, Defaults, Registry
from actors.runtime.snapshot import ActorSnapshot, SupervisorSnapshot
from actors.runtime.supervisor import RestartPolicy, Supervisor
from actors.settings import ActorSettings

log = logging.getLogger("actors.runtime")

ROOT = "root"
State = Literal["idle", "starting", "running", "stopping", "stopped", "failed"]


class Service(Protocol):
    """A long-running companion the runtime starts before the actors and stops after
    them (the relay). ``run`` reports started through ``task_status`` and returns soon
    after ``stop()``."""

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None: ...

    def stop(self) -> None: ...


class RuntimeConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The runtime's knobs; :meth:`from_settings` maps them from the settings' actors section."""

    mailbox_capacity: int = 1024
    mailbox_reserve: int = 256
    ask_timeout_s: float = 5.0
    stop_timeout_s: float = 5.0
    #: A handler (or ``on_start``) running longer than this is killed; ``None``: never.
    stuck_after_s: float | None = 30.0
    watchdog_interval_s: float = 1.0
    restart: RestartPolicy = RestartPolicy()

    @classmethod
    def from_settings(cls, actors: ActorSettings) -> RuntimeConfig:
        return cls(
            mailbox_capacity=actors.mailbox_capacity,
            mailbox_reserve=actors.mailbox_reserve,
            ask_timeout_s=actors.ask_timeout_s,
            stop_timeout_s=actors.stop_timeout_s,
            stuck_after_s=actors.stuck_after_s or None,
            restart=RestartPolicy(
                max_restarts=actors.restart_max,
                within_s=actors.restart_within_s,
                backoff_initial_s=actors.backoff_initial_s,
                backoff_max_s=actors.backoff_max_s,
            ),
        )


class Runtime:
    """Root supervisor + registry (+ services); see the module docstring."""

    def __init__(
        self,
        config: RuntimeConfig | None = None,
        *,
        metrics: MetricsRegistry | None = None,
        services: Sequence[Service] = (),
    ) -> None:
        self.config = config = config or RuntimeConfig()
        self.metrics = metrics if metrics is not None else MetricsRegistry()
        self._instruments = RuntimeMetrics(self.metrics, self._cells)
        self._services = tuple(services)
        self.root = self._new_supervisor(ROOT, parent=None, policy=config.restart)
        self._supervisors: dict[str, Supervisor] = {ROOT: self.root}
        self.registry = Registry(
            defaults=Defaults(
                capacity=config.mailbox_capacity,
                reserve=config.mailbox_reserve,
                ask_timeout_s=config.ask_timeout_s,
                stop_timeout_s=config.stop_timeout_s,
                restart=config.restart,
            ),
            metrics=self._instruments,
            supervisor=self._supervisor,
        )
        self.state: State = "idle"
        self._stop = anyio.Event()
        self._failure: Escalation | None = None

    def _cells(self) -> Iterator[ActorCell]:
        return self.registry.cells()

    def _new_supervisor(
        self, name: str, *, parent: Supervisor | None, policy: RestartPolicy
    ) -> Supervisor:
        return Supervisor(
            name,
            parent=parent,
            policy=policy,
            metrics=self._instruments,
            stuck_after_s=self.config.stuck_after_s,
            watchdog_interval_s=self.config.watchdog_interval_s,
        )

    def _supervisor(self, name: str) -> Supervisor:
        try:
            return self._supervisors[name]
        except KeyError:
            raise ValueError(f"no supervisor named {name!r}") from None

    def add_supervisor(
        self, name: str, *, parent: str = ROOT, policy: RestartPolicy | None = None
    ) -> Supervisor:
        """Add a supervisor under ``parent``; ``policy`` is how the parent restarts it
        when it escalates (default: the runtime's restart policy).

        :raises ValueError: if the name is taken or the parent unknown.
        """
        if name in self._supervisors:
            raise ValueError(f"supervisor {name!r} already exists")
        above = self._supervisor(parent)
        supervisor = self._new_supervisor(name, parent=above, policy=policy or self.config.restart)
        above.start_child(supervisor)
        self._supervisors[name] = supervisor
        return supervisor

    # -- the registry's surface ----------------------------------------------------------

    def register(self, kind: ActorKind) -> None:
        """Declare an actor kind (see :class:`ActorKind`)."""
        self.registry.register(kind)

    def spawn(
        self,
        kind: str,
        id: str,
        factory: Callable[[], Actor] | None = None,
        *,
        replace: bool = False,
    ) -> ActorRef:
        """See :meth:`Registry.spawn`."""
        return self.registry.spawn(kind, id, factory, replace=replace)

    def get(self, kind: str, id: str) -> ActorRef | None:
        return self.registry.get(kind, id)

    def get_or_spawn(self, kind: str, id: str) -> ActorRef:
        return self.registry.get_or_spawn(kind, id)

    def tell(self, kind: str, id: str, message: msgspec.Struct) -> None:
        self.registry.tell(kind, id, message)

    def snapshots(self, kind: str | None = None) -> list[ActorSnapshot]:
        return self.registry.snapshots(kind)

    def snapshot(self, kind: str, id: str) -> ActorSnapshot | None:
        return self.registry.snapshot(kind, id)

    def supervisors(self) -> list[SupervisorSnapshot]:
        return [s.snapshot() for s in self._supervisors.values()]

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to stop everything and return. Idempotent; callable any time."""
        self._stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the services and the actors until :meth:`stop` (see the module docstring).

        :raises Escalation: if the root supervisor gave up (after stopping everything).
        :raises RuntimeError: if this runtime already ran: a runtime runs once.
        """
        if self.state != "idle":
            raise RuntimeError("a Runtime runs once")
        self.state = "starting"
        try:
            async with anyio.create_task_group() as task_group:
                for service in self._services:
                    await task_group.start(service.run)
                root_done = anyio.Event()
                task_group.start_soon(self._run_root, root_done, name="supervisor root")
                self.state = "running"
                task_status.started()
                await self._stop.wait()  # the node's lifetime
                self.state = "stopping"
                self.root.stop(StopReason.SHUTDOWN)
                await root_done.wait()  # bounded: every actor gets stop_timeout_s
                for service in reversed(self._services):
                    service.stop()
        except BaseException as exc:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            self.state = "stopped" if cancelled else "failed"
            raise
        if self._failure is not None:
            self.state = "failed"
            raise self._failure
        self.state = "stopped"

    async def _run_root(self, done: anyio.Event) -> None:
        try:
            await self.root.run_once()
        except Escalation as exc:
            log.critical("the root supervisor gave up: %s; stopping the runtime", exc)
            self._failure = exc
        finally:
            self.root.finish()
            done.set()
            self._stop.set()
