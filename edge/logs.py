"""Logging: JSON lines in production, readable lines in development.

Every record carries the current request id (a context variable set by the edge for the
duration of each HTTP request or WebSocket session), so one request's lines can be found
together; records logged while a request is handled also carry its route template
(``route``). Never log a password, a token or a device secret.

Loggers worth knowing: ``signage.access`` (one line per HTTP request, INFO),
``signage.security`` (refusals: 403, cross-tenant 404, refused logins and claims,
WARNING), ``edge.device_socket`` (device sessions opened, refused and closed, INFO).
All follow ``LOG_LEVEL``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from uuid import UUID

import msgspec

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
#: The matched route's template (``/api/v1/tenants/<uuid:tenant_id>/devices``), if any.
route_var: ContextVar[str | None] = ContextVar("route", default=None)


class Caller(msgspec.Struct, frozen=True):
    """Who the current request authenticated as, for the access log: ``ref`` is
    ``user:<uuid>`` or ``device:<uuid>``; ``tenant_id`` is the caller's own tenant."""

    ref: str
    tenant_id: UUID | None = None


caller_var: ContextVar[Caller | None] = ContextVar("caller", default=None)


def authenticated_as(ref: str, tenant_id: UUID | None = None) -> None:
    """Record who the current request authenticated as (the access log's ``principal``)."""
    caller_var.set(Caller(ref, tenant_id))


_json = msgspec.json.Encoder(enc_hook=str)
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (always) and ``route`` (inside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        route = route_var.get()
        if route is not None and not hasattr(record, "route"):
            record.route = route
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self._node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "node": self._node_id,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _json.encode(entry).decode()


def configure_logging(*, json: bool, level: str, node_id: str) -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if json:
        handler.setFormatter(JsonFormatter(node_id))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Hypercorn's access log duplicates ours; keep its error log.
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
    # The embedded development PostgreSQL narrates initdb at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
