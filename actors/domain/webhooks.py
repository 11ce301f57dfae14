"""Webhooks: the events a tenant can subscribe to, an endpoint's URL and where it may
point, how a delivery is signed, and when a failed one is tried again — pure.

Signing (docs/operations.md, "Webhooks"): every attempt carries

    Signage-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The timestamp is the attempt's, inside the signed bytes: a receiver that refuses
signatures older than a few minutes (:data:`SIGNATURE_TOLERANCE_S`) and remembers the
``Signage-Delivery`` ids it accepted within that window cannot be fed a replay.

Destinations (:class:`DestinationPolicy`): an on-premises installation often posts to
receivers on its own network, so which addresses are allowed is an explicit setting,
checked against every address the host name resolves to, at every attempt, and the
connection goes to the address that was checked (no second lookup to rebind).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit
from uuid import UUID

import msgspec

from actors.errors import Invalid

#: ``whsec_`` + 256 random bits (URL-safe base64): shown once, at creation.
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32
#: What the documentation tells receivers to accept, either side of their clock.
SIGNATURE_TOLERANCE_S = 300
MAX_URL_LENGTH = 2000
#: How much of an error message a delivery log keeps.
MAX_ERROR_CHARS = 300

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EventType(StrEnum):
    EMERGENCY_TRIGGERED = "emergency.triggered"
    #: Cleared by an operator or expired (``data.end_reason`` says which).
    EMERGENCY_CLEARED = "emergency.cleared"
    #: Still active WEBHOOK_DELIVERY_CHECK_S after its start, not acknowledged by every
    #: screen it targets.
    EMERGENCY_DELIVERY_INCOMPLETE = "emergency.delivery_incomplete"
    #: No session for at least WEBHOOK_OFFLINE_AFTER_S.
    DEVICE_OFFLINE = "device.offline"
    #: Connected again after a ``device.offline``.
    DEVICE_ONLINE = "device.online"
    CONTENT_PENDING_APPROVAL = "content.pending_approval"


WebhookUrl = Annotated[str, msgspec.Meta(min_length=8, max_length=MAX_URL_LENGTH)]
WebhookEvents = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=len(EventType))]
WebhookDescription = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
DeliveryState = Literal["pending", "delivered", "failed", "cancelled"]


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Signage-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={sign(secret, body, timestamp)}"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str, *, now: float) -> bool:
    """What a receiver does (the reference for docs/operations.md): the header parses,
    its timestamp is within :data:`SIGNATURE_TOLERANCE_S` of ``now``, and one of its
    ``v1`` signatures matches, compared in constant time."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > SIGNATURE_TOLERANCE_S:
        return False
    expected = sign(secret, body, timestamp)
    return any(hmac.compare_digest(expected, c) for c in candidates)


# --- where an endpoint may point ------------------------------------------------------------


class DestinationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Which receivers deliveries may reach (WEBHOOK_ALLOW_PUBLIC, WEBHOOK_ALLOWED_NETWORKS,
    WEBHOOK_ALLOW_HTTP).

    An address is allowed if it is in one of ``allowed_networks``, or if ``allow_public``
    and it is globally routable. Everything else — loopback, private ranges, link-local
    (cloud metadata services live at 169.254.169.254), multicast, reserved — is refused
    unless listed: listing ``10.20.0.0/16`` is how an installation lets webhooks reach
    its own alerting system and nothing else of its network.
    """

    allow_public: bool = True
    allowed_networks: tuple[IpNetwork, ...] = ()
    allow_http: bool = False

    @classmethod
    def parse(
        cls, *, allow_public: bool, allowed_networks: str, allow_http: bool
    ) -> DestinationPolicy:
        """:raises ValueError: naming the first entry of ``allowed_networks`` (comma-separated
        CIDRs) that is not a network."""
        networks: list[IpNetwork] = []
        for raw in allowed_networks.split(","):
            entry = raw.strip()
            if entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"not an IP network: {entry!r}") from None
        return cls(
            allow_public=allow_public, allowed_networks=tuple(networks), allow_http=allow_http
        )

    def refusal(self, address: IpAddress) -> str | None:
        """Why deliveries may not go to ``address``; ``None`` if they may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(address in network for network in self.allowed_networks):
            return None
        if self.allow_public and address.is_global and not address.is_multicast:
            return None
        kind = "a public" if address.is_global else "a non-public"
        return f"{address} is {kind} address that WEBHOOK_* settings do not allow"

    def check_url(self, url: str) -> WebhookTarget:
        """The parts of ``url`` a delivery needs, if its shape is acceptable (the host's
        addresses are checked at each attempt; an IP literal is checked now too).

        :raises Invalid: (422, field ``url``) naming what is wrong.
        """
        target = parse_url(url, allow_http=self.allow_http)
        try:
            literal = ipaddress.ip_address(target.host)
        except ValueError:
            return target
        reason = self.refusal(literal)
        if reason is not None:
            raise Invalid(reason, field="url")
        return target


