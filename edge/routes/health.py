"""Process health, readiness and the API document: no auth, no side effects."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from quart import Response, current_app

from actors.ports.relay import RelayState
from edge.api import ApiRouter, encoded
from edge.container import container
from edge.openapi import build_openapi
from store.migrations import MigrationError, pending

router = ApiRouter("health", __name__, tag="health")

Check = Literal["ok", "down", "pending", "mismatch", "single-node"]
_RELAY: dict[RelayState, Check] = {
    RelayState.OK: "ok",
    RelayState.DOWN: "down",
    RelayState.SINGLE_NODE: "single-node",
}


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok"]


class Readiness(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Literal["ready", "unavailable"]
    node_id: str
    database: Check
    migrations: Check
    relay: Check
    actors: Check
    detail: str | None = None


@router.get("/health", summary="The process is up", response=Health, auth=None)
async def health() -> Response:
    return encoded(Health(status="ok"))


@router.get(
    "/ready",
    summary="PostgreSQL reachable and migrations current (503 otherwise)",
    response=Readiness,
    auth=None,
    same_body=(503,),
)
async def ready() -> Response:
    app = container()
    database: Check = "down"
    migrations: Check = "down"
    detail: str | None = None
    try:
        async with app.db.pool.connection(timeout=app.settings.database.connect_timeout_s) as conn:
            database = "ok"
            todo = await pending(conn)
            migrations = "pending" if todo else "ok"
            if todo:
                detail = f"{len(todo)} migration(s) pending: run `signage migrate`"
    except MigrationError as exc:
        migrations, detail = "mismatch", str(exc)
    except Exception as exc:  # any failure here means "not ready"
        detail = f"database unreachable: {type(exc).__name__}"
    # The relay's own view (its subscriber connection), not a ping: Redis down is shown
    # but is no reason to refuse traffic (principle 4).
    relay = _RELAY[app.relay.state]
    # A runtime whose root supervisor gave up serves no device: not ready.
    actors: Check = "ok" if app.runtime.state == "running" else "down"
    if app.draining:
        actors, detail = "down", "the node is shutting down"
    ok = database == "ok" and migrations == "ok" and actors == "ok"
    body = Readiness(
        status="ready" if ok else "unavailable",
        node_id=app.settings.node_id,
        database=database,
        migrations=migrations,
        relay=relay,
        actors=actors,
        detail=detail,
    )
    return encoded(body, status=200 if ok else 503)


@router.get("/openapi.json", summary="This document", response=dict[str, Any], auth=None)
async def openapi() -> Response:
    return encoded(build_openapi(current_app.extensions["signage.operations"], version="1.0.0"))
