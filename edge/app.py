"""The Quart app factory: builds the container, registers routes, errors and middleware."""

from __future__ import annotations

import re
import uuid

from quart import Quart, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from actors.settings import Settings
from edge import access_log, device_socket
from edge.api import ApiRouter, Operation
from edge.bodies import LimitedBody, LimitedRequest
from edge.container import EXTENSION_KEY, Container
from edge.dev_secret import with_installation_secret
from edge.logs import request_id_var
from edge.problems import register_error_handlers
from edge.routes import (
    audit,
    auth,
    cap,
    content,
    devices,
    docs,
    emergencies,
    emergency_templates,
    health,
    integrations,
    metrics,
    ops,
    pages,
    playlists,
    plays,
    schedules,
    sso,
    tenants,
    users,
    webhooks,
)

API_VERSION = "1.0.0"
#: Accepted as-is from ``X-Request-ID``; anything else is replaced by a fresh id.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

ROUTERS: tuple[ApiRouter, ...] = (
    health.router,
    metrics.router,
    auth.router,
    tenants.router,
    users.router,
    integrations.router,
    sso.router,
    audit.router,
    devices.router,
    ops.router,
    emergencies.router,
    cap.router,
    emergency_templates.router,
    content.router,
    playlists.router,
    schedules.router,
    webhooks.router,
    plays.router,
)


def create_app(settings: Settings, *, database_url: str | None = None) -> Quart:
    """Build the app. ``database_url`` overrides ``settings.database.url`` (the embedded
    development server's URL, or a test database)."""
    url = database_url or settings.database.url
    if url is None:
        raise ValueError("create_app needs a database URL")
    settings = with_installation_secret(settings)
    body_limits = {
        f"{router.blueprint.name}.{op.endpoint}": (
            op.max_body(settings) if callable(op.max_body) else op.max_body
        )
        for router in ROUTERS
        for op in router.operations
        if op.max_body is not None
    }
    app = Quart("signage")
    # Bodies start with the largest route limit and get their route's in before_request
    # (edge/bodies.py): Quart sizes them before routing.
    app.request_class = LimitedRequest
    app.config.update(
        MAX_CONTENT_LENGTH=max([settings.http.max_body_bytes, *body_limits.values()]),
        PROVIDE_AUTOMATIC_OPTIONS=False,
        JSON_SORT_KEYS=False,
    )
    # Routes match exactly: "/metrics/" is not "/metrics" (a proxy rule for one must not
    # be bypassed by the other).
    app.url_map.strict_slashes = True
    app.extensions[EXTENSION_KEY] = Container.build(settings, url)
    app.extensions["signage.operations"] = operations()

    @app.before_serving
    async def _start() -> None:
        await app.extensions[EXTENSION_KEY].start()

    @app.after_serving
    async def _stop() -> None:
        await app.extensions[EXTENSION_KEY].stop()

    # First: its clock starts before every other hook and its log line comes after them.
    access_log.install(
        app,
        app.extensions[EXTENSION_KEY].edge_metrics,
        trusted_proxy_hops=settings.http.trusted_proxy_hops,
    )

    @app.before_request
    async def _request_id_and_body_limit() -> None:
        given = request.headers.get("X-Request-ID", "")
        request_id_var.set(given if _REQUEST_ID.match(given) else uuid.uuid4().hex)
        # Refuse an announced oversized body before routing or reading it; bodies without
        # Content-Length are cut off at the same limit while they are read.
        limit = body_limits.get(request.endpoint or "", settings.http.max_body_bytes)
        request.max_content_length = limit
        if isinstance(request.body, LimitedBody):
            request.body.limit_to(limit)
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge(f"the body exceeds {limit} bytes")

    @app.after_request
    async def _echo_request_id(response: Response) -> Response:
        rid = request_id_var.get()
        if rid:
            response.headers["X-Request-ID"] = rid
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        # No page of this API may be framed (clickjacking); a route may set its own policy.
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        return response

    register_error_handlers(app)
    for router in ROUTERS:
        app.register_blueprint(router.blueprint)
    app.register_blueprint(device_socket.bp)
    app.register_blueprint(docs.bp)
    pages.preload()
    app.register_blueprint(pages.bp)
    return app


def operations() -> list[Operation]:
    return [op for router in ROUTERS for op in router.operations]
