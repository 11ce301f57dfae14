"""Nodes in one process: real runtimes, tenant and device actors, the emergency watch and
the ack writer, on the test database, joined by a :class:`LocalHub` (a tiny Redis that
tests can partition). Screens are fake sockets that record what they are sent.

Devices are inserted straight into PostgreSQL (approved, in a tenant): these tests are
about delivery between nodes, not about registration.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import anyio
import psycopg

from actors.domain.emergencies import EmergencyEvent, EmergencySnapshot, TriggerEmergency
from actors.domain.principal import Principal
from actors.domain.rbac import Role
from actors.domain.targets import TargetSpec
from actors.events import TENANT_EVENTS
from actors.metrics import MetricsRegistry
from actors.node.opening import IdleOpening
from actors.node.presence import LocalPresence
from actors.node.publisher import NodeEvents
from actors.node.tenant_emergencies import NodeEmergencies
from actors.node.wiring import NodeSessions
from actors.ports.emergencies import EmergencyFeed
from actors.ports.relay import RELAY_MESSAGES
from actors.ports.sessions import SessionIdentity
from actors.relay import LocalHub, LocalRelay, RelayCodec
from actors.runtime import ActorRef, Runtime, RuntimeConfig
from actors.services.emergency_acks import BatchedAcks
from actors.services.emergency_feed import StoreEmergencyFeed
from actors.services.emergency_watch import EmergencyWatch
from actors.services.reconciler import Reconciler
from actors.services.session_directory import StoreDirectory
from actors.usecases.emergencies import Emergencies, Triggered
from store.db import Database
from store.uow import Store

WAIT_S = 5.0


class FakeSocket:
    """A screen that reads everything at once (or, when ``gate`` is closed, nothing)."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.gate: anyio.Event | None = None
        #: Set while a send waits at the closed gate.
        self.blocked = anyio.Event()
        self._changed = anyio.Event()

    async def send(self, frame: str) -> None:
        if self.closed is not None:
            raise ConnectionError("closed")
        if self.gate is not None:
            self.blocked.set()
            await self.gate.wait()
        self.frames.append(json.loads(frame))
        self._changed.set()

    def send_nowait(self, frame: str) -> bool:
        """The fast path: taken while the screen reads (no gate), like a real connection
        whose buffer is not full."""
        if self.closed is not None or self.gate is not None:
            return False
        self.frames.append(json.loads(frame))
        self._changed.set()
        return True

    def farewell_nowait(self, frame: str, code: int, reason: str) -> bool:
        if not self.send_nowait(frame):
            return False
        self.closed = (code, reason)
        return True

    async def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self._changed.set()

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] in types]

    async def until(self, predicate: Any, timeout: float = WAIT_S) -> None:
        with anyio.fail_after(timeout):
            while not predicate(self):
                self._changed = anyio.Event()
                await self._changed.wait()

    async def emergencies(self, count: int, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Wait until ``count`` emergency frames (starts and clears) arrived."""
        await self.until(lambda s: len(s.of_type("emergency", "emergency_clear")) >= count, timeout)
        return self.of_type("emergency", "emergency_clear")


class CountingFeed:
    """The node's emergency feed over PostgreSQL, counting the reads made through it."""

    def __init__(self, feed: EmergencyFeed) -> None:
        self._feed = feed
        self.snapshots = 0
        self.outbox_reads = 0
        self.head_reads = 0

    async def snapshot(self, tenant_id: UUID, also: Sequence[UUID]) -> EmergencySnapshot:
        self.snapshots += 1
        return await self._feed.snapshot(tenant_id, also)

    async def events_after(self, tenant_id: UUID, seq: int, limit: int) -> list[EmergencyEvent]:
        self.outbox_reads += 1
        return await self._feed.events_after(tenant_id, seq, limit)

    async def heads(self, tenant_ids: Sequence[UUID]) -> dict[UUID, int]:
        self.head_reads += 1
        return await self._feed.heads(tenant_ids)


@dataclass
class Node:
    node_id: str
    runtime: Runtime
    sessions: NodeSessions
    emergencies: Emergencies
    relay: LocalRelay
    acks: BatchedAcks
    watch: EmergencyWatch
    feed: CountingFeed
    metrics: MetricsRegistry
    sockets: dict[UUID, FakeSocket] = field(default_factory=dict)

    def connect(
        self,
        tenant_id: UUID,
        device_id: UUID,
        groups: Sequence[str] = (),
        last_seq: int | None = None,
    ) -> FakeSocket:
        socket = FakeSocket()
        identity = SessionIdentity(
            device_id=device_id,
            tenant_id=tenant_id,
            groups=tuple(groups),
            timezone="UTC",
            secret_digest=secret_hash(device_id),
        )
        self.sessions.open(identity, socket, last_seq=last_seq)
        self.sockets[device_id] = socket
        return socket

    def device(self, device_id: UUID) -> ActorRef:
        ref = self.runtime.registry.get("device", str(device_id))
        assert ref is not None
        return ref


FAST = RuntimeConfig(ask_timeout_s=2.0, stop_timeout_s=1.0, stuck_after_s=None)


@asynccontextmanager
async def running_node(
    url: str, node_id: str, hub: LocalHub, *, check_every_s: float = 0.2
) -> AsyncIterator[Node]:
    db = Database(url, min_size=1, max_size=4, application_name=f"test:{node_id}")
    await db.open(wait=True)
    store = Store(db)
    metrics = MetricsRegistry()
    relay = LocalRelay(
        node_id, hub=hub, codec=RelayCodec((*RELAY_MESSAGES, *TENANT_EVENTS)), metrics=metrics
    )
    feed = CountingFeed(StoreEmergencyFeed(store))
    node_emergencies = NodeEmergencies(feed, metrics)
    acks = BatchedAcks(store, metrics, node_id=node_id, flush_every_s=0.05)
    holder: dict[str, Any] = {}
    watch = EmergencyWatch(
        node_emergencies,
        tenants=lambda: holder["sessions"].tenants(),
        expire=lambda: holder["emergencies"].expire_due(),
        check_every_s=check_every_s,
    )
    reconciler = Reconciler(StoreDirectory(store), catch_up=node_emergencies.request_catch_up)
    runtime = Runtime(FAST, metrics=metrics, services=(relay, acks, watch, reconciler))
    sessions = NodeSessions(
        runtime,
        relay=relay,
        reconciler=reconciler,
        opening=IdleOpening(),
        acks=acks,
        presence=LocalPresence(node_id),
        emergencies=node_emergencies,
    )
    events = NodeEvents(runtime, relay)
    emergencies = Emergencies(store, events, _NoPresence())
    holder.update(sessions=sessions, emergencies=emergencies)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(runtime.run)
            yield Node(node_id, runtime, sessions, emergencies, relay, acks, watch, feed, metrics)
            runtime.stop()
    finally:
        await db.close()


class _NoPresence:
    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Any]:
        return {}


