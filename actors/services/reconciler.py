"""The reconciler: checks this node's live sessions against PostgreSQL, off the actors.

Tenant actors never await PostgreSQL after they start (a database outage must not crash
the actor that holds a tenant's sessions while emergencies wait in its mailbox). This
service owns every reconciliation trigger: a relay gap (:meth:`Reconciler.relay_gap`:
the tenant's subscription reports it here) and every ``every_s`` (the backstop for relay
messages lost while the node heard nothing). It asks the tenant actor (:class:`Resync`),
which hands it a snapshot of its sessions and goes on; after a relay gap it also has the
emergency watch catch the actor up at once (the watch reads the outbox and tells it).

This service, in its own task, reads which of those devices may still hold a session
(approved, same secret, tenant active, current groups) and tells the actor
:class:`Reconciled`; the actor applies it to the sessions that have not changed since
the snapshot.

A read that fails (PostgreSQL down, slow, or refusing) is logged and retried after
``retry_s``; a newer request for the same tenant replaces an older one, so the queue is
bounded by the number of tenant actors on the node.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import anyio
import anyio.abc
import msgspec

from actors.ports.relay import Resync
from actors.ports.sessions import SessionDirectory, SessionIdentity
from actors.runtime import ActorRef, ActorStopped
from actors.settings import ReconcileSettings

log = logging.getLogger("actors.reconciler")

_PERIODIC = Resync(reason="periodic reconciliation")
_RELAY_GAP = Resync(reason="relay gap")


class Reconciled(msgspec.Struct, frozen=True):
    """The answer to one request: what PostgreSQL allows of the sessions ``asked`` about.

    ``asked`` maps each device to the session id the actor held when it asked; ``epoch``
    is the actor's event counter then. A session replaced, or touched by a newer event,
    since then is left alone: the answer may be older than what the actor knows."""

    allowed: dict[UUID, SessionIdentity]
    asked: dict[UUID, UUID]
    epoch: int


@dataclass(frozen=True, slots=True)
class _Request:
    tenant_id: UUID
    ref: ActorRef
    sessions: dict[UUID, UUID]
    epoch: int
    due: float


class Reconciler:
    """A runtime service (see the module docstring). Tenant actors call :meth:`request`;
    it never blocks and never fails."""

    def __init__(
        self,
        directory: SessionDirectory,
        *,
        tenants: Callable[[], Sequence[ActorRef]] = tuple,
        catch_up: Callable[[UUID, ActorRef], None] | None = None,
        config: ReconcileSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._tenants = tenants
        self._catch_up = catch_up
        config = config or ReconcileSettings()
        self._every_s = config.every_s
        self._read_timeout_s = config.read_timeout_s
        self._retry_s = config.retry_s
        self._clock = clock
        self._pending: dict[UUID, _Request] = {}
        self._wake = anyio.Event()
        self._stopping = False
        self._next_round = clock() + config.every_s
        self.served = 0
        self.failed = 0

    def request(
        self, tenant_id: UUID, ref: ActorRef, sessions: dict[UUID, UUID], epoch: int
    ) -> None:
        """Ask for ``sessions`` (device id → session id) of ``tenant_id`` to be checked;
        the answer is told to ``ref``. Replaces a request of the same tenant not yet read."""
        self._pending[tenant_id] = _Request(tenant_id, ref, sessions, epoch, self._clock())
        self._wake.set()

    def relay_gap(self, tenant_id: UUID, ref: ActorRef) -> None:
        """The relay may have lost messages of ``tenant_id`` (the hook of its actor's
        subscription, called from the relay's reader): the emergency watch catches the
        actor ``ref`` up and the actor reconciles its sessions. Never blocks, never fails."""
        try:
            if self._catch_up is not None:
                self._catch_up(tenant_id, ref)
            ref.tell(_RELAY_GAP)
        except ActorStopped:
            pass  # stopping: the next incarnation reads afresh
        except Exception:
            log.exception("tenant %s: relay gap not handled", tenant_id)

    def __len__(self) -> int:
        return len(self._pending)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while not self._stopping:
            if self._clock() >= self._next_round:
                self.ask_all()
            next_due = await self.serve_due()
            wake_at = self._next_round if next_due is None else min(next_due, self._next_round)
            with anyio.move_on_after(max(0.0, wake_at - self._clock())):
                await self._wake.wait()
            self._wake = anyio.Event()

    def ask_all(self) -> None:
        """Ask every tenant actor of the node to reconcile (each answers with
        :meth:`request`); the next periodic round is ``every_s`` from now."""
        self._next_round = self._clock() + self._every_s
        for ref in self._tenants():
            with contextlib.suppress(ActorStopped):  # a tenant actor stopping
                ref.tell(_PERIODIC)

    async def serve_due(self) -> float | None:
        """Serve every request that is due; returns when the next one falls due (``None``
        when none is pending). Public for tests."""
        now = self._clock()
        due = [r for r in self._pending.values() if r.due <= now]
        for request in due:
            if self._pending.get(request.tenant_id) is request:
                del self._pending[request.tenant_id]
            await self._serve(request)
        return min((r.due for r in self._pending.values()), default=None)

    async def _serve(self, request: _Request) -> None:
        allowed: dict[UUID, SessionIdentity] | None = None
        try:
            with anyio.fail_after(self._read_timeout_s):
                allowed = await self._directory.allowed(request.tenant_id, list(request.sessions))
        except Exception as exc:  # PostgreSQL down or slow: try again later
            self.failed += 1
            log.warning(
                "reconciling tenant %s failed (retry in %.0f s): %s",
                request.tenant_id,
                self._retry_s,
                exc or type(exc).__name__,
            )
            if request.tenant_id not in self._pending:  # a newer request goes first
                retry = _Request(
                    request.tenant_id,
                    request.ref,
                    request.sessions,
                    request.epoch,
                    self._clock() + self._retry_s,
                )
                self._pending[request.tenant_id] = retry
            return
        self.served += 1
        with contextlib.suppress(ActorStopped):  # stopping: its successor starts afresh
            request.ref.tell(Reconciled(allowed, request.sessions, request.epoch))
