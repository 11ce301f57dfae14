"""Logging: JSON lines in production, readable lines in development.

Every record carries the current request id (a context variable set by the edge for the
duration of each HTTP request or WebSocket session), so one request's lines can be found
together. Never log a password, a token or a device secret.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar

import msgspec

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_json = msgspec.json.Encoder(enc_hook=str)
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
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
