"""Per request, after the answer: the access log line, the HTTP metrics, and the refusals
worth a WARNING (``signage.security``).

One ``signage.access`` INFO line per HTTP request::

    {"msg": "GET /api/v1/tenants/<uuid:tenant_id>/devices 200 3.1ms", "method": "GET",
     "route": "/api/v1/tenants/<uuid:tenant_id>/devices", "status": 200,
     "duration_ms": 3.12, "request_id": "…", "principal": "user:…", "client": "10.0.0.7"}

``route`` is the matched rule's template (``null`` when no route matched), never the raw
path: paths carry ids, and query strings may carry anything. ``principal`` is who the
request authenticated as (``user:<uuid>``, ``device:<uuid>``) or ``null``; ``client`` is
the address :func:`edge.client_address.client_address` attributes the request to.

Device WebSocket sessions are not HTTP requests here: ``edge/device_socket.py`` logs their
opening and end.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from uuid import UUID

from quart import Quart, Response, request

from actors import security_log
from edge.client_address import client_address
from edge.edge_metrics import EdgeMetrics
from edge.logs import Caller, caller_var, request_id_var, route_var

ACCESS_LOGGER = "signage.access"
log = logging.getLogger(ACCESS_LOGGER)

#: Login endpoints whose 401/429 answers are refused logins.
LOGIN_ENDPOINTS = frozenset({"auth.login"})

_started_at: ContextVar[float | None] = ContextVar("request_started_at", default=None)


def install(app: Quart, metrics: EdgeMetrics, *, trusted_proxy_hops: int) -> None:
    """Register the hooks. Call it before any other ``before_request`` hook: the clock
    starts in the first one, and this ``after_request`` hook then runs last (Quart runs
    them in reverse), after every header is set."""

    @app.before_request
    async def _start_clock() -> None:
        _started_at.set(time.perf_counter())
        caller_var.set(None)
        route_var.set(request.url_rule.rule if request.url_rule is not None else None)

    @app.after_request
    async def _log_answer(response: Response) -> Response:
        started = _started_at.get()
        seconds = 0.0 if started is None else time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else None
        status = response.status_code
        metrics.http_answered(request.method, route, status, seconds)
        caller = caller_var.get()
        client = client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"), trusted_proxy_hops
        )
        duration_ms = round(seconds * 1000, 2)
        log.info(
            "%s %s %d %.1fms",
            request.method,
            route or "(no route)",
            status,
            duration_ms,
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": request_id_var.get(),
                "principal": None if caller is None else caller.ref,
                "client": client,
            },
        )
        if status in (401, 403, 404, 429):
            log_refusal(status, caller, client)
        return response


def log_refusal(status: int, caller: Caller | None, client: str) -> None:
    """WARNING on ``signage.security`` for a 403, for a 404 a tenant user got on another
    tenant's URL, and for a refused login (401/429 from a login endpoint)."""
    target = (request.view_args or {}).get("tenant_id")
    target_tenant = target if isinstance(target, UUID) else None
    user = None if caller is None else caller.ref
    tenant = None if caller is None else caller.tenant_id
    event: str | None = None
    if status == 403:
        event = "http.forbidden"
    elif (
        status == 404
        and tenant is not None
        and target_tenant is not None
        and target_tenant != tenant
    ):
        event = "http.cross_tenant"
    elif status in (401, 429) and request.endpoint in LOGIN_ENDPOINTS:
        event = "auth.login_refused" if status == 401 else "auth.login_throttled"
    if event is None:
        return
    security_log.refused(
        event,
        user=user,
        tenant_id=tenant,
        target_tenant_id=target_tenant,
        request_id=request_id_var.get(),
        route=route_var.get(),
        method=request.method,
        status=status,
        client=client,
    )
