"""The webhook delivery worker of a node: takes due deliveries from the PostgreSQL outbox,
signs and posts them, and records each attempt (docs/operations.md, "Webhooks").

A runtime service. Each round it claims up to ``concurrency`` deliveries in one short
transaction (``FOR UPDATE SKIP LOCKED``, then a lease of ``lease_s``: every node runs a
worker, and none waits for another's rows), posts them at the same time outside any
transaction, and records each outcome in a transaction of its own. Only the oldest
pending delivery of an endpoint is ever claimed, so an endpoint gets its deliveries one
at a time, in order; one slow or dead receiver holds up only its own queue.

Guarantees: at least once. A node that dies (or stops) mid-attempt leaves the lease to
expire and the delivery is tried again — receivers deduplicate by ``Signage-Delivery``.
Failures back off exponentially with jitter up to ``retry.max_attempts``, then the
delivery is ``failed`` and the endpoint's next one goes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import anyio
import anyio.abc
import msgspec

from actors.domain.webhooks import DueDelivery, Outcome, RetryPolicy, signature_header
from actors.metrics import MetricsRegistry
from actors.ports.uow import UnitOfWork
from actors.ports.webhooks import WebhookSender

log = logging.getLogger(__name__)

USER_AGENT = "signage-webhooks/1"


class DispatchConfig(msgspec.Struct, frozen=True, kw_only=True):
    #: Attempts in flight at once on this node.
    concurrency: int = 8
    #: How long the worker sleeps when nothing was due.
    poll_s: float = 1.0
    #: How long a claimed delivery is held (more than the sender's timeout: an attempt
    #: still in flight is never taken by another worker).
    lease_s: float = 30.0
    retry: RetryPolicy = RetryPolicy()


def headers_for(delivery: DueDelivery, body: bytes, now: float) -> dict[str, str]:
    """The headers of one attempt (the signature is the attempt's: fresh timestamp)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Signage-Event": delivery.event_type,
        "Signage-Delivery": str(delivery.id),
        "Signage-Attempt": str(delivery.attempts),
        "Signage-Signature": signature_header(delivery.secret, body, int(now)),
    }


class WebhookDispatcher:
    def __init__(
        self,
        uow: UnitOfWork,
        sender: WebhookSender,
        config: DispatchConfig,
        metrics: MetricsRegistry,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._config = config
        self._clock = clock
        self._rand = rand
        self._stop = anyio.Event()
        self._in_flight: anyio.CancelScope | None = None
        self._attempts = metrics.counter(
            "signage_webhook_attempts_total",
            "Webhook delivery attempts by outcome (delivered, retry, failed).",
            ("outcome",),
        )
        self._errors = metrics.counter(
            "signage_webhook_worker_errors_total",
            "Rounds of the webhook worker that failed (PostgreSQL unreachable, ...).",
        )

    def stop(self) -> None:
        """Stop now: attempts in flight are abandoned (their leases expire and another
        round, here or on another node, tries them again)."""
        self._stop.set()
        if self._in_flight is not None:
            self._in_flight.cancel()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while not self._stop.is_set():
            try:
                sent = await self.run_once()
            except Exception as exc:  # the database is away: try again next round
                self._errors.inc()
                log.warning("webhooks: delivery round failed: %s", exc)
                sent = 0
            if sent < self._config.concurrency:  # a full round: more may be due at once
                with anyio.move_on_after(self._config.poll_s):
                    await self._stop.wait()

    async def run_once(self) -> int:
        """Claim and attempt one round of due deliveries; returns how many (public for
        tests)."""
        config = self._config
        async with self._uow.platform() as tx:
            due = await tx.webhooks.claim(limit=config.concurrency, lease_s=config.lease_s)
        if not due:
            return 0
        with anyio.CancelScope() as self._in_flight:
            if self._stop.is_set():
                self._in_flight.cancel()
            async with anyio.create_task_group() as tg:
                for delivery in due:
                    tg.start_soon(self._attempt, delivery)
        self._in_flight = None
        return len(due)

    async def _attempt(self, delivery: DueDelivery) -> None:
        body = delivery.body.encode("utf-8")
        outcome = await self._sender.post(
            delivery.url, body, headers_for(delivery, body, self._clock())
        )
        retry_in = (
            None
            if outcome.delivered
            else self._config.retry.delay_after(delivery.attempts, self._rand)
        )
        try:
            async with self._uow.platform() as tx:
                await tx.webhooks.finish(delivery.id, outcome, retry_in_s=retry_in)
        except Exception as exc:  # the lease expires: the attempt is made again
            self._errors.inc()
            log.warning("webhooks: could not record delivery %d: %s", delivery.id, exc)
            return
        self._count(delivery, outcome, retry_in)

    def _count(self, delivery: DueDelivery, outcome: Outcome, retry_in: float | None) -> None:
        if outcome.delivered:
            self._attempts.inc(outcome="delivered")
            return
        self._attempts.inc(outcome="failed" if retry_in is None else "retry")
        log.info(
            "webhooks: delivery %d (%s) attempt %d failed: %s%s",
            delivery.id,
            delivery.event_type,
            delivery.attempts,
            outcome.error or f"HTTP {outcome.status}",
            "; giving up" if retry_in is None else f"; again in {retry_in:.1f} s",
        )