def operator(tenant_id: UUID) -> Principal:
    return Principal(
        user_id=uuid4(),
        tenant_id=tenant_id,
        email="operator@example.test",
        roles=frozenset({Role.EMERGENCY_OPERATOR}),
    )


async def trigger(
    node: Node,
    tenant_id: UUID,
    message: str = "Evacuate",
    target: TargetSpec | None = None,
    expires_in_s: int | None = None,
) -> Triggered:
    cmd = TriggerEmergency(
        message=message,
        severity="critical",
        target=target or TargetSpec(all=True),
        expires_in_s=expires_in_s,
    )
    return await node.emergencies.trigger(operator(tenant_id), tenant_id, cmd)


def secret_hash(device_id: UUID) -> bytes:
    """The stored secret digest of a seeded device (what its session authenticated with)."""
    return hashlib.sha256(device_id.bytes).digest()


def seed_tenant(url: str, devices: int, groups: Sequence[str] = ()) -> tuple[UUID, list[UUID]]:
    """A tenant with ``devices`` approved devices (inserted directly, as the owner)."""
    tenant_id = uuid4()
    device_ids = [uuid4() for _ in range(devices)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tenants (id, name, slug) VALUES (%s, %s, %s)",
            (tenant_id, "Nodes", f"nodes-{secrets.token_hex(4)}"),
        )
        for device_id in device_ids:
            conn.execute(
                "INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id,"
                " registered_from, name, groups) VALUES (%s, %s, 'approved', %s, 'hw', 'test',"
                " 'screen', %s)",
                (device_id, tenant_id, secret_hash(device_id), list(groups)),
            )
    return tenant_id, device_ids
