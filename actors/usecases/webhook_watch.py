"""The webhook events nobody asks for: a screen gone offline and back, an emergency whose
delivery is incomplete after T seconds, and the retention of the delivery log.

Each runs on every node (a housekeeping job) and happens once across the cluster: the
row that records it (an offline notice, a delivery check) is inserted with
``ON CONFLICT DO NOTHING`` in the transaction that queues the deliveries, so the node
whose insert wins is the one that notifies.

Offline means "no session anywhere for WEBHOOK_OFFLINE_AFTER_S": PostgreSQL's
``last_seen_at`` (written in batches by the node holding each session) says who has been
quiet that long, and the shared presence (Redis) rules out the ones still connected. If
the presence cannot be read, nothing is declared offline that round: a Redis outage is
not a fleet outage. "Back online" is owed to exactly the screens with a notice: a node
hands the sessions it opened (:meth:`LocalPresence.take_arrived`) to
:meth:`WebhookWatch.arrived`, which deletes their notices and queues the events — the
device actors themselves never wait for PostgreSQL.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec

from actors.domain.emergencies import DeliveryReport
from actors.domain.webhook_events import (
    DeliveryIncompleteData,
    DeviceOfflineData,
    DeviceOnlineData,
)
from actors.domain.webhooks import EventType
from actors.ports.devices import PresenceReader
from actors.ports.uow import UnitOfWork
from actors.usecases.webhooks import new_event

log = logging.getLogger(__name__)

#: Screens quiet for longer than this are not reported (they were gone before the
#: sweep could see them: a first start, or every node down for a day).
OFFLINE_LOOKBACK = timedelta(days=1)
#: Emergencies started longer ago than T + this are not checked any more.
CHECK_LOOKBACK = timedelta(hours=1)
#: Rows one sweep handles (the next sweep takes the rest).
SWEEP_BATCH = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


class WatchConfig(msgspec.Struct, frozen=True, kw_only=True):
    offline_after_s: float = 120.0
    delivery_check_s: float = 30.0
    log_retention_s: float = 7 * 24 * 3600.0


class WebhookWatch:
    def __init__(
        self,
        uow: UnitOfWork,
        presence: PresenceReader,
        config: WatchConfig,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._uow = uow
        self._presence = presence
        self._config = config
        self._clock = clock

    async def report_offline(self) -> int:
        """Queue ``device.offline`` for the screens without a session for the configured
        time (in tenants subscribed to it); returns how many were reported."""
        now = self._clock()
        quiet_since = now - timedelta(seconds=self._config.offline_after_s)
        async with self._uow.platform() as tx:
            candidates = await tx.webhooks.offline_candidates(
                seen_before=quiet_since,
                seen_after=quiet_since - OFFLINE_LOOKBACK,
                limit=SWEEP_BATCH,
            )
        by_tenant: dict[UUID, list[DeviceOfflineData]] = defaultdict(list)
        for c in candidates:
            by_tenant[c.tenant_id].append(
                DeviceOfflineData(
                    device_id=c.device_id, name=c.name, groups=c.groups, last_seen_at=c.last_seen_at
                )
            )
        reported = 0
        for tenant_id, gone in by_tenant.items():
            live = await self._presence.lookup(tenant_id, [d.device_id for d in gone])
            gone = [d for d in gone if d.device_id not in live]
            if not gone:
                continue
            async with self._uow.tenant(tenant_id) as tx:
                noted = await tx.webhooks.note_offline(
                    tenant_id, [(d.device_id, d.last_seen_at) for d in gone]
                )
                events = [
                    new_event(tenant_id, EventType.DEVICE_OFFLINE, d, now)
                    for d in gone
                    if d.device_id in noted
                ]
                await tx.webhooks.enqueue(tenant_id, events)
            reported += len(events)
        if reported:
            log.info("webhooks: %d screens reported offline", reported)
        return reported

    async def arrived(self, device_ids: Sequence[UUID]) -> int:
        """Queue ``device.online`` for the screens among ``device_ids`` (sessions just
        opened on this node) that were reported offline; returns how many."""
        if not device_ids:
            return 0
        now = self._clock()
        async with self._uow.platform() as tx:
            back = await tx.webhooks.back_online(device_ids)
            by_tenant: dict[UUID, list[DeviceOnlineData]] = defaultdict(list)
            for tenant_id, device_id, since, name, groups in back:
                by_tenant[tenant_id].append(
                    DeviceOnlineData(
                        device_id=device_id,
                        name=name,
                        groups=groups,
                        offline_since=since,
                        online_at=now,
                    )
                )
            for tenant_id, devices in by_tenant.items():
                await tx.webhooks.enqueue(
                    tenant_id,
                    [new_event(tenant_id, EventType.DEVICE_ONLINE, d, now) for d in devices],
                )
        return len(back)

    async def check_deliveries(self) -> int:
        """Queue ``emergency.delivery_incomplete`` for each active emergency started
        WEBHOOK_DELIVERY_CHECK_S ago (or more) that some targeted screen has not
        acknowledged; every such emergency is checked once. Returns how many were
        reported."""
        now = self._clock()
        after_s = self._config.delivery_check_s
        due = now - timedelta(seconds=after_s)
        async with self._uow.platform() as tx:
            unchecked = await tx.webhooks.unchecked_emergencies(
                started_before=due, started_after=due - CHECK_LOOKBACK, limit=SWEEP_BATCH
            )
        reported = 0
        for tenant_id, emergency_id in unchecked:
            async with self._uow.tenant(tenant_id) as tx:
                emergency = await tx.emergencies.get(tenant_id, emergency_id)
                if emergency is None or not emergency.active:
                    continue
                acks, unacked = await tx.emergencies.delivery(emergency)
            online = await self._presence.lookup(tenant_id, unacked) if unacked else {}
            report = DeliveryReport.of(acks, len(unacked), len(online))
            undelivered = report.pending + report.offline
            async with self._uow.tenant(tenant_id) as tx:
                if not await tx.webhooks.note_checked(tenant_id, emergency_id, undelivered):
                    continue  # another node checked it
                if undelivered:
                    data = DeliveryIncompleteData.of(emergency, report, round(after_s))
                    event = new_event(tenant_id, EventType.EMERGENCY_DELIVERY_INCOMPLETE, data, now)
                    await tx.webhooks.enqueue(tenant_id, [event])
                    reported += 1
        return reported

    async def purge(self) -> int:
        """Delete finished deliveries older than WEBHOOK_LOG_RETENTION_S (a batch)."""
        before = self._clock() - timedelta(seconds=self._config.log_retention_s)
        async with self._uow.platform() as tx:
            return await tx.webhooks.purge(finished_before=before, limit=10 * SWEEP_BATCH)


class ArrivalFeed:
    """Hands a node's newly opened sessions to :meth:`WebhookWatch.arrived`; on failure
    (PostgreSQL down) they are put back and tried at the next turn, so no "back online"
    is lost to an outage."""

    def __init__(
        self,
        take: Callable[[], list[UUID]],
        put_back: Callable[[Sequence[UUID]], None],
        watch: WebhookWatch,
    ) -> None:
        self._take = take
        self._put_back = put_back
        self._watch = watch

    async def run_once(self) -> int:
        arrived = self._take()
        if not arrived:
            return 0
        try:
            # Bounded statements: a reconnect storm of a whole fleet is several batches.
            count = 0
            for start in range(0, len(arrived), 5 * SWEEP_BATCH):
                count += await self._watch.arrived(arrived[start : start + 5 * SWEEP_BATCH])
        except BaseException:
            self._put_back(arrived)
            raise
        return count
