"""Configuration as data: frozen section Structs, loaded once from the environment and ``.env``.

Every knob the service has lives in one section with its default; code paths read a
section, never ``os.environ``. Each field's encoded name is its environment variable
(``DatabaseSettings.pool_min`` is ``DB_POOL_MIN``), and single-field ranges are
``msgspec.Meta`` constraints. Struct constructors do not check those: build Settings with
:func:`load_settings` (the environment) or :meth:`Settings.of` / :meth:`Settings.updated`
(keyword names are the variables' names in lower case), which convert and check. Either
fails with :class:`ConfigError`, whose message is a single line naming the variable.
The reference of every variable is docs/configuration.md (a test keeps it in step).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import msgspec

from actors.settings_sources import (
    ConfigError,
    check_redis_url,
    normalize_database_url,
    read_dotenv,
    read_value_file,
    redact_url,
)

__all__ = ["DEV_JWT_SECRET", "ConfigError", "Settings", "load_settings"]

#: Stands for "JWT_SECRET unset" outside production: the app then signs with a key generated
#: for the installation (edge/dev_secret.py), never with this published one. Refused in prod.
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me-0000"  # noqa: S105 - refused in prod
MIN_PROD_SECRET_BYTES = 32
#: OWASP's argon2id configurations (m, t) all spend at least this much memory x time.
MIN_PROD_ARGON2_KIB_X_PASSES = 7168 * 5
_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_ROLE_NAMES = {
    "platform_admin", "platform_operator", "tenant_admin", "editor", "approver", "scheduler",
    "emergency_operator", "device_manager", "auditor", "viewer",
}  # fmt: skip
#: Variables never printed (``repr``).
_SECRET_VARIABLES = frozenset({"JWT_SECRET", "SSO_SECRET_KEY"})

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeCount = Annotated[int, msgspec.Meta(ge=0)]


def _env(prefix: str, **names: str) -> Callable[[str], str]:
    """A section's ``rename``: a field's variable is ``prefix + FIELD`` unless named here."""
    return lambda field: names.get(field, prefix + field.upper())


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: never print a secret or a password.
        shown = (
            (f.name, "***" if f.encode_name in _SECRET_VARIABLES else redact_url(v))
            for f, v in zip(
                msgspec.structs.fields(self), msgspec.structs.astuple(self), strict=True
            )
        )
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in shown) + ")"


class DatabaseSettings(
    _Section, frozen=True, rename=_env("DB_", url="DATABASE_URL", data_dir="DATA_DIR")
):
    #: ``None`` only in dev: ``signage serve`` then starts an embedded PostgreSQL.
    url: str | None = None
    #: Data folder of the embedded development PostgreSQL (``make run`` with no DATABASE_URL).
    data_dir: str = ".data"
    pool_min: Count = 2
    pool_max: int = 10
    connect_timeout_s: float = 5.0
    #: ``signage serve`` retries an unreachable database this often at start (backoff
    #: from 0.5 s up to ``start_backoff_max_s``), then exits non-zero.
    start_attempts: Count = 8
    start_backoff_max_s: Positive = 5.0

    def __post_init__(self) -> None:
        if self.pool_max < self.pool_min:
            raise ConfigError("DB_POOL_MIN/DB_POOL_MAX: need 1 <= DB_POOL_MIN <= DB_POOL_MAX")


class RelaySettings(
    _Section, frozen=True, rename=_env("RELAY_", url="REDIS_URL", cluster="REDIS_CLUSTER")
):
    """The relay between nodes and the shared presence (REDIS_URL set)."""

    #: ``None`` means a single node with the in-process relay.
    url: str | None = None
    #: REDIS_URL names any seed node of a Redis Cluster: the relay and presence use the
    #: cluster client (sharded pub/sub per shard, hash-tagged presence keys).
    cluster: bool = False
    #: Prefix of every relay channel; give each installation (or test run) sharing one
    #: Redis its own.
    channel_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "signage"
    #: Use Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a single Redis.
    sharded: bool = False
    publish_timeout_s: Positive = 1.0
    #: How long a subscriber waits for Redis to confirm before going on (and catching up
    #: once the confirmation arrives).
    subscribe_timeout_s: Positive = 2.0
    #: Silence on the subscriber connection before it is pinged; no answer within the same
    #: time again and the connection is declared dead and replaced.
    ping_interval_s: Positive = 5.0
    #: Reconnection delays: from this, doubling per failure in a row up to
    #: RELAY_RECONNECT_MAX_S (with jitter).
    reconnect_base_s: Positive = 0.05
    reconnect_max_s: Positive = 5.0
    #: How long closing a connection may take before it is left to itself.
    close_timeout_s: Positive = 2.0

    def __post_init__(self) -> None:
        if self.cluster and self.url is None:
            raise ConfigError("REDIS_CLUSTER: needs REDIS_URL (any seed node of the cluster)")
        if self.cluster and self.url is not None and self.url.startswith("unix:"):
            raise ConfigError("REDIS_CLUSTER: REDIS_URL must be redis:// or rediss:// (TCP)")
        if self.reconnect_max_s < self.reconnect_base_s:
            raise ConfigError("RELAY_RECONNECT_MAX_S: must be at least RELAY_RECONNECT_BASE_S")


class AuthSettings(_Section, frozen=True, rename=_env("")):
    """Admin access tokens and login sessions (docs/security.md)."""

    jwt_secret: str = DEV_JWT_SECRET
    jwt_algo: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "signage"
    jwt_audience: str = "signage-admin"
    #: Clock skew tolerated between nodes when checking access tokens' exp/iat.
    jwt_leeway_s: NonNegativeCount = 5
    access_token_ttl_s: Count = 900
    refresh_token_ttl_s: Count = 14 * 24 * 3600
    #: Absolute lifetime of a login session (a refresh-token family), however often refreshed.
    session_max_age_s: Count = 30 * 24 * 3600
    #: A refresh token presented again this soon after it was spent gets a pair of its own
    #: (two tabs refreshing at once); later, it is a replay and ends the session.
    refresh_reuse_grace_s: Annotated[int, msgspec.Meta(ge=0, le=60)] = 10
    #: Lifetime of the one-time password an admin reset hands out (it must be changed at
    #: the first login, and no longer works after this unused).
    temporary_password_ttl_s: Annotated[int, msgspec.Meta(ge=60)] = 72 * 3600


class MfaSettings(_Section, frozen=True, rename=_env("MFA_")):
    """Second factor (TOTP)."""

    #: How long a login's challenge waits for its code.
    challenge_ttl_s: Annotated[int, msgspec.Meta(ge=30, le=3600)] = 300
    #: The issuer name authenticator apps show.
    issuer: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern="^[^:]*$")] = "Signage"
    #: Roles that must have a second factor in every tenant and on the platform
    #: (comma-separated, e.g. "platform_admin,tenant_admin"; tenants can require it for
    #: more of their roles).
    required_roles: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.roles) - _ROLE_NAMES
        if unknown:
            raise ConfigError(f"MFA_REQUIRED_ROLES: not a role: {', '.join(sorted(unknown))}")

    @property
    def roles(self) -> tuple[str, ...]:
        """MFA_REQUIRED_ROLES as a tuple of role names."""
        return tuple(r for r in (p.strip() for p in self.required_roles.split(",")) if r)


class PasswordSettings(_Section, frozen=True, rename=_env("PASSWORD_")):
    #: Argon2id parameters; defaults are the OWASP password storage cheat sheet's
    #: (m=19 MiB, t=2, p=1). Raising them re-hashes each password at its next login.
    memory_kib: Count = 19456
    time_cost: Count = 2
    parallelism: Count = 1
    #: Hashes computed at once (each holds PASSWORD_MEMORY_KIB) and allowed to wait for a
    #: slot; beyond that, logins answer 429 instead of queueing without bound.
    hash_concurrency: Count = 2
    hash_queue: NonNegativeCount = 64


class LoginSettings(_Section, frozen=True, rename=_env("LOGIN_")):
    #: Failed logins: per account and per source address (IPv6: per /64), counted over
    #: LOGIN_WINDOW_S; past the free budget each failure blocks the key for
    #: LOGIN_BLOCK_BASE_S doubling up to LOGIN_BLOCK_MAX_S. Successes never count.
    window_s: Count = 3600
    account_max_failures: Count = 5
    address_max_failures: Count = 50
    block_base_s: Count = 1
    block_max_s: Count = 900


class SsoSettings(_Section, frozen=True, rename=_env("SSO_")):
    """Single sign-on, OpenID Connect (docs/operations.md, "SSO")."""

    #: Key material sealing the providers' client secrets at rest (empty: derived from
    #: JWT_SECRET). Changing it makes the stored secrets unreadable.
    secret_key: str = ""
    #: How long a started sign-in waits for its callback (its state is single use).
    state_ttl_s: Count = 600
    #: Time and size bounds of every call to an identity provider.
    http_timeout_s: Positive = 5.0
    max_response_bytes: Count = 256 * 1024
    #: Discovery documents and JWKS are cached this long (an unknown key id refetches).
    metadata_ttl_s: Count = 3600
    #: Clock skew tolerated on ID tokens' exp/iat/nbf.
    leeway_s: NonNegativeCount = 60
    #: Comma-separated URL prefixes an issuer must start with (empty: any). The server
    #: fetches what tenant admins configure: list your identity providers here.
    allowed_issuers: str = ""
    #: Sign-in starts and callbacks per source address (IPv6: /64), per node.
    burst: int = 100
    per_s: float = 2.0

    @property
    def issuer_prefixes(self) -> tuple[str, ...]:
        """SSO_ALLOWED_ISSUERS as a tuple of URL prefixes."""
        return tuple(p for p in (p.strip() for p in self.allowed_issuers.split(",")) if p)


class HttpSettings(_Section, frozen=True, rename=_env("")):
    max_body_bytes: int = 1024 * 1024
    #: Reverse proxies in front of the nodes that append to X-Forwarded-For (0: trust none).
    trusted_proxy_hops: int = 0
    #: Requests per integration credential, per node: a burst, then a steady refill; 429
    #: with Retry-After past it (docs/security.md, "Integration credentials").
    integration_burst: int = 100
    integration_per_s: float = 20.0
    #: Source addresses (or device ids) whose buckets are remembered at once, per node.
    rate_limit_max_keys: int = 100_000


class ActorSettings(_Section, frozen=True, rename=_env("ACTOR_")):
    """The actor runtime (docs/actors.md)."""

    #: Messages an actor's mailbox holds before its overflow policies apply, and the extra
    #: room never-drop messages get past that (the actor is killed when that is full too).
    mailbox_capacity: Count = 1024
    mailbox_reserve: NonNegativeCount = 256
    ask_timeout_s: Positive = 5.0
    #: Time an actor gets to finish its message and on_stop before it is cancelled.
    stop_timeout_s: Positive = 5.0
    #: A handler running longer than this is killed and counted as a crash (0: never).
    stuck_after_s: NonNegative = 30.0
    #: Restart budget: more than ACTOR_RESTART_MAX crashes within ACTOR_RESTART_WITHIN_S
    #: and the supervisor gives up; restarts back off from ACTOR_BACKOFF_INITIAL_S doubling
    #: up to ACTOR_BACKOFF_MAX_S.
    restart_max: NonNegativeCount = 5
    restart_within_s: Positive = 60.0
    backoff_initial_s: NonNegative = 0.1
    backoff_max_s: float = 10.0

    def __post_init__(self) -> None:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError("ACTOR_BACKOFF_*: need 0 <= ACTOR_BACKOFF_INITIAL_S <= _MAX_S")


class RegistrationSettings(
    _Section,
    frozen=True,
    rename=_env(
        "REGISTRATION_",
        pairing_ttl_s="PAIRING_TTL_S",
        poll_burst="DEVICE_POLL_BURST",
        poll_per_s="DEVICE_POLL_PER_S",
        housekeeping_every_s="HOUSEKEEPING_EVERY_S",
    ),
):
    """New screens: registration, pairing codes (docs/devices.md)."""

    #: How long a pairing code shown on a new screen stays claimable.
    pairing_ttl_s: int = 600
    #: Registrations per source address: a burst big enough for a building's rollout
    #: behind one NAT, then a steady refill. 429 with Retry-After beyond it.
    burst: int = 500
    per_s: float = 5.0
    #: Live pending registrations allowed per source (IPv4 address, IPv6 /64) and in all.
    max_pending_per_source: int = 2000
    max_pending: int = 100_000
    #: Each source's first REGISTRATION_RESERVED_PER_SOURCE pending registrations are
    #: admitted even when the shared cap above is full, from a reserve of at most
    #: REGISTRATION_RESERVE_TOTAL: a flood from elsewhere cannot keep a new site's screens
    #: from showing their codes.
    reserved_per_source: NonNegativeCount = 20
    reserve_total: NonNegativeCount = 20_000
    #: Unauthenticated device-endpoint calls (GET /devices/self) per source address.
    poll_burst: int = 1000
    poll_per_s: float = 100.0
    #: How often each node deletes expired pending registrations.
    housekeeping_every_s: float = 60.0


class ClaimSettings(_Section, frozen=True, rename=_env("CLAIM_")):
    #: Failed pairing-code claims per tenant, on every node (successes never count):
    #: CLAIM_MAX_FAILURES within CLAIM_WINDOW_S are free, then each failure blocks the
    #: tenant's claims for CLAIM_BLOCK_BASE_S doubling up to CLAIM_BLOCK_MAX_S. Failures
    #: are audited at most once per CLAIM_AUDIT_EVERY_S per tenant (with their count).
    max_failures: Count = 20
    window_s: Count = 3600
    block_base_s: Count = 1
    block_max_s: Count = 900
    audit_every_s: NonNegativeCount = 60


class AdmissionSettings(_Section, frozen=True, rename=_env("WS_")):
    """Admission control (docs/operations.md)."""

    #: WebSocket connection attempts per source address (a building's reconnect storm
    #: behind one NAT must pass; 429 + Retry-After past it, before the upgrade).
    connect_burst: int = 2000
    connect_per_s: float = 200.0
    #: Sessions one node holds, and sessions being opened at once; past either, 503 +
    #: Retry-After before the upgrade.
    max_sessions: Count = 20_000
    max_opening: Count = 1_000


class WebSocketSettings(_Section, frozen=True, rename=_env("WS_")):
    """One device session (docs/devices.md)."""

    #: A session must authenticate (header or hello) within this, and then send something
    #: (a heartbeat) at least this often, or it is closed.
    hello_timeout_s: float = 5.0
    idle_timeout_s: float = 90.0
    #: Inbound frames per session: burst, then per second; past it the session closes (1008).
    inbound_burst: int = 20
    inbound_per_s: float = 2.0
    #: Protocol errors tolerated per session (each answered with an error frame).
    max_protocol_errors: int = 3
    #: How long a close (and the frame before it) may take before the connection is
    #: abandoned to the server. (A draining node does not wait for it per session: it
    #: drops every connection still open at its one deadline.)
    close_timeout_s: Positive = 2.0
    #: Server pings (0: off). Off by default: Hypercorn's ping loop outlives its connection by
    #: up to one interval (costly in reconnect storms, and it delays shutdown); the device
    #: heartbeats and WS_IDLE_TIMEOUT_S find dead peers and keep NAT mappings alive instead.
    ping_interval_s: float = 0.0


class ReconcileSettings(_Section, frozen=True, rename=_env("RECONCILE_")):
    """The reconciler: tenant actors' sessions compared with the session directory in
    PostgreSQL (actors/services/reconciler.py)."""

    #: How often every tenant actor is asked to reconcile, relay gap or not.
    every_s: Positive = 60.0
    #: How long one directory read may take before it counts as failed.
    read_timeout_s: Positive = 5.0
    #: How soon a failed read is tried again.
    retry_s: Positive = 5.0


class SessionSettings(_Section, frozen=True, rename=_env("SESSION_")):
    """The actors behind each screen inside a node (actors/node, docs/actors.md)."""

    #: A device actor's mailbox holds control messages only (frames live in its outbox).
    device_mailbox: Count = 64
    device_reserve: NonNegativeCount = 16
    #: A tenant actor's mailbox takes a whole node's reconnect storm: every screen's
    #: registration is a never-drop message, and an overflow would kill the actor holding
    #: the tenant's sessions. Entries cost nothing until queued (the queue is a deque).
    tenant_mailbox: Count = 32_768
    tenant_reserve: NonNegativeCount = 32_768
    #: A send to a screen blocked this long closes its session (1013): it reconnects.
    send_timeout_s: Positive = 10.0
    #: The last frame before a close (``reconnect``, ``revoked``) gets this long.
    farewell_timeout_s: Positive = 1.0
    #: A shutting-down node asks screens to reconnect within this spread (ms), so they do
    #: not all land on the surviving nodes in the same instant.
    reconnect_spread_ms: NonNegativeCount = 5_000


class ManifestSettings(_Section, frozen=True, rename=_env("MANIFEST_")):
    """Schedules and manifests (docs/content.md)."""

    #: A manifest covers at least this far ahead of now...
    horizon_s: int = 24 * 3600
    #: ...planned from now rounded down to this step: time alone changes a screen's
    #: manifest once per step (window boundaries, validity ends, the horizon moving on).
    step_s: Annotated[int, msgspec.Meta(ge=60)] = 3600
    #: How often each node looks for tenants whose manifests need the next step.
    tick_s: Positive = 60.0
    #: How long a node holds a tenant it advances the horizon of (others leave it alone).
    lease_s: Positive = 300.0
    #: Tenants one node recomputes at the same time (planning runs in worker threads).
    workers: Count = 2
    #: A new session waits this long for its manifest, then starts without it (the
    #: manifest follows as soon as it is ready).
    opening_timeout_s: Positive = 5.0
    #: Changed devices named one by one in a relayed change notice; beyond it the notice
    #: says "any device" and each node compares its sessions' versions instead.
    notice_max_ids: NonNegativeCount = 256
    #: A manifest's encoded size limit (docs/security.md).
    max_bytes: Count = 1024 * 1024
    #: Groups and devices a pending recompute names before it becomes "everyone".
    max_named: Count = 1024
    #: Tenants leased per tick for the horizon (more are taken at the next tick).
    due_batch: Count = 64
    #: Screens' manifest acknowledgements are written this often...
    ack_flush_s: Positive = 2.0
    #: ...and this many are buffered before the oldest are dropped (they are informational).
    ack_buffer: Count = 50_000
    #: At stop, the last write of those acknowledgements may take this long.
    final_flush_s: Positive = 2.0
    #: Devices whose last frame the opening cache holds (all tenants); past it, it starts
    #: over (frames are shared strings: an entry costs ~100 bytes).
    cached_frames: Count = 200_000

    def __post_init__(self) -> None:
        if self.horizon_s < self.step_s:
            raise ConfigError("MANIFEST_HORIZON_S: must be at least MANIFEST_STEP_S")


class ContentSettings(_Section, frozen=True, rename=_env("", max_items="CONTENT_MAX_ITEMS")):
    """Media and content limits (docs/content.md, docs/security.md)."""

    media_root: str = ".data/media"
    media_base_url: str = "/media"
    max_upload_bytes: Count = 50 * 1024 * 1024
    #: Limits on what a tenant's editors can make screens (and every node) carry: the text
    #: and HTML bodies one playlist plays, in bytes; content items not archived and
    #: uploaded media bytes per tenant; and the total time one upload's body may take.
    playlist_max_body_bytes: Count = 512 * 1024
    max_items: Count = 10_000
    media_quota_bytes: Count = 20 * 1024**3
    upload_deadline_s: Positive = 600.0


class EmergencySettings(_Section, frozen=True, rename=_env("EMERGENCY_")):
    """Emergencies (docs/emergencies.md)."""

    #: How often each node reads every tenant's last emergency number from PostgreSQL and
    #: catches up on any it missed (the bound on delivery while Redis is down), and ends
    #: the emergencies whose expiry has passed.
    check_every_s: Positive = 1.0
    #: Screens' acknowledgements are written in one statement per batch this often.
    ack_flush_s: Positive = 0.5


class FleetSettings(_Section, frozen=True, rename=_env("FLEET_")):
    """Fleet health and commands (docs/devices.md, "Status", "Commands")."""

    #: Screens' latest status (heartbeat fields) is written in one statement this often.
    status_flush_s: Positive = 10.0
    #: Screens' answers to remote commands are written this often.
    answer_flush_s: Positive = 0.5


class PresenceSettings(
    _Section, frozen=True, rename=_env("PRESENCE_", last_seen_flush_s="LAST_SEEN_FLUSH_S")
):
    """Where screens are connected, as every node sees it (actors/services/presence_service.py)."""

    #: Sessions opened and ended since the last round are announced this often: other
    #: nodes see a screen come and go within twice this.
    announce_every_s: Positive = 0.25
    #: How long after its last announcement a live session is announced again to the
    #: shared presence (Redis): a third of PRESENCE_TTL_S, so a key survives two lost
    #: refreshes...
    interval_s: Positive = 5.0
    #: ...whose entries live this long, so that a dead node's screens fall offline by
    #: themselves.
    ttl_s: Count = 15
    #: This node's row (``/api/v1/ops/nodes``) is written this often.
    node_heartbeat_s: Positive = 5.0
    #: Screens' last-seen times are written to PostgreSQL in one statement this often.
    last_seen_flush_s: Positive = 30.0


class GcSettings(_Section, frozen=True, rename=_env("GC_")):
    #: Freeze the heap (gc.freeze) once the session count has been steady this long, so
    #: that a full garbage collection cannot stall a fan-out; 0 turns it off.
    freeze_settle_s: NonNegative = 10.0


class WebhookSettings(_Section, frozen=True, rename=_env("WEBHOOK_")):
    """Webhooks (docs/operations.md, "Webhooks")."""

    #: Where deliveries may go: globally routable addresses (WEBHOOK_ALLOW_PUBLIC), plus
    #: the networks listed in WEBHOOK_ALLOWED_NETWORKS (comma-separated CIDRs, e.g.
    #: "10.20.0.0/16,192.168.5.7/32"); everything else (loopback, private, link-local,
    #: metadata services) is refused. http:// URLs only with WEBHOOK_ALLOW_HTTP.
    allow_public: bool = True
    allowed_networks: str = ""
    allow_http: bool = False
    #: A PEM bundle of the CAs receivers' certificates are checked against (default:
    #: the system's), for receivers behind an internal CA.
    ca_file: str | None = None
    #: One attempt's deadline (resolve, connect, TLS, send, status line).
    timeout_s: Positive = 10.0
    #: Attempts per delivery, and the backoff between them: BASE doubling up to MAX,
    #: half of each step random.
    max_attempts: Count = 12
    backoff_base_s: Positive = 5.0
    backoff_max_s: float = 3600.0
    #: Deliveries in flight at once per node, and how often an idle worker looks again.
    concurrency: Count = 8
    poll_s: Positive = 1.0
    max_per_tenant: Count = 20
    #: A screen with no session this long is reported offline (device.offline).
    offline_after_s: Positive = 120.0
    #: An emergency still not acknowledged by every targeted screen this long after its
    #: start is reported (emergency.delivery_incomplete).
    delivery_check_s: Positive = 30.0
    #: How often each node looks for offline screens and incomplete deliveries.
    sweep_every_s: Positive = 5.0
    #: Finished deliveries stay in the delivery log this long...
    log_retention_s: Positive = 7 * 24 * 3600.0
    #: ...and each node deletes the older ones this often.
    purge_every_s: Positive = 3600.0
    #: How often a node hands the sessions it opened to the "back online" check.
    arrivals_every_s: Positive = 1.0
    #: A delivery's lease outlives the attempt's deadline (WEBHOOK_TIMEOUT_S) by this much.
    lease_margin_s: Positive = 20.0

    def __post_init__(self) -> None:
        if self.backoff_max_s < self.backoff_base_s:
            raise ConfigError("WEBHOOK_BACKOFF_MAX_S: must be at least WEBHOOK_BACKOFF_BASE_S")
        for entry in self.allowed_networks.split(","):
            if entry.strip():
                try:
                    ipaddress.ip_network(entry.strip(), strict=False)
                except ValueError:
                    raise ConfigError(
                        f"WEBHOOK_ALLOWED_NETWORKS: not an IP network: {entry.strip()!r}"
                    ) from None


class PlaySettings(_Section, frozen=True, rename=_env("PLAY_")):
    """Proof of play (docs/devices.md, "Proof of play")."""

    #: Played items one screen may report: a burst (at least a full frame), then a steady
    #: refill (per second); past it the frame is refused with an error frame (repeated: 1008).
    items_burst: Annotated[int, msgspec.Meta(ge=20)] = 200
    items_per_s: Positive = 2.0
    #: Reported plays are written (rolled up per hour) in one transaction this often.
    flush_s: Positive = 5.0
    #: Hours of plays older than this are deleted (reports cover at most this far back)...
    retention_days: Count = 400
    #: ...by each node this often.
    purge_every_s: Positive = 3600.0


class LifecycleSettings(_Section, frozen=True, rename=_env("SHUTDOWN_")):
    """Start and stop of a node (docs/operations.md)."""

    #: SIGTERM: drain, finish requests, flush and exit within this.
    grace_s: Positive = 10.0
    #: The share of SHUTDOWN_GRACE_S given to closing screen sessions; the rest is for
    #: HTTP requests in flight and the final flush.
    drain_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.6
    #: How long the drain waits for the screens' close replies, all of them under this one
    #: deadline (within the share above): a player that reads answers within a round trip;
    #: the connections of those that did not answer by then are dropped (their players
    #: reconnect on the dropped connection just the same).
    close_replies_s: Positive = 1.0
    #: How long the final stop (runtime, flush, pool) may take once the grace has run out...
    final_stop_s: Positive = 5.0
    #: ...and after a second signal.
    hard_stop_s: Positive = 1.0
    #: At stop, each batched writer's last flush (emergency acks, plays, fleet status,
    #: last-seen times) may take this long.
    flush_timeout_s: Positive = 5.0


def _section[T](kind: type[T]) -> T:
    return msgspec.field(default_factory=kind)


class Settings(
    _Section,
    frozen=True,
    rename={"env": "ENV", "node_id": "NODE_ID", "log_level": "LOG_LEVEL"},
):
    env: Literal["dev", "test", "prod"] = "dev"
    node_id: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database: DatabaseSettings = _section(DatabaseSettings)
    relay: RelaySettings = _section(RelaySettings)
    auth: AuthSettings = _section(AuthSettings)
    mfa: MfaSettings = _section(MfaSettings)
    passwords: PasswordSettings = _section(PasswordSettings)
    login: LoginSettings = _section(LoginSettings)
    sso: SsoSettings = _section(SsoSettings)
    http: HttpSettings = _section(HttpSettings)
    actors: ActorSettings = _section(ActorSettings)
    registration: RegistrationSettings = _section(RegistrationSettings)
    claims: ClaimSettings = _section(ClaimSettings)
    admission: AdmissionSettings = _section(AdmissionSettings)
    websocket: WebSocketSettings = _section(WebSocketSettings)
    sessions: SessionSettings = _section(SessionSettings)
    reconcile: ReconcileSettings = _section(ReconcileSettings)
    manifests: ManifestSettings = _section(ManifestSettings)
    content: ContentSettings = _section(ContentSettings)
    emergencies: EmergencySettings = _section(EmergencySettings)
    fleet: FleetSettings = _section(FleetSettings)
    presence: PresenceSettings = _section(PresenceSettings)
    gc: GcSettings = _section(GcSettings)
    webhooks: WebhookSettings = _section(WebhookSettings)
    plays: PlaySettings = _section(PlaySettings)
    lifecycle: LifecycleSettings = _section(LifecycleSettings)

    def __post_init__(self) -> None:
        # The rules that span sections; each section checks its own.
        if not self.is_prod:
            return
        secret = self.auth.jwt_secret
        if len(secret.encode()) < MIN_PROD_SECRET_BYTES:
            raise ConfigError(
                f"JWT_SECRET: must be at least {MIN_PROD_SECRET_BYTES} bytes in ENV=prod"
            )
        if secret == DEV_JWT_SECRET:
            raise ConfigError("JWT_SECRET: the development default is refused in ENV=prod")
        needed = _HMAC_KEY_BYTES[self.auth.jwt_algo]
        if len(secret.encode()) < needed:
            # RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
            raise ConfigError(
                f"JWT_SECRET: {self.auth.jwt_algo} needs at least {needed} bytes in ENV=prod"
            )
        if self.database.url is None:
            raise ConfigError("DATABASE_URL: required in ENV=prod")
        hashing = self.passwords
        if hashing.memory_kib * hashing.time_cost < MIN_PROD_ARGON2_KIB_X_PASSES:
            raise ConfigError(
                "PASSWORD_MEMORY_KIB x PASSWORD_TIME_COST: below the OWASP minimum in ENV=prod"
            )

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @classmethod
    def of(cls, **values: object) -> Self:
        """Settings from these values, checked like the environment's: each keyword is a
        variable's name in lower case (``db_pool_max=4``); the rest keep their defaults.

        :raises ConfigError: naming the first malformed value (or unknown name).
        """
        return cls._converted({name.upper(): value for name, value in values.items()})

    def updated(self, **values: object) -> Self:
        """A copy with these variables (lower-case names, as :meth:`of`) changed, checked."""
        current = dict(self.values())
        current.update({name.upper(): value for name, value in values.items()})
        return self._converted(current)

    def values(self) -> Iterator[tuple[str, object]]:
        """Every variable's name and value."""
        for field, value in zip(
            msgspec.structs.fields(self), msgspec.structs.astuple(self), strict=True
        ):
            if isinstance(value, _Section):
                yield from zip(
                    (f.encode_name for f in msgspec.structs.fields(value)),
                    msgspec.structs.astuple(value),
                    strict=True,
                )
            else:
                yield field.encode_name, value

    @classmethod
    def _converted(cls, values: Mapping[str, object], shown: Mapping[str, str] = {}) -> Self:
        nested: dict[str, Any] = {}
        for name, value in values.items():
            try:
                section = _SECTION_OF[name]
            except KeyError:
                raise ConfigError(f"{name}: not a setting") from None
            (nested.setdefault(section, {}) if section else nested)[name] = value
        try:
            return msgspec.convert(nested, cls, strict=False)
        except msgspec.ValidationError as exc:
            message, _, path = str(exc).partition(" - at ")
            name = path.strip("`").rpartition(".")[2]
            raise ConfigError(
                f"{name}: invalid value {shown.get(name, repr(values.get(name)))} ({message})"
            ) from None


