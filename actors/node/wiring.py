"""This node's session machinery in one place: the actor kinds it registers, and how
the edge opens a device session."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from actors.node import device_actor, tenant_actor
from actors.node.device_actor import DeviceActor
from actors.node.messages import Rejoin
from actors.node.presence import LocalPresence
from actors.node.recent_revocations import keep_for
from actors.node.tenant_actor import TenantActor
from actors.node.tenant_emergencies import NodeEmergencies
from actors.ports.fleet import FleetSink
from actors.ports.plays import PlaySink
from actors.ports.relay import Relay
from actors.ports.sessions import AckSink, DeviceSocket, SessionIdentity, SessionOpening
from actors.runtime import ActorKind, ActorRef, ActorStopped, RestartPolicy, Runtime, StopReason
from actors.services.manifest_feed import ManifestDelivery
from actors.services.reconciler import Reconciler
from actors.settings import SessionSettings

#: Device actors die with their session: the screen reconnecting is their restart.
DEVICE_RESTART = RestartPolicy(restart="temporary", on_give_up="stop")
#: Tenant actors rebuild from PostgreSQL after a crash (a resync), and give up quietly.
TENANT_RESTART = RestartPolicy(max_restarts=10, within_s=60.0, on_give_up="stop")


@dataclass(frozen=True, slots=True)
class Drained:
    """What :meth:`NodeSessions.drain` did."""

    #: Device sessions stopped.
    sessions: int
    #: Of them, the ones told ``reconnect`` and closed in the call itself.
    at_once: int


class NodeSessions:
    """Opens device sessions and finds tenant actors, on one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        relay: Relay,
        reconciler: Reconciler,
        opening: SessionOpening,
        acks: AckSink,
        presence: LocalPresence,
        emergencies: NodeEmergencies | None = None,
        manifests: ManifestDelivery | None = None,
        fleet: FleetSink | None = None,
        plays: PlaySink | None = None,
        config: SessionSettings | None = None,
    ) -> None:
        self.runtime = runtime
        self._config = config = config or SessionSettings()
        self._fleet = fleet
        self._plays = plays
        self.presence = presence
        self._opening = opening
        self._acks = acks
        self._relay = relay
        self._reconciler = reconciler
        self._emergencies = emergencies
        self._manifests = manifests
        #: Tenants whose actor was built before: a new incarnation has sessions to regain.
        self._tenants_seen: set[UUID] = set()
        runtime.register(
            ActorKind(
                name=tenant_actor.KIND,
                factory=self._tenant_actor,
                restart=TENANT_RESTART,
                capacity=config.tenant_mailbox,
                reserve=config.tenant_reserve,
            )
        )
        runtime.register(
            ActorKind(
                name=device_actor.KIND,
                restart=DEVICE_RESTART,
                capacity=config.device_mailbox,
                reserve=config.device_reserve,
            )
        )

    def _tenant_actor(self, id: str) -> TenantActor:
        tenant_id = UUID(id)
        seen = tenant_id in self._tenants_seen
        self._tenants_seen.add(tenant_id)
        return TenantActor(
            tenant_id,
            relay=self._relay,
            reconciler=self._reconciler,
            emergencies=self._emergencies,
            rejoin=self._rejoin if seen else None,
            manifests=self._manifests,
            revocations_kept_s=keep_for(
                self._config.send_timeout_s, self.runtime.config.ask_timeout_s
            ),
        )

    def _rejoin(self, tenant_id: UUID) -> None:
        """Ask the tenant's device actors on this node to register again."""
        registry = self.runtime.registry
        for tenant, device_id, _seen in self.presence.live():
            if tenant != tenant_id:
                continue
            ref = registry.get(device_actor.KIND, str(device_id))
            if ref is not None:
                with contextlib.suppress(ActorStopped):
                    ref.tell(Rejoin())

    def tenant(self, tenant_id: UUID) -> ActorRef:
        """This node's actor for ``tenant_id`` (spawned on first use)."""
        return self.runtime.registry.get_or_spawn(tenant_actor.KIND, str(tenant_id))

    def tenants(self) -> Sequence[ActorRef]:
        registry = self.runtime.registry
        refs = (registry.get(tenant_actor.KIND, s.id) for s in registry.snapshots("tenant"))
        return [ref for ref in refs if ref is not None]

    def devices(self) -> list[ActorRef]:
        """The device actors of this node (one per open session)."""
        return [c.ref for c in self.runtime.registry.cells() if c.kind == device_actor.KIND]

    def drain(self) -> Drained:
        """Stop every session for a node shutdown: each screen is told ``reconnect`` (with
        a jittered delay) and closed 1012. The sessions idle now — most of them — are told
        at once, in this call (:meth:`DeviceActor.farewell_now`: no task, no timer per
        session); the others by their actor's ``on_stop``. Returns without waiting for any
        screen's close reply: bounding that wait is the caller's."""
        sessions = at_once = 0
        for cell in self.runtime.registry.cells():
            if cell.kind != device_actor.KIND:
                continue
            sessions += 1
            actor = cell.actor
            if isinstance(actor, DeviceActor) and actor.farewell_now():
                at_once += 1
            cell.ref.stop(StopReason.SHUTDOWN)
        return Drained(sessions, at_once)

    def open(
        self,
        identity: SessionIdentity,
        socket: DeviceSocket,
        *,
        last_seq: int | None,
        recheck: Callable[[ActorRef], None] | None = None,
    ) -> ActorRef:
        """Start the device actor owning this session; an older session of the same device
        on this node is replaced (closed with 4409). Returns at once: the actor sends
        ``welcome`` and the opening frames from its own task.

        :raises ActorStopped: if the node is shutting down.
        """
        # The tenant's actor first: it subscribes to the relay while the device actor
        # sends welcome, so a tenant's first session waits less for its registration.
        self.tenant(identity.tenant_id)
        return self.runtime.registry.spawn(
            device_actor.KIND,
            str(identity.device_id),
            lambda: DeviceActor(
                identity,
                socket,
                tenant=self.tenant,
                opening=self._opening,
                acks=self._acks,
                presence=self.presence,
                fleet=self._fleet,
                plays=self._plays,
                last_seq=last_seq,
                config=self._config,
                jitter=random.random,
                recheck=recheck,
            ),
            replace=True,
        )
