"""Process health, readiness and the API document: no auth, no side effects."""

from __future__ import annotations

from typing import Literal

import msgspec
from quart import Response, current_app

from edge.api import ApiRouter, encoded
from edge.container import container
from edge.openapi import build_openapi
from store import redis_client
from store.migrations import MigrationError, pending

router = ApiRouter("health", __name__, tag="health")

Check = Literal["ok", "down", "pending", "mismatch", "single-node"]


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok"]


class Readiness(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Literal["ready", "unavailable"]
    node_id: str
    database: Check
    migrations: Check
    relay: Check
    detail: str | None = None


@router.get("/health", summary="The process is up", response=Health, auth=None)
async def health() -> Response:
    return encoded(Health(status="ok"))


@router.get(
    "/ready",
    summary="PostgreSQL reachable and migrations current (503 otherwise)",
    response=Readiness,
    auth=None,
    errors=(503,),
)
async def ready() -> Response:
    app = container()
    database: Check = "down"
    migrations: Check = "down"
    detail: str | None = None
    try:
        async with app.db.pool.connection(timeout=app.settings.db_connect_timeout_s) as conn:
            database = "ok"
            todo = await pending(conn)
            migrations = "pending" if todo else "ok"
            if todo:
                detail = f"{len(todo)} migration(s) pending: run `signage migrate`"
    except MigrationError as exc:
        migrations, detail = "mismatch", str(exc)
    except Exception as exc:  # any failure here means "not ready"
        detail = f"database unreachable: {type(exc).__name__}"
    relay: Check = "single-node"
    if app.redis is not None:
        relay = "ok" if await redis_client.ping(app.redis) else "down"
    ok = database == "ok" and migrations == "ok"
    body = Readiness(
        status="ready" if ok else "unavailable",
        node_id=app.settings.node_id,
        database=database,
        migrations=migrations,
        relay=relay,
        detail=detail,
    )
    return encoded(body, status=200 if ok else 503)


@router.get("/openapi.json", summary="This document", auth=None)
async def openapi() -> Response:
    return encoded(build_openapi(current_app.extensions["signage.operations"], version="1.0.0"))