class WebhookTarget(msgspec.Struct, frozen=True):
    scheme: Literal["http", "https"]
    host: str
    port: int
    #: Path and query, as sent in the request line.
    target: str


def parse_url(url: str, *, allow_http: bool) -> WebhookTarget:
    """:raises Invalid: (422, field ``url``) for anything but an absolute http(s) URL with
    a host and no credentials or fragment, or for ``http`` when it is not allowed."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 0x21 for c in url):
        raise Invalid("the URL must be at most 2000 characters, without spaces", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid("not a valid URL", field="url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Invalid("the URL must be http:// or https://", field="url")
    if scheme == "http" and not allow_http:
        raise Invalid("the URL must be https:// (WEBHOOK_ALLOW_HTTP is off)", field="url")
    if parts.username is not None or parts.password is not None:
        raise Invalid("the URL must not carry credentials (the signature authenticates)", "url")
    if parts.fragment:
        raise Invalid("the URL must not have a fragment", field="url")
    host = parts.hostname
    if not host:
        raise Invalid("the URL has no host", field="url")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookTarget(
        scheme="https" if scheme == "https" else "http",
        host=host,
        port=port if port is not None else (443 if scheme == "https" else 80),
        target=target,
    )


# --- retries ----------------------------------------------------------------------------------


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Bounded attempts with exponential backoff and jitter (WEBHOOK_MAX_ATTEMPTS,
    WEBHOOK_BACKOFF_BASE_S, WEBHOOK_BACKOFF_MAX_S)."""

    max_attempts: int = 12
    base_s: float = 2.0
    max_s: float = 3600.0

    def delay_after(self, attempts: int, rand: Callable[[], float] = random.random) -> float | None:
        """Seconds to wait after the ``attempts``-th failed attempt; ``None``: give up.

        Equal jitter: half the exponential step is kept, half is random, so a receiver
        that comes back is not hit by every endpoint's retries at once, and no retry
        comes sooner than half its step (``rand`` returns [0, 1)).
        """
        if attempts >= self.max_attempts:
            return None
        step = min(self.max_s, self.base_s * 2 ** max(0, attempts - 1))
        return float(step / 2 + rand() * step / 2)


def short_error(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + "…"


# --- what admins see --------------------------------------------------------------------------


class WebhookEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """An endpoint as admins see it (never its secret)."""

    id: UUID
    tenant_id: UUID
    url: str
    events: tuple[EventType, ...]
    description: str
    created_by: str
    created_at: datetime

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"webhook:{self.id}"


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """One event for one endpoint, as the delivery log shows it."""

    id: int
    event_id: UUID
    event_type: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    #: The receiver's HTTP status at the last attempt (``null``: no answer).
    last_status: int | None
    last_error: str | None
    finished_at: datetime | None


class DueDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery a worker has claimed: everything one attempt needs."""

    id: int
    tenant_id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    url: str
    secret: str
    body: str
    #: Counting this one.
    attempts: int


class OfflineCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """A screen quiet long enough to be reported offline, if no node holds its session."""

    tenant_id: UUID
    device_id: UUID
    name: str | None
    groups: tuple[str, ...]
    last_seen_at: datetime


class Outcome(msgspec.Struct, frozen=True):
    """How one attempt went: ``status`` is the receiver's answer (``None``: none came)."""

    status: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# --- events -----------------------------------------------------------------------------------


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON body of every delivery: ``id`` is the event's (the same for every endpoint
    that gets it, and across retries), ``data`` depends on ``type``."""

    id: UUID
    type: EventType
    tenant_id: UUID
    occurred_at: datetime
    data: msgspec.Struct


def subscribed(events: Iterable[EventType]) -> tuple[EventType, ...]:
    """``events`` de-duplicated in a stable order."""
    return tuple(sorted(set(events)))
