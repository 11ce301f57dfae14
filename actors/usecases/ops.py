"""Operators' inspection: the cluster's nodes (from PostgreSQL) and this node's actors.

Read-only, for ``platform_admin`` and ``platform_operator`` (``Permission.OPS_READ``).
Actor listings leave out each actor's own state summary (10,000 summaries are a load
test, not an inspection); ask for one actor to see its state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import NotFound
from actors.ports import UnitOfWork
from actors.runtime import ActorSnapshot, Runtime, SupervisorSnapshot

MAX_ACTORS = 10_000
#: A node that has not reported for this long is shown as not alive.
NODE_STALE_AFTER = timedelta(seconds=30)


class NodeView(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    started_at: datetime
    sessions: int
    last_seen_at: datetime
    alive: bool
    stopped_at: datetime | None = None


class NodeList(msgspec.Struct, frozen=True):
    items: list[NodeView]


class ActorsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_ACTORS)] = 1000


class ActorInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An :class:`ActorSnapshot` as the API shows it (``state``: the actor's summary)."""

    kind: str
    id: str
    mailbox: int
    restarts: int
    last_message_at: datetime | None
    status: str
    supervisor: str
    capacity: int
    high_water: int
    processed: int
    crashes: int
    dropped: int
    overflows: int
    started_at: datetime
    busy_since: datetime | None = None
    state: dict[str, Any] | None = None

    @classmethod
    def of(cls, snapshot: ActorSnapshot) -> ActorInfo:
        return msgspec.convert(msgspec.to_builtins(snapshot), cls, strict=False)


class ActorList(msgspec.Struct, frozen=True):
    node_id: str
    total: int
    items: list[ActorInfo]
    supervisors: list[SupervisorSnapshot]


class Ops:
    def __init__(self, uow: UnitOfWork, runtime: Runtime, node_id: str) -> None:
        self._uow = uow
        self._runtime = runtime
        self._node_id = node_id

    async def nodes(self, who: Principal) -> NodeList:
        authorize(who, Permission.OPS_READ, None)
        async with self._uow.platform() as tx:
            nodes = await tx.nodes.all()
        now = datetime.now(UTC)
        return NodeList(
            items=[
                NodeView(
                    node_id=n.node_id,
                    started_at=n.started_at,
                    sessions=n.sessions,
                    last_seen_at=n.last_seen_at,
                    alive=n.stopped_at is None and now - n.last_seen_at < NODE_STALE_AFTER,
                    stopped_at=n.stopped_at,
                )
                for n in nodes
            ]
        )

    def actors(self, who: Principal, q: ActorsQuery) -> ActorList:
        authorize(who, Permission.OPS_READ, None)
        found = self._runtime.snapshots(q.kind)
        return ActorList(
            node_id=self._node_id,
            total=len(found),
            items=[ActorInfo.of(s) for s in found[: q.limit]],
            supervisors=self._runtime.supervisors(),
        )

    def actor(self, who: Principal, kind: str, id: str) -> ActorInfo:
        """:raises NotFound: if no such actor lives on this node."""
        authorize(who, Permission.OPS_READ, None)
        snapshot = self._runtime.snapshot(kind, id)
        if snapshot is None:
            raise NotFound(f"no actor {kind}/{id} on node {self._node_id}")
        return ActorInfo.of(snapshot)
