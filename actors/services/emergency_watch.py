"""The emergency watch: this node's backstop against lost relay messages, and its expiry.

A runtime service (one per node) that

- every ``check_every_s``, reads in one query the last sequence number of every tenant
  this node has an actor for, compares each with the position that tenant actor published
  (:attr:`~actors.node.tenant_emergencies.NodeEmergencies.positions`), and for every actor
  behind (Redis lost a message, or is down altogether) reads what it misses from the
  outbox — in the same pass, in its own task — and tells the actor :class:`CaughtUp`
  once. This bounds how late an emergency can reach this node's screens without Redis:
  one period plus two queries;
- serves catch-up requests (a tenant actor that skipped a number, a relay gap reported by
  the reconciler) at once, the same way;
- at the same period, ends the emergencies whose expiry has passed (every node tries;
  PostgreSQL lets exactly one of them write each end).

Every step's failure is logged and retried at the next period (an actor that stayed
behind is found behind again); none stops the others.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from uuid import UUID

import anyio
import anyio.abc

from actors.domain.emergency_board import BoardPosition
from actors.node.tenant_emergencies import (
    CatchUpRequest,
    NodeEmergencies,
    serve_catch_up,
)
from actors.runtime import ActorRef, ActorStopped

log = logging.getLogger("actors.emergencies")

#: Outbox events read per query of a catch-up.
CATCH_UP_BATCH = 500


class EmergencyWatch:
    """A runtime service; see the module docstring."""

    def __init__(
        self,
        node: NodeEmergencies,
        *,
        tenants: Callable[[], Sequence[ActorRef]],
        expire: Callable[[], Awaitable[int]] | None,
        check_every_s: float,
        batch: int = CATCH_UP_BATCH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if check_every_s <= 0:
            raise ValueError("check_every_s must be positive")
        self._node = node
        self._tenants = tenants
        self._expire = expire
        self._every_s = check_every_s
        self._batch = batch
        self._clock = clock
        self._stopping = False
        self.ticks = 0

    def stop(self) -> None:
        self._stopping = True
        self._node.queue.wake()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        if self._node.feed is None:
            return
        due = self._clock()
        while not self._stopping:
            if self._clock() >= due:
                await self.tick()
                due = self._clock() + self._every_s
            with anyio.move_on_after(max(0.0, due - self._clock())):
                await self._node.queue.wait()
            await self.serve_requests()

    async def serve_requests(self) -> int:
        """Serve every pending catch-up request; returns how many tenant actors were
        caught up."""
        return await self._catch_up(self._node.queue.take())

    async def tick(self) -> None:
        """One periodic round: every tenant actor behind PostgreSQL caught up, then
        expiries (public for tests)."""
        self.ticks += 1
        await self._guard("head check", self._check_heads())
        if self._expire is not None:
            await self._guard("expiry", self._expire_due())

    async def _check_heads(self) -> None:
        feed = self._node.feed
        assert feed is not None
        refs: dict[UUID, ActorRef] = {}
        for ref in self._tenants():
            with contextlib.suppress(ValueError):
                refs[UUID(ref.id)] = ref
        if not refs:
            return
        heads = await feed.heads(list(refs))
        # Requests pending now are served in this pass too: one read per tenant actor.
        due = {r.tenant_id: r for r in self._node.queue.take()}
        for tenant_id, ref in refs.items():
            position = self._node.positions.get(tenant_id)
            if position is not None and position.due(heads.get(tenant_id, 0)):
                due.setdefault(tenant_id, CatchUpRequest(tenant_id, ref))
        await self._catch_up(due.values())

    async def _catch_up(self, requests: Iterable[CatchUpRequest]) -> int:
        """Read what each requester misses, from its published position, and tell it the
        answer (batch by batch when there is more); a read that fails is logged and left
        to the next period. Returns how many were caught up."""
        feed = self._node.feed
        if feed is None:
            return 0
        metrics = self._node.metrics
        served = 0
        for request in requests:
            position = self._node.positions.get(request.tenant_id)
            if position is None:  # its start has not read yet: it will
                continue
            try:
                while True:
                    answer = await serve_catch_up(feed, request.tenant_id, position, self._batch)
                    metrics.catch_ups.inc(result="ok")
                    with contextlib.suppress(ActorStopped):  # stopping: its successor reloads
                        request.ref.tell(answer)
                    if not answer.more:
                        break
                    position = BoardPosition(answer.head)
            except Exception as exc:  # PostgreSQL down: the next head check finds it behind
                metrics.catch_ups.inc(result="failed")
                log.warning("emergency catch-up of tenant %s failed: %s", request.tenant_id, exc)
                continue
            served += 1
        return served

    async def _expire_due(self) -> None:
        assert self._expire is not None
        ended = await self._expire()
        if ended:
            log.info("%d emergencies expired", ended)

    async def _guard(self, what: str, step: Awaitable[None]) -> None:
        try:
            await step
        except Exception as exc:  # a database hiccup: retried at the next period
            log.warning("emergency watch: %s failed: %s", what, exc)
