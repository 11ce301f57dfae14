"""The outbound HTTP adapter of webhooks: one POST of a signed body, under the
installation's destination policy (implements ``actors.ports.webhooks.WebhookSender``).

Deliberately small, over h11 (Hypercorn's HTTP/1.1 parser) and anyio sockets, so each
safety rule is visible here rather than a client library's default:

- the host name is resolved once per attempt and *every* address it yields must be
  allowed (:meth:`DestinationPolicy.refusal`); the connection goes to a checked address,
  so a DNS answer that changes between the check and the connect cannot redirect it;
- redirects are never followed: a 3xx is a failed attempt;
- one deadline (``timeout_s``) covers resolution, connection, TLS, sending and the
  status line; the response body is never read;
- TLS is verified against the system's CAs, or WEBHOOK_CA_FILE's for an internal CA.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Mapping

import anyio
import anyio.abc
import h11

from actors.domain.webhooks import DestinationPolicy, IpAddress, Outcome, WebhookTarget, parse_url
from actors.errors import Invalid

#: Bytes read at a time while waiting for the status line; h11 refuses a head larger
#: than its own limit (16 KiB), so a receiver cannot make the worker buffer more.
READ_CHUNK = 8192


@functools.cache
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying context per process and CA file, never changed once made: loading a
    trust store takes ~40 ms, which every app built (each test's, too) used to pay."""
    return ssl.create_default_context(cafile=ca_file)


class HttpWebhookSender:
    def __init__(
        self, policy: DestinationPolicy, *, timeout_s: float, ca_file: str | None = None
    ) -> None:
        self._policy = policy
        self._timeout_s = timeout_s
        self._tls = _tls_context(ca_file)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        try:
            target = parse_url(url, allow_http=self._policy.allow_http)
        except Invalid as exc:
            return Outcome(error=str(exc))
        try:
            with anyio.fail_after(self._timeout_s):
                return await self._post(target, body, headers)
        except TimeoutError:
            return Outcome(error=f"no answer within {self._timeout_s:g} s")
        except (OSError, ssl.SSLError, h11.ProtocolError, anyio.BrokenResourceError) as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}".rstrip(": "))

    async def _post(
        self, target: WebhookTarget, body: bytes, headers: Mapping[str, str]
    ) -> Outcome:
        addresses = await self._resolve(target)
        if isinstance(addresses, Outcome):
            return addresses
        failure: BaseException | None = None
        for address in addresses:
            try:
                stream: anyio.abc.ByteStream
                if target.scheme == "https":
                    stream = await anyio.connect_tcp(
                        str(address), target.port, ssl_context=self._tls, tls_hostname=target.host
                    )
                else:
                    stream = await anyio.connect_tcp(str(address), target.port)
            except OSError as exc:
                failure = exc
                continue
            async with stream:
                return await _exchange(stream, target, body, headers)
        return Outcome(error=f"could not connect to {target.host}: {failure}")

    async def _resolve(self, target: WebhookTarget) -> list[IpAddress] | Outcome:
        try:
            infos = await anyio.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return Outcome(error=f"cannot resolve {target.host}: {exc.strerror}")
        addresses: list[IpAddress] = []
        for *_, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            reason = self._policy.refusal(address)
            if reason is not None:  # one refused address refuses the name
                return Outcome(error=f"{target.host}: {reason}")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            return Outcome(error=f"{target.host} has no address")
        return addresses


async def _exchange(
    stream: anyio.abc.ByteStream, target: WebhookTarget, body: bytes, headers: Mapping[str, str]
) -> Outcome:
    conn = h11.Connection(our_role=h11.CLIENT)
    request = h11.Request(
        method="POST",
        target=target.target,
        headers=[
            ("Host", _host_header(target)),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *headers.items(),
        ],
    )
    head = conn.send(request)
    await stream.send(head + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(READ_CHUNK)
            except anyio.EndOfStream:
                data = b""
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            return _outcome(event.status_code)
        elif isinstance(event, h11.ConnectionClosed):
            return Outcome(error="the receiver closed the connection without answering")
        # 1xx informational responses: wait for the final one


def _outcome(status: int) -> Outcome:
    if not 100 <= status <= 599:
        return Outcome(error=f"not an HTTP status: {status}")
    if 200 <= status < 300:
        return Outcome(status=status)
    if 300 <= status < 400:
        return Outcome(status=status, error=f"HTTP {status}: redirects are not followed")
    return Outcome(status=status, error=f"HTTP {status}")


def _host_header(target: WebhookTarget) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"
