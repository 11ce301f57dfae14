"""Webhooks: the store (store/repos/webhooks.py) and a sender that posts one signed body
(store/webhook_http.py).

Every repository method
takes the owning tenant explicitly, except the worker's queue methods, which run in the
platform scope (deliveries of every tenant go out from one queue per installation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from actors.domain.webhooks import (
    DueDelivery,
    Event,
    EventType,
    OfflineCandidate,
    Outcome,
    WebhookDelivery,
    WebhookEndpoint,
)
from actors.pagination import ByCreation, BySeq, PageRequest


class WebhookRepository(Protocol):
    # -- endpoints (tenant_admin) --------------------------------------------------------------

    async def create(
        self,
        *,
        endpoint_id: UUID,
        tenant_id: UUID,
        url: str,
        events: tuple[EventType, ...],
        description: str,
        secret: str,
        created_by: str,
    ) -> WebhookEndpoint: ...

    async def count(self, tenant_id: UUID) -> int:
        """Live endpoints of the tenant (taken under the tenant's endpoint lock)."""
        ...

    async def get(self, tenant_id: UUID, endpoint_id: UUID) -> WebhookEndpoint | None:
        """A live (not deleted) endpoint of ``tenant_id``."""
        ...

    async def page(self, tenant_id: UUID, page: PageRequest[ByCreation]) -> list[WebhookEndpoint]:
        """Up to ``page.fetch`` live endpoints after ``page.after``, oldest first."""
        ...

    async def delete(
        self, tenant_id: UUID, endpoint_id: UUID, *, deleted_by: str
    ) -> tuple[WebhookEndpoint, int] | None:
        """Delete a live endpoint and cancel its pending deliveries (how many: the int);
        ``None``: no such live endpoint."""
        ...

    async def deliveries(
        self, tenant_id: UUID, endpoint_id: UUID, page: PageRequest[BySeq]
    ) -> list[WebhookDelivery]:
        """The endpoint's delivery log, newest first."""
        ...

    # -- the outbox ----------------------------------------------------------------------------

    async def enqueue(self, tenant_id: UUID, events: Sequence[tuple[Event, str]]) -> int:
        """One pending delivery per live endpoint of ``tenant_id`` subscribed to each
        event's type, with the event's encoded body (the ``str``); returns how many. In
        the caller's transaction: the deliveries commit or vanish with its change."""
        ...

    async def claim(self, *, limit: int, lease_s: float) -> list[DueDelivery]:
        """Lease up to ``limit`` due deliveries, each the oldest pending one of its
        endpoint, skipping rows another worker holds; counts the attempt."""
        ...

    async def finish(self, delivery_id: int, outcome: Outcome, *, retry_in_s: float | None) -> None:
        """Record an attempt: delivered, or failed for good (``retry_in_s`` ``None``), or
        due again in ``retry_in_s``."""
        ...

    async def purge(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` finished deliveries older than ``finished_before``."""
        ...

    # -- what produces events without a request ------------------------------------------------

    async def offline_candidates(
        self, *, seen_before: datetime, seen_after: datetime, limit: int
    ) -> Sequence[OfflineCandidate]:
        """Approved devices last seen in ``[seen_after, seen_before)`` and not reported
        offline yet (every tenant)."""
        ...

    async def note_offline(
        self, tenant_id: UUID, devices: Sequence[tuple[UUID, datetime]]
    ) -> set[UUID]:
        """Record offline notices of ``(device_id, last_seen_at)``: the ids noted now (a
        notice another node wrote already is left alone)."""
        ...

    async def back_online(
        self, device_ids: Sequence[UUID]
    ) -> Sequence[tuple[UUID, UUID, datetime, str | None, tuple[str, ...]]]:
        """Remove the offline notices of ``device_ids``: ``(tenant_id, device_id,
        offline_since, name, groups)`` of the ones that had one."""
        ...

    async def unchecked_emergencies(
        self, *, started_before: datetime, started_after: datetime, limit: int
    ) -> list[tuple[UUID, UUID]]:
        """Active emergencies (``tenant_id, emergency_id``) started in the window whose
        delivery has not been checked (every tenant)."""
        ...

    async def note_checked(self, tenant_id: UUID, emergency_id: UUID, undelivered: int) -> bool:
        """Record the delivery check; False if another node did it already."""
        ...


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST ``body`` to ``url`` once, under the destination policy, never following a
        redirect, within the sender's timeout. Never raises for the receiver's or the
        network's failures: they are the :class:`Outcome`."""
        ...
