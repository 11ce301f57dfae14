"""Actors by name: ``(kind, id)`` → the live actor, spawned on demand.

Each *kind* is declared once (:class:`ActorKind`): which supervisor owns its actors, their
restart policy, mailbox size, whether idle ones are passivated, and (for kinds spawned on
demand, like tenant actors) how to build one from its id. A name is freed the moment its
actor stops, passivates or is given up on, synchronously; so :meth:`Registry.tell` never
hits a passivated actor: it either finds the live one or spawns a fresh one.

An actor that is stopping may still be running ``on_stop`` while its successor under the
same name runs ``on_start``: both are rebuilt from PostgreSQL, so neither may assume it
is alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgspec

from actors.runtime.actor import Actor, StopReason
from actors.runtime.cell import ActorCell
from actors.runtime.errors import ActorError
from actors.runtime.instruments import RuntimeMetrics
from actors.runtime.ref import ActorRef
from actors.runtime.snapshot import ActorSnapshot
from actors.runtime.supervisor import RestartPolicy, Supervisor


class DuplicateActor(ActorError):
    """An actor of that kind and id is already running."""


@dataclass(frozen=True, slots=True)
class ActorKind:
    """How actors of one kind are named, built and supervised.

    ``None`` fields take the runtime's defaults. ``idle_after_s`` passivates an actor
    whose mailbox stayed empty that long (it is spawned again by the next message sent
    through the registry); leave it ``None`` for actors whose life is bound to something
    else (a device actor lives as long as its WebSocket session).
    """

    name: str
    #: Builds an actor from its id, for :meth:`Registry.get_or_spawn`.
    factory: Callable[[str], Actor] | None = None
    supervisor: str = "root"
    restart: RestartPolicy | None = None
    capacity: int | None = None
    reserve: int | None = None
    idle_after_s: float | None = None


class Defaults(msgspec.Struct, frozen=True, kw_only=True):
    capacity: int
    reserve: int
    ask_timeout_s: float
    stop_timeout_s: float
    restart: RestartPolicy


class Registry:
    """The live actors of one runtime, by ``(kind, id)``."""

    def __init__(
        self,
        *,
        defaults: Defaults,
        metrics: RuntimeMetrics,
        supervisor: Callable[[str], Supervisor],
    ) -> None:
        self._defaults = defaults
        self._metrics = metrics
        self._supervisor = supervisor
        self._kinds: dict[str, ActorKind] = {}
        self._cells: dict[tuple[str, str], ActorCell] = {}

    def register(self, kind: ActorKind) -> None:
        """Declare a kind. :raises ValueError: if the name is taken or the supervisor
        unknown."""
        if kind.name in self._kinds:
            raise ValueError(f"actor kind {kind.name!r} is already registered")
        self._supervisor(kind.supervisor)  # fail now, not at the first spawn
        self._kinds[kind.name] = kind

    def kind(self, name: str) -> ActorKind:
        """:raises ValueError: if no such kind was registered."""
        try:
            return self._kinds[name]
        except KeyError:
            raise ValueError(f"unknown actor kind {name!r}") from None

    def spawn(
        self,
        kind: str,
        id: str,
        factory: Callable[[], Actor] | None = None,
        *,
        replace: bool = False,
    ) -> ActorRef:
        """Start an actor named ``(kind, id)`` and return its ref at once.

        ``factory`` builds each incarnation (default: the kind's factory with ``id``);
        it is called once right here, so a broken factory raises to the caller. Messages
        sent before ``on_start`` finishes wait in the mailbox. With ``replace=True`` a
        live actor of the same name is stopped first (a device that reconnects).

        :raises DuplicateActor: if the name is taken and ``replace`` is false.
        :raises ActorStopped: if the kind's supervisor is stopping.
        :raises ValueError: for an unknown kind, or no factory to use.
        """
        spec = self.kind(kind)
        name = (kind, id)
        current = self._cells.get(name)
        if current is not None:
            if not replace:
                raise DuplicateActor(f"{kind}/{id} is already running")
            current.stop(StopReason.REQUESTED)
        if factory is None:
            build = spec.factory
            if build is None:
                raise ValueError(f"actor kind {kind!r} has no factory: pass one to spawn")
            factory = lambda: build(id)  # noqa: E731 - closes over this id
        supervisor = self._supervisor(spec.supervisor)
        defaults = self._defaults
        cell = ActorCell(
            kind=kind,
            id=id,
            factory=factory,
            supervisor=supervisor.path,
            policy=spec.restart or defaults.restart,
            metrics=self._metrics,
            capacity=spec.capacity or defaults.capacity,
            reserve=defaults.reserve if spec.reserve is None else spec.reserve,
            ask_timeout_s=defaults.ask_timeout_s,
            stop_timeout_s=defaults.stop_timeout_s,
            idle_after_s=spec.idle_after_s,
            on_closed=self._forget,
        )
        supervisor.start_child(cell)
        self._cells[name] = cell
        self._metrics.spawned.inc(kind=kind)
        return cell.ref

    def _forget(self, cell: ActorCell) -> None:
        name = (cell.kind, cell.id)
        if self._cells.get(name) is cell:
            del self._cells[name]

    def get(self, kind: str, id: str) -> ActorRef | None:
        """The live actor named ``(kind, id)``, if any."""
        cell = self._cells.get((kind, id))
        return None if cell is None else cell.ref

    def get_or_spawn(self, kind: str, id: str) -> ActorRef:
        """The live actor named ``(kind, id)``, spawned with the kind's factory if none.

        :raises ValueError: if the kind is unknown or has no factory.
        :raises ActorStopped: if the kind's supervisor is stopping.
        """
        cell = self._cells.get((kind, id))
        return cell.ref if cell is not None else self.spawn(kind, id)

    def tell(self, kind: str, id: str, message: msgspec.Struct) -> None:
        """``get_or_spawn(kind, id).tell(message)``: never lost to a passivation race."""
        self.get_or_spawn(kind, id).tell(message)

    def __len__(self) -> int:
        return len(self._cells)

    def cells(self) -> Iterator[ActorCell]:
        return iter(list(self._cells.values()))

    def snapshots(self, kind: str | None = None) -> list[ActorSnapshot]:
        """Every live actor (of ``kind``), sorted by kind then id; no state summaries."""
        cells = sorted(self._cells.values(), key=lambda c: (c.kind, c.id))
        return [c.snapshot() for c in cells if kind is None or c.kind == kind]

    def snapshot(self, kind: str, id: str) -> ActorSnapshot | None:
        """One actor with its own state summary, or ``None`` if no such live actor."""
        cell = self._cells.get((kind, id))
        return None if cell is None else cell.snapshot(detail=True)
