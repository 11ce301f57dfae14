"""The relay port: how a node's actors reach the other nodes' actors (SPEC §1, §6).

One channel per tenant. A node publishes a message for a tenant once (never once per
device); every *other* node subscribed to that tenant gets it and hands it to its local
tenant actor, which fans it out. Messages are msgspec Structs carried in an
:class:`Envelope` that names the origin node, so a node ignores its own publications.

The relay is best-effort by design (principle 4: Redis is ephemeral): ``publish`` returns
``False`` instead of raising when the message could not be handed over, and a subscriber
is told through its ``on_gap`` hook whenever it *may* have missed messages: when its
subscription was confirmed only after ``subscribe`` returned, and after every reconnect.
The hook's job is to catch up from PostgreSQL, the only source of truth.

Implementations: ``actors.relay.LocalRelay`` (one process: a single node, or several
simulated nodes sharing a ``LocalHub``); ``store.redis_relay.RedisRelay`` and
``store.redis_cluster_relay.RedisClusterRelay`` for many nodes. All run as runtime services
(``run``/``stop``).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Protocol
from uuid import UUID

import anyio
import anyio.abc
import msgspec


class RelayState(enum.StrEnum):
    """What ``/ready`` shows for the relay."""

    OK = "ok"
    DOWN = "down"
    SINGLE_NODE = "single-node"


class Resync(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="resync"):
    """Ask every node to rebuild its view of the tenant from PostgreSQL."""

    reason: str


#: Every message type that may cross the relay. A type needs a msgspec ``tag`` (it is a
#: member of a tagged union); add cross-node messages here.
RELAY_MESSAGES: tuple[type[msgspec.Struct], ...] = (Resync,)


class Envelope[M](msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """One message on the wire: who sent it, for which tenant, when, and what."""

    origin: str
    tenant: UUID
    #: Wall-clock seconds at the origin (for the delivery-latency histogram only).
    sent_at: float
    message: M


Deliver = Callable[[msgspec.Struct], None]


OnGap = Callable[[], None]


class Subscription:
    """One subscriber's interest in one tenant; :meth:`close` ends it."""

    __slots__ = ("_close", "deliver", "needs_gap", "on_gap", "tenant_id")

    def __init__(
        self,
        tenant_id: UUID,
        deliver: Deliver,
        on_gap: OnGap,
        close: Callable[[Subscription], Awaitable[None]],
    ) -> None:
        self.tenant_id = tenant_id
        self.deliver = deliver
        self.on_gap = on_gap
        #: Fire ``on_gap`` as soon as the subscription is (re)confirmed.
        self.needs_gap = False
        self._close = close

    async def close(self) -> None:
        """Stop receiving; idempotent, bounded, never raises for Redis trouble."""
        await self._close(self)


class Relay(Protocol):
    """The port the core depends on; see the module docstring."""

    node_id: str

    @property
    def state(self) -> RelayState: ...

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None: ...

    def stop(self) -> None: ...

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        """Hand ``message`` to the other nodes subscribed to ``tenant_id``; ``False`` if
        it could not be handed over in time (never raises for transport trouble).

        :raises TypeError: if ``message``'s type is not a relay message type.
        """
        ...

    async def subscribe(self, tenant_id: UUID, deliver: Deliver, on_gap: OnGap) -> Subscription:
        """Receive the other nodes' messages for ``tenant_id``.

        ``deliver`` and ``on_gap`` are called synchronously from the relay's reader: they
        must not block (``ref.tell`` is the intended body). Returns once the subscription
        is live or after the subscribe timeout; in the latter case (and when the relay
        is down) ``on_gap`` fires when it becomes live.
        """
        ...
