"""Operators' endpoints: cluster nodes, this node's actors (platform_admin, platform_operator)."""

from __future__ import annotations

import msgspec
from quart import Response

from actors.pagination import ByActor, ByStart
from actors.usecases.ops import ActorInfo, ActorList, ActorsQuery, NodeList, NodeQuery
from edge.api import ApiRouter, encoded, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("ops", __name__, tag="ops")


@router.get(
    "/api/v1/ops/nodes",
    summary="The cluster's nodes and their load, most recently started first (paged)",
    query=NodeQuery,
    response=NodeList,
)
async def list_nodes() -> Response:
    who = await authenticated()
    pager = Pager(query(NodeQuery), ByStart, "nodes")
    found = await container().ops.nodes(who, pager.request)
    return encoded(NodeList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(
    "/api/v1/ops/actors",
    summary="This node's actors (kind, id, mailbox depth, restarts, last message; paged)",
    response=ActorList,
    query=ActorsQuery,
)
async def list_actors() -> Response:
    who = await authenticated()
    q = query(ActorsQuery)
    app = container()
    # Actors live in one node's memory: a cursor is only good on the node that made it.
    pager = Pager(q, ByActor, "actors", app.settings.node_id, q.kind)
    listing, after = app.ops.actors(who, q, pager.request)
    return encoded(msgspec.structs.replace(listing, next_cursor=pager.cursor_after(after)))


@router.get(
    "/api/v1/ops/actors/<kind>/<id>",
    summary="One actor of this node, with its own state summary",
    response=ActorInfo,
    errors=(404,),
)
async def get_actor(kind: str, id: str) -> Response:
    who = await authenticated()
    return encoded(container().ops.actor(who, kind, id))
