"""Operators' inspection: the cluster's nodes (from PostgreSQL) and this node's actors.

Read-only, for ``platform_admin`` and ``platform_operator`` (``Permission.OPS_READ``).
Actor listings leave out each actor's own state summary (10,000 summaries are a load
test, not an inspection); ask for one actor to see its state.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import NotFound
from actors.pagination import ByActor, ByStart, Page, PageRequest, Paging
from actors.ports.uow import UnitOfWork
from actors.runtime import ActorSnapshot, Runtime, SupervisorSnapshot

MAX_ACTORS = 10_000
#: Actors per page when the query names no ``limit``.
ACTORS_PAGE = 1000
#: A node that has not reported for this long is shown as not alive.
NODE_STALE_AFTER = timedelta(seconds=30)


class NodeView(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    started_at: datetime
    sessions: int
    last_seen_at: datetime
    alive: bool
    stopped_at: datetime | None = None


class NodeQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET /ops/nodes?limit=&cursor=``: the most recently started first."""


class NodeList(msgspec.Struct, frozen=True):
    items: list[NodeView]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class ActorsQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET /ops/actors?kind=&limit=&cursor=``: by kind, then id. Pages are larger
    than elsewhere (an inspection of 10,000 actors is one or a few reads)."""

    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    limit: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=MAX_ACTORS,
            description=f"Rows per page (1 to {MAX_ACTORS}, default {ACTORS_PAGE}).",
        ),
    ] = ACTORS_PAGE


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
    #: Actors of the asked kind on this node (on every page).
    total: int
    items: list[ActorInfo]
    supervisors: list[SupervisorSnapshot]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class Ops:
    def __init__(self, uow: UnitOfWork, runtime: Runtime, node_id: str) -> None:
        self._uow = uow
        self._runtime = runtime
        self._node_id = node_id

    async def nodes(self, who: Principal, page: PageRequest[ByStart]) -> Page[NodeView, ByStart]:
        """One page of the cluster's nodes, the most recently started first."""
        authorize(who, Permission.OPS_READ, None)
        async with self._uow.platform() as tx:
            rows = await tx.nodes.page(page)
        now = datetime.now(UTC)
        found = page.page(rows, lambda n: ByStart(n.started_at, n.node_id))
        return found.map(
            lambda n: NodeView(
                node_id=n.node_id,
                started_at=n.started_at,
                sessions=n.sessions,
                last_seen_at=n.last_seen_at,
                alive=n.stopped_at is None and now - n.last_seen_at < NODE_STALE_AFTER,
                stopped_at=n.stopped_at,
            )
        )

    def actors(
        self, who: Principal, q: ActorsQuery, page: PageRequest[ByActor]
    ) -> tuple[ActorList, ByActor | None]:
        """One page of this node's actors (of ``q.kind``), by kind then id, and the key
        to resume after."""
        authorize(who, Permission.OPS_READ, None)
        found = self._runtime.snapshots(q.kind)  # sorted by (kind, id)
        start = 0
        if page.after is not None:
            after = (page.after.kind, page.after.id)
            start = bisect.bisect_right(found, after, key=lambda s: (s.kind, s.id))
        shown = page.page(found[start : start + page.fetch], lambda s: ByActor(s.kind, s.id))
        listing = ActorList(
            node_id=self._node_id,
            total=len(found),
            items=[ActorInfo.of(s) for s in shown.items],
            supervisors=self._runtime.supervisors(),
        )
        return listing, shown.next

    def actor(self, who: Principal, kind: str, id: str) -> ActorInfo:
        """:raises NotFound: if no such actor lives on this node."""
        authorize(who, Permission.OPS_READ, None)
        snapshot = self._runtime.snapshot(kind, id)
        if snapshot is None:
            raise NotFound(f"no actor {kind}/{id} on node {self._node_id}")
        return ActorInfo.of(snapshot)
