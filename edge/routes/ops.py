"""Operators' endpoints: cluster nodes, this node's actors (platform_admin, platform_operator)."""

from __future__ import annotations

from quart import Response

from actors.usecases.ops import ActorInfo, ActorList, ActorsQuery, NodeList
from edge.api import ApiRouter, encoded, query
from edge.auth import authenticated
from edge.container import container

router = ApiRouter("ops", __name__, tag="ops")


@router.get("/api/v1/ops/nodes", summary="The cluster's nodes and their load", response=NodeList)
async def list_nodes() -> Response:
    who = await authenticated()
    return encoded(await container().ops.nodes(who))


@router.get(
    "/api/v1/ops/actors",
    summary="This node's actors (kind, id, mailbox depth, restarts, last message)",
    response=ActorList,
    query=ActorsQuery,
)
async def list_actors() -> Response:
    who = await authenticated()
    return encoded(container().ops.actors(who, query(ActorsQuery)))


@router.get(
    "/api/v1/ops/actors/<kind>/<id>",
    summary="One actor of this node, with its own state summary",
    response=ActorInfo,
    errors=(404,),
)
async def get_actor(kind: str, id: str) -> Response:
    who = await authenticated()
    return encoded(container().ops.actor(who, kind, id))