class Variable(msgspec.Struct, frozen=True, kw_only=True):
    """One environment variable: its section ("" for the top level) and field."""

    name: str
    section: str
    field: str
    kind: Any
    default: object


def variables() -> list[Variable]:
    """Every variable Settings reads, in declaration order."""
    found = []
    for top in msgspec.structs.fields(Settings):
        if isinstance(top.default_factory, type) and issubclass(top.default_factory, _Section):
            fields = [(top.name, f) for f in msgspec.structs.fields(top.default_factory)]
        else:
            fields = [("", top)]
        for section, f in fields:
            default = f.default_factory() if callable(f.default_factory) else f.default
            found.append(
                Variable(
                    name=f.encode_name, section=section, field=f.name, kind=f.type, default=default
                )
            )
    return found


_SECTION_OF = {v.name: v.section for v in variables()}


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Build :class:`Settings` from ``.env`` overlaid by ``environ`` (the process's by default).

    Any variable may instead be given as ``NAME_FILE``, the path of a file holding its value
    (compose and Kubernetes secrets: ``JWT_SECRET_FILE``, ``DATABASE_URL_FILE``, ...).

    :raises ConfigError: naming the first missing or malformed variable.
    """
    source = dict(read_dotenv(dotenv)) if dotenv is not None else {}
    source.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    shown: dict[str, str] = {}
    for name in _SECTION_OF:
        raw = source.get(name)
        secret_file = source.get(f"{name}_FILE")
        if secret_file:
            # Docker/compose secrets: NAME_FILE names a file holding the value.
            if raw:
                raise ConfigError(f"{name} and {name}_FILE: set one of them, not both")
            raw = read_value_file(f"{name}_FILE", secret_file)
        if raw is None or raw == "":
            continue
        values[name] = raw
        shown[name] = f"in {name}_FILE" if secret_file else repr(raw)
    if "DATABASE_URL" in values:
        values["DATABASE_URL"] = normalize_database_url(str(values["DATABASE_URL"]))
    if "REDIS_URL" in values:
        values["REDIS_URL"] = check_redis_url(str(values["REDIS_URL"]))
    values.setdefault("NODE_ID", f"{socket.gethostname()}-{os.getpid()}")
    return Settings._converted(values, shown)
