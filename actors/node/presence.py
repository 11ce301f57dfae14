"""Presence: which devices have a live session on this node, and when each last spoke.

Device actors update :class:`LocalPresence` (plain dict writes, no I/O on the heartbeat
path); it is also the node's synchronous session index (:meth:`LocalPresence.sessions`:
which actor holds a device's session, for the services that hand frames to sessions). A
presence service copies it periodically to the shared store (Redis, with TTLs, so a dead
node's devices fall offline by themselves) and writes ``last_seen_at`` to
PostgreSQL in one batched statement: presence is ephemeral, ``last_seen_at`` durable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from actors.domain.devices import Presence
from actors.node.outbox import Outbox
from actors.runtime import ActorRef


class SessionOwner(Protocol):
    """The actor holding a device's session, as services reach it: its outbox to queue a
    frame in, its ref to wake it."""

    @property
    def ref(self) -> ActorRef: ...

    @property
    def outbox(self) -> Outbox: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Entry:
    tenant_id: UUID
    owner: SessionOwner
    last_seen_at: datetime
    dirty: bool


class LocalPresence:
    """This node's live sessions (see the module docstring)."""

    def __init__(self, node_id: str, clock: Callable[[], datetime] = utc_now) -> None:
        self.node_id = node_id
        self._clock = clock
        self._live: dict[UUID, _Entry] = {}
        self._departed: dict[UUID, UUID] = {}
        #: Last-seen times of sessions that ended before their time was written.
        self._unwritten: dict[UUID, datetime] = {}
        #: Sessions opened since the last :meth:`take_fresh` (announced at once, batched).
        self._fresh: set[UUID] = set()
        #: Sessions opened since the last :meth:`take_arrived` (a "back online" webhook may
        #: be owed). A set of device ids: bounded by the fleet, whatever the churn.
        self._arrived: set[UUID] = set()

    def connected(self, tenant_id: UUID, device_id: UUID, owner: SessionOwner) -> None:
        """``owner`` (the session's actor) now holds the device's session."""
        self._live[device_id] = _Entry(tenant_id, owner, self._clock(), dirty=True)
        self._departed.pop(device_id, None)
        self._unwritten.pop(device_id, None)  # the new session's time is later
        self._fresh.add(device_id)
        self._arrived.add(device_id)

    def seen(self, device_id: UUID) -> None:
        entry = self._live.get(device_id)
        if entry is not None:
            entry.last_seen_at = self._clock()
            entry.dirty = True

    def disconnected(self, device_id: UUID, owner: object) -> None:
        """Forget the session, unless a newer one (another owner) took over already."""
        entry = self._live.get(device_id)
        if entry is not None and entry.owner is owner:
            del self._live[device_id]
            self._departed[device_id] = entry.tenant_id
            if entry.dirty:  # written with the next batch, not lost with the session
                self._unwritten[device_id] = entry.last_seen_at

    def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        found: dict[UUID, Presence] = {}
        for device_id in device_ids:
            entry = self._live.get(device_id)
            if entry is not None and entry.tenant_id == tenant_id:
                found[device_id] = Presence(self.node_id, entry.last_seen_at)
        return found

    def sessions(
        self, tenant_id: UUID, device_ids: Iterable[UUID]
    ) -> list[tuple[UUID, SessionOwner]]:
        """The live sessions on this node of those of ``device_ids`` that are the tenant's."""
        live = self._live
        found: list[tuple[UUID, SessionOwner]] = []
        for device_id in device_ids:
            entry = live.get(device_id)
            if entry is not None and entry.tenant_id == tenant_id:
                found.append((device_id, entry.owner))
        return found

    def live(self) -> list[tuple[UUID, UUID, datetime]]:
        """Every live session: ``(tenant_id, device_id, last_seen_at)``."""
        return [(e.tenant_id, d, e.last_seen_at) for d, e in self._live.items()]

    def entries(self, device_ids: Iterable[UUID]) -> list[tuple[UUID, UUID, datetime]]:
        """Those of ``device_ids`` with a live session here, as :meth:`live` gives them."""
        live = self._live
        return [
            (entry.tenant_id, device_id, entry.last_seen_at)
            for device_id in device_ids
            if (entry := live.get(device_id)) is not None
        ]

    def take_seen(self) -> list[tuple[UUID, datetime, str]]:
        """Sessions seen since the last call, ``(device_id, at, node_id)``, for one batched
        ``last_seen_at`` write; marks them clean. Sessions that ended since are in it too
        (with the time they were last seen), so a disconnect or a drain loses no time."""
        batch = [(device_id, at, self.node_id) for device_id, at in self._unwritten.items()]
        self._unwritten.clear()
        for device_id, entry in self._live.items():
            if entry.dirty:
                entry.dirty = False
                batch.append((device_id, entry.last_seen_at, self.node_id))
        return batch

    def take_fresh(self) -> list[tuple[UUID, UUID, datetime]]:
        """Sessions opened since the last call and still live, as :meth:`live` gives them."""
        fresh = [
            (entry.tenant_id, device_id, entry.last_seen_at)
            for device_id in self._fresh
            if (entry := self._live.get(device_id)) is not None
        ]
        self._fresh.clear()
        return fresh

    def take_arrived(self) -> list[UUID]:
        """Devices whose session opened since the last call (live or not by now)."""
        arrived = list(self._arrived)
        self._arrived.clear()
        return arrived

    def put_back_arrived(self, device_ids: Sequence[UUID]) -> None:
        """Return what :meth:`take_arrived` gave, when it could not be handled (retried)."""
        self._arrived.update(device_ids)

    def take_departed(self) -> list[tuple[UUID, UUID]]:
        """Sessions that ended since the last call, ``(tenant_id, device_id)``."""
        gone = [(tenant_id, device_id) for device_id, tenant_id in self._departed.items()]
        self._departed.clear()
        return gone

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._live
