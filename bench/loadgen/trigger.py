"""Triggers: the request that starts a round, timed the way the benchmark reports it.

A round's clock starts just before the trigger's first byte is written (the TCP
connection is opened beforehand, as a keep-alive client's would be), which is
"from the moment the admin's POST is sent". Loopback hosts only.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import monotonic
from urllib.parse import urlsplit

from bench.loopback import require_loopback

#: A benchmark's HTTP call should answer in well under this; beyond it, something is stuck.
DEFAULT_HTTP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Triggered:
    """A sent trigger. Times are ``time.monotonic()`` readings."""

    #: Just before the request's first byte was written.
    sent_at: float
    #: When the whole response had been read.
    answered_at: float
    status: int
    body: bytes


#: What a round runs to start delivery; it must return the :class:`Triggered` it sent.
Trigger = Callable[[], Triggered]


class TriggerFailed(Exception):
    """The trigger was answered with a non-2xx status: nothing was (knowingly) sent."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


def http_call(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
) -> Triggered:
    """One HTTP/1.1 request on a fresh connection to a loopback ``http://`` URL.

    :raises NotLoopback: if the URL's host is not loopback.
    :raises TriggerFailed: if the status is not 2xx.
    :raises OSError: if the server cannot be reached (``TimeoutError`` after ``timeout_s``).
    """
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs, not {url!r}")
    host = require_loopback(parts.hostname)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout_s)
    try:
        conn.connect()  # also sets TCP_NODELAY; the request goes out in one write
        sent_at = monotonic()
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        answered_at = monotonic()
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise TriggerFailed(response.status, data)
    return Triggered(sent_at, answered_at, response.status, data)


def http_post_trigger(
    url: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
) -> Trigger:
    """A :data:`Trigger` that POSTs ``body`` to ``url`` (e.g. an emergency, JSON-encoded)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}

    def fire() -> Triggered:
        return http_call("POST", url, body, all_headers, timeout_s)

    return fire
