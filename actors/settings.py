"""Configuration as data: one frozen Struct, loaded once from the environment and ``.env``.

Every knob the service has lives here with its default; code paths read the Struct,
never ``os.environ``. ``load_settings`` fails with :class:`ConfigError`, whose message
is a single line naming the variable, so the CLI can print it and exit.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

import msgspec

#: Stands for "JWT_SECRET unset" outside production: the app then signs with a key generated
#: for the installation (edge/dev_secret.py), never with this published one. Refused in prod.
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me-0000"  # noqa: S105 - refused in prod
MIN_PROD_SECRET_BYTES = 32


class ConfigError(Exception):
    """A missing or malformed setting. ``str(err)`` is one line that names the variable."""


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    env: Literal["dev", "test", "prod"] = "dev"
    #: ``None`` only in dev: ``signage serve`` then starts an embedded PostgreSQL.
    database_url: str | None = None
    #: ``None`` means a single node with the in-process relay.
    redis_url: str | None = None
    jwt_secret: str = DEV_JWT_SECRET
    jwt_algo: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "signage"
    jwt_audience: str = "signage-admin"
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 14 * 24 * 3600
    media_root: str = ".data/media"
    media_base_url: str = "/media"
    node_id: str = ""
    #: Data folder of the embedded development PostgreSQL (``make run`` with no DATABASE_URL).
    data_dir: str = ".data"
    db_pool_min: int = 2
    db_pool_max: int = 10
    db_connect_timeout_s: float = 5.0
    #: ``signage serve`` retries an unreachable database this often at start (backoff
    #: from 0.5 s up to ``db_start_backoff_max_s``), then exits non-zero.
    db_start_attempts: int = 8
    db_start_backoff_max_s: float = 5.0
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_grace_s: float = 10.0
    # -- Admin authentication (docs/security.md) --
    #: Clock skew tolerated between nodes when checking access tokens' exp/iat.
    jwt_leeway_s: int = 5
    #: Absolute lifetime of a login session (a refresh-token family), however often refreshed.
    session_max_age_s: int = 30 * 24 * 3600
    #: A refresh token presented again this soon after it was spent gets a pair of its own
    #: (two tabs refreshing at once); later, it is a replay and ends the session.
    refresh_reuse_grace_s: int = 10
    #: Lifetime of the one-time password an admin reset hands out (it must be changed at
    #: the first login, and no longer works after this unused).
    temporary_password_ttl_s: int = 72 * 3600
    #: Second factor (TOTP): how long a login's challenge waits for its code; the issuer
    #: name authenticator apps show; roles that must have a second factor in every tenant
    #: and on the platform (comma-separated, e.g. "platform_admin,tenant_admin"; tenants
    #: can require it for more of their roles).
    mfa_challenge_ttl_s: int = 300
    mfa_issuer: str = "Signage"
    mfa_required_roles: str = ""
    #: Argon2id parameters; defaults are the OWASP password storage cheat sheet's
    #: (m=19 MiB, t=2, p=1). Raising them re-hashes each password at its next login.
    password_memory_kib: int = 19456
    password_time_cost: int = 2
    password_parallelism: int = 1
    #: Hashes computed at once (each holds PASSWORD_MEMORY_KIB) and allowed to wait for a
    #: slot; beyond that, logins answer 429 instead of queueing without bound.
    password_hash_concurrency: int = 2
    password_hash_queue: int = 64
    #: Failed logins: per account and per source address (IPv6: per /64), counted over
    #: LOGIN_WINDOW_S; past the free budget each failure blocks the key for
    #: LOGIN_BLOCK_BASE_S doubling up to LOGIN_BLOCK_MAX_S. Successes never count.
    login_window_s: int = 3600
    login_account_max_failures: int = 5
    login_address_max_failures: int = 50
    login_block_base_s: int = 1
    login_block_max_s: int = 900
    #: Reverse proxies in front of the nodes that append to X-Forwarded-For (0: trust none).
    trusted_proxy_hops: int = 0
    #: Requests per integration credential, per node: a burst, then a steady refill; 429
    #: with Retry-After past it (docs/security.md, "Integration credentials").
    integration_burst: int = 100
    integration_per_s: float = 20.0
    # -- Single sign-on, OpenID Connect (docs/operations.md, "SSO") --
    #: Key material sealing the providers' client secrets at rest (empty: derived from
    #: JWT_SECRET). Changing it makes the stored secrets unreadable.
    sso_secret_key: str = ""
    #: How long a started sign-in waits for its callback (its state is single use).
    sso_state_ttl_s: int = 600
    #: Time and size bounds of every call to an identity provider.
    sso_http_timeout_s: float = 5.0
    sso_max_response_bytes: int = 256 * 1024
    #: Discovery documents and JWKS are cached this long (an unknown key id refetches).
    sso_metadata_ttl_s: int = 3600
    #: Clock skew tolerated on ID tokens' exp/iat/nbf.
    sso_leeway_s: int = 60
    #: Comma-separated URL prefixes an issuer must start with (empty: any). The server
    #: fetches what tenant admins configure: list your identity providers here.
    sso_allowed_issuers: str = ""
    #: Sign-in starts and callbacks per source address (IPv6: /64), per node.
    sso_burst: int = 100
    sso_per_s: float = 2.0
    # -- Actor runtime (docs/actors.md) --
    #: Messages an actor's mailbox holds before its overflow policies apply, and the extra
    #: room never-drop messages get past that (the actor is killed when that is full too).
    actor_mailbox_capacity: int = 1024
    actor_mailbox_reserve: int = 256
    actor_ask_timeout_s: float = 5.0
    #: Time an actor gets to finish its message and on_stop before it is cancelled.
    actor_stop_timeout_s: float = 5.0
    #: A handler running longer than this is killed and counted as a crash (0: never).
    actor_stuck_after_s: float = 30.0
    #: Restart budget: more than ACTOR_RESTART_MAX crashes within ACTOR_RESTART_WITHIN_S
    #: and the supervisor gives up; restarts back off from ACTOR_BACKOFF_INITIAL_S doubling
    #: up to ACTOR_BACKOFF_MAX_S.
    actor_restart_max: int = 5
    actor_restart_within_s: float = 60.0
    actor_backoff_initial_s: float = 0.1
    actor_backoff_max_s: float = 10.0
    # -- Relay between nodes (REDIS_URL set) --
    #: Prefix of every relay channel; give each installation (or test run) sharing one
    #: Redis its own.
    relay_channel_prefix: str = "signage"
    #: Use Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a single Redis.
    relay_sharded: bool = False
    #: REDIS_URL names any seed node of a Redis Cluster: the relay and presence use the
    #: cluster client (sharded pub/sub per shard, hash-tagged presence keys).
    redis_cluster: bool = False
    relay_publish_timeout_s: float = 1.0
    #: How long a subscriber waits for Redis to confirm before going on (and catching up
    #: once the confirmation arrives).
    relay_subscribe_timeout_s: float = 2.0
    #: Silence on the subscriber connection before it is pinged; no answer within the same
    #: time again and the connection is declared dead and replaced.
    relay_ping_interval_s: float = 5.0
    relay_reconnect_max_s: float = 5.0

    # -- Devices (docs/devices.md) --
    #: How long a pairing code shown on a new screen stays claimable.
    pairing_ttl_s: int = 600
    #: Registrations per source address: a burst big enough for a building's rollout
    #: behind one NAT, then a steady refill. 429 with Retry-After beyond it.
    registration_burst: int = 500
    registration_per_s: float = 5.0
    #: Live pending registrations allowed per source (IPv4 address, IPv6 /64) and in all.
    registration_max_pending_per_source: int = 2000
    registration_max_pending: int = 100_000
    #: Each source's first REGISTRATION_RESERVED_PER_SOURCE pending registrations are
    #: admitted even when the shared cap above is full, from a reserve of at most
    #: REGISTRATION_RESERVE_TOTAL: a flood from elsewhere cannot keep a new site's screens
    #: from showing their codes.
    registration_reserved_per_source: int = 20
    registration_reserve_total: int = 20_000
    #: Failed pairing-code claims per tenant, on every node (successes never count):
    #: CLAIM_MAX_FAILURES within CLAIM_WINDOW_S are free, then each failure blocks the
    #: tenant's claims for CLAIM_BLOCK_BASE_S doubling up to CLAIM_BLOCK_MAX_S. Failures
    #: are audited at most once per CLAIM_AUDIT_EVERY_S per tenant (with their count).
    claim_max_failures: int = 20
    claim_window_s: int = 3600
    claim_block_base_s: int = 1
    claim_block_max_s: int = 900
    claim_audit_every_s: int = 60
    #: Unauthenticated device-endpoint calls (GET /devices/self) per source address.
    device_poll_burst: int = 1000
    device_poll_per_s: float = 100.0
    #: Source addresses (or device ids) whose buckets are remembered at once, per node.
    rate_limit_max_keys: int = 100_000
    #: How often each node deletes expired pending registrations.
    housekeeping_every_s: float = 60.0
    #: WebSocket connection attempts per source address (a building's reconnect storm
    #: behind one NAT must pass; 429 + Retry-After past it, before the upgrade).
    ws_connect_burst: int = 2000
    ws_connect_per_s: float = 200.0
    #: Admission control (docs/operations.md): sessions one node holds, and sessions being
    #: opened at once; past either, 503 + Retry-After before the upgrade.
    ws_max_sessions: int = 20_000
    ws_max_opening: int = 1_000
    #: A session must authenticate (header or hello) within this, and then send something
    #: (a heartbeat) at least this often, or it is closed.
    ws_hello_timeout_s: float = 5.0
    ws_idle_timeout_s: float = 90.0
    #: Inbound frames per session: burst, then per second; past it the session closes (1008).
    ws_inbound_burst: int = 20
    ws_inbound_per_s: float = 2.0
    #: Protocol errors tolerated per session (each answered with an error frame).
    ws_max_protocol_errors: int = 3
    #: Server pings (0: off). Off by default: Hypercorn's ping loop outlives its connection by
    #: up to one interval (costly in reconnect storms, and it delays shutdown); the device
    #: heartbeats and WS_IDLE_TIMEOUT_S find dead peers and keep NAT mappings alive instead.
    ws_ping_interval_s: float = 0.0

    # -- Content, schedules and manifests (docs/content.md) --
    #: A manifest covers at least this far ahead of now...
    manifest_horizon_s: int = 24 * 3600
    #: ...planned from now rounded down to this step: time alone changes a screen's
    #: manifest once per step (window boundaries, validity ends, the horizon moving on).
    manifest_step_s: int = 3600
    #: How often each node looks for tenants whose manifests need the next step.
    manifest_tick_s: float = 60.0
    #: How long a node holds a tenant it advances the horizon of (others leave it alone).
    manifest_lease_s: float = 300.0
    #: Tenants one node recomputes at the same time (planning runs in worker threads).
    manifest_workers: int = 2
    #: A new session waits this long for its manifest, then starts without it (the
    #: manifest follows as soon as it is ready).
    manifest_opening_timeout_s: float = 5.0
    #: Changed devices named one by one in a relayed change notice; beyond it the notice
    #: says "any device" and each node compares its sessions' versions instead.
    manifest_notice_max_ids: int = 256
    #: Limits on what a tenant's editors can make screens (and every node) carry
    #: (docs/security.md): a manifest's encoded size; the text and HTML bodies one
    #: playlist plays, in bytes; content items not archived and uploaded media bytes per
    #: tenant; and the total time one upload's body may take.
    manifest_max_bytes: int = 1024 * 1024
    playlist_max_body_bytes: int = 512 * 1024
    content_max_items: int = 10_000
    media_quota_bytes: int = 20 * 1024**3
    upload_deadline_s: float = 600.0

    # -- Emergencies (docs/emergencies.md) --
    #: How often each node reads every tenant's last emergency number from PostgreSQL and
    #: catches up on any it missed (the bound on delivery while Redis is down), and ends
    #: the emergencies whose expiry has passed.
    emergency_check_every_s: float = 1.0
    #: Screens' acknowledgements are written in one statement per batch this often.
    emergency_ack_flush_s: float = 0.5

    # -- Fleet health and commands (docs/devices.md, "Status", "Commands") --
    #: Screens' latest status (heartbeat fields) is written in one statement this often.
    fleet_status_flush_s: float = 10.0
    #: Screens' answers to remote commands are written this often.
    fleet_answer_flush_s: float = 0.5
    #: Freeze the heap (gc.freeze) once the session count has been steady this long, so
    #: that a full garbage collection cannot stall a fan-out; 0 turns it off.
    gc_freeze_settle_s: float = 10.0
    #: Screens' last-seen times are written to PostgreSQL in one statement this often.
    last_seen_flush_s: float = 30.0

    # -- Webhooks (docs/operations.md, "Webhooks") --
    #: Where deliveries may go: globally routable addresses (WEBHOOK_ALLOW_PUBLIC), plus
    #: the networks listed in WEBHOOK_ALLOWED_NETWORKS (comma-separated CIDRs, e.g.
    #: "10.20.0.0/16,192.168.5.7/32"); everything else (loopback, private, link-local,
    #: metadata services) is refused. http:// URLs only with WEBHOOK_ALLOW_HTTP.
    webhook_allow_public: bool = True
    webhook_allowed_networks: str = ""
    webhook_allow_http: bool = False
    #: A PEM bundle of the CAs receivers' certificates are checked against (default:
    #: the system's), for receivers behind an internal CA.
    webhook_ca_file: str | None = None
    #: One attempt's deadline (resolve, connect, TLS, send, status line).
    webhook_timeout_s: float = 10.0
    #: Attempts per delivery, and the backoff between them: BASE doubling up to MAX,
    #: half of each step random.
    webhook_max_attempts: int = 12
    webhook_backoff_base_s: float = 5.0
    webhook_backoff_max_s: float = 3600.0
    #: Deliveries in flight at once per node, and how often an idle worker looks again.
    webhook_concurrency: int = 8
    webhook_poll_s: float = 1.0
    webhook_max_per_tenant: int = 20
    #: A screen with no session this long is reported offline (device.offline).
    webhook_offline_after_s: float = 120.0
    #: An emergency still not acknowledged by every targeted screen this long after its
    #: start is reported (emergency.delivery_incomplete).
    webhook_delivery_check_s: float = 30.0
    #: How often each node looks for offline screens and incomplete deliveries.
    webhook_sweep_every_s: float = 5.0
    #: Finished deliveries stay in the delivery log this long.
    webhook_log_retention_s: float = 7 * 24 * 3600.0

    # -- Proof of play (docs/devices.md, "Proof of play") --
    #: Played items one screen may report: a burst, then a steady refill (per second);
    #: past it the frame is refused with an error frame (repeated: 1008).
    play_items_burst: int = 200
    play_items_per_s: float = 2.0
    #: Reported plays are written (rolled up per hour) in one transaction this often.
    play_flush_s: float = 5.0
    #: Hours of plays older than this are deleted (reports cover at most this far back).
    play_retention_days: int = 400

    def __post_init__(self) -> None:
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min:
            raise ConfigError("DB_POOL_MIN/DB_POOL_MAX: need 1 <= DB_POOL_MIN <= DB_POOL_MAX")
        if self.access_token_ttl_s <= 0 or self.refresh_token_ttl_s <= 0:
            raise ConfigError("ACCESS_TOKEN_TTL_S/REFRESH_TOKEN_TTL_S: must be positive")
        _check_auth_settings(self)
        _check_runtime_settings(self)
        if min(self.emergency_check_every_s, self.emergency_ack_flush_s) <= 0:
            raise ConfigError("EMERGENCY_CHECK_EVERY_S and EMERGENCY_ACK_FLUSH_S: must be positive")
        if min(self.fleet_status_flush_s, self.fleet_answer_flush_s) <= 0:
            raise ConfigError("FLEET_STATUS_FLUSH_S and FLEET_ANSWER_FLUSH_S: must be positive")
        if self.gc_freeze_settle_s < 0:
            raise ConfigError("GC_FREEZE_SETTLE_S: must not be negative")
        _check_content_settings(self)
        if min(self.sso_state_ttl_s, self.sso_metadata_ttl_s, self.sso_max_response_bytes) < 1:
            raise ConfigError("SSO_STATE_TTL_S, SSO_METADATA_TTL_S, SSO_MAX_RESPONSE_BYTES: >= 1")
        if self.sso_http_timeout_s <= 0 or self.sso_leeway_s < 0:
            raise ConfigError("SSO_HTTP_TIMEOUT_S > 0 and SSO_LEEWAY_S >= 0 required")
        _check_webhook_settings(self)
        if self.env == "prod":
            if len(self.jwt_secret.encode()) < MIN_PROD_SECRET_BYTES:
                raise ConfigError(
                    f"JWT_SECRET: must be at least {MIN_PROD_SECRET_BYTES} bytes in ENV=prod"
                )
            if self.jwt_secret == DEV_JWT_SECRET:
                raise ConfigError("JWT_SECRET: the development default is refused in ENV=prod")
            if self.database_url is None:
                raise ConfigError("DATABASE_URL: required in ENV=prod")

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: never print a secret or a password.
        shown = {
            f: ("***" if f in _SECRET_FIELDS else _redact_url(getattr(self, f)))
            for f in self.__struct_fields__
        }
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def sso_issuer_prefixes(self) -> tuple[str, ...]:
        """SSO_ALLOWED_ISSUERS as a tuple of URL prefixes."""
        return tuple(p for p in (p.strip() for p in self.sso_allowed_issuers.split(",")) if p)

    @property
    def mfa_roles(self) -> tuple[str, ...]:
        """MFA_REQUIRED_ROLES as a tuple of role names."""
        return tuple(r for r in (p.strip() for p in self.mfa_required_roles.split(",")) if r)


#: Settings never printed (``repr``).
_SECRET_FIELDS = frozenset({"jwt_secret", "sso_secret_key"})
_CHANNEL_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _check_runtime_settings(s: Settings) -> None:
    if s.ws_max_sessions < 1 or s.ws_max_opening < 1:
        raise ConfigError("WS_MAX_SESSIONS and WS_MAX_OPENING: must be at least 1")
    if s.db_start_attempts < 1 or s.db_start_backoff_max_s <= 0:
        raise ConfigError("DB_START_ATTEMPTS >= 1 and DB_START_BACKOFF_MAX_S > 0 required")
    if s.shutdown_grace_s <= 0:
        raise ConfigError("SHUTDOWN_GRACE_S: must be positive")
    if s.actor_mailbox_capacity < 1 or s.actor_mailbox_reserve < 0:
        raise ConfigError("ACTOR_MAILBOX_CAPACITY >= 1 and ACTOR_MAILBOX_RESERVE >= 0 required")
    if min(s.actor_ask_timeout_s, s.actor_stop_timeout_s, s.actor_restart_within_s) <= 0:
        raise ConfigError("ACTOR_*_TIMEOUT_S and ACTOR_RESTART_WITHIN_S: must be positive")
    if s.actor_stuck_after_s < 0 or s.actor_restart_max < 0:
        raise ConfigError("ACTOR_STUCK_AFTER_S and ACTOR_RESTART_MAX: must not be negative")
    if not 0 <= s.actor_backoff_initial_s <= s.actor_backoff_max_s:
        raise ConfigError("ACTOR_BACKOFF_*: need 0 <= ACTOR_BACKOFF_INITIAL_S <= _MAX_S")
    if not _CHANNEL_PREFIX.match(s.relay_channel_prefix):
        raise ConfigError("RELAY_CHANNEL_PREFIX: 1-64 of A-Z a-z 0-9 _ . -")
    if (
        min(
            s.relay_publish_timeout_s,
            s.relay_subscribe_timeout_s,
            s.relay_ping_interval_s,
            s.relay_reconnect_max_s,
        )
        <= 0
    ):
        raise ConfigError("RELAY_*_S: must be positive")
    if s.redis_cluster and s.redis_url is None:
        raise ConfigError("REDIS_CLUSTER: needs REDIS_URL (any seed node of the cluster)")
    if s.redis_cluster and s.redis_url is not None and s.redis_url.startswith("unix:"):
        raise ConfigError("REDIS_CLUSTER: REDIS_URL must be redis:// or rediss:// (TCP)")


def _check_content_settings(s: Settings) -> None:
    if s.max_upload_bytes < 1:
        raise ConfigError("MAX_UPLOAD_BYTES: must be positive")
    if s.manifest_step_s < 60 or s.manifest_horizon_s < s.manifest_step_s:
        raise ConfigError("MANIFEST_STEP_S >= 60 and MANIFEST_HORIZON_S >= MANIFEST_STEP_S")
    if min(s.manifest_tick_s, s.manifest_lease_s, s.manifest_opening_timeout_s) <= 0:
        raise ConfigError("MANIFEST_TICK_S, _LEASE_S and _OPENING_TIMEOUT_S: must be positive")
    if s.manifest_workers < 1 or s.manifest_notice_max_ids < 0:
        raise ConfigError("MANIFEST_WORKERS >= 1 and MANIFEST_NOTICE_MAX_IDS >= 0 required")
    if (
        min(s.manifest_max_bytes, s.playlist_max_body_bytes, s.content_max_items) < 1
        or s.media_quota_bytes < 1
        or s.upload_deadline_s <= 0
    ):
        raise ConfigError(
            "MANIFEST_MAX_BYTES, PLAYLIST_MAX_BODY_BYTES, CONTENT_MAX_ITEMS, "
            "MEDIA_QUOTA_BYTES and UPLOAD_DEADLINE_S: must be positive"
        )
    if (
        min(s.claim_max_failures, s.claim_window_s, s.claim_block_base_s, s.claim_block_max_s) < 1
        or s.claim_audit_every_s < 0
        or min(s.registration_reserved_per_source, s.registration_reserve_total) < 0
    ):
        raise ConfigError("CLAIM_* and REGISTRATION_RESERVE*: must be positive (or zero)")


def _check_webhook_settings(s: Settings) -> None:
    if s.play_items_burst < 20 or s.play_items_per_s <= 0 or s.play_flush_s <= 0:
        raise ConfigError(
            "PLAY_ITEMS_BURST >= 20 (a full frame), PLAY_ITEMS_PER_S and PLAY_FLUSH_S > 0"
        )
    if s.play_retention_days < 1:
        raise ConfigError("PLAY_RETENTION_DAYS: at least 1")
    if s.last_seen_flush_s <= 0:
        raise ConfigError("LAST_SEEN_FLUSH_S: must be positive")
    if (
        min(
            s.webhook_timeout_s,
            s.webhook_backoff_base_s,
            s.webhook_poll_s,
            s.webhook_offline_after_s,
            s.webhook_delivery_check_s,
            s.webhook_sweep_every_s,
            s.webhook_log_retention_s,
        )
        <= 0
        or s.webhook_backoff_max_s < s.webhook_backoff_base_s
    ):
        raise ConfigError("WEBHOOK_*_S: must be positive (BACKOFF_MAX_S >= BACKOFF_BASE_S)")
    if min(s.webhook_max_attempts, s.webhook_concurrency, s.webhook_max_per_tenant) < 1:
        raise ConfigError("WEBHOOK_MAX_ATTEMPTS, _CONCURRENCY and _MAX_PER_TENANT: at least 1")
    for entry in s.webhook_allowed_networks.split(","):
        if entry.strip():
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ConfigError(
                    f"WEBHOOK_ALLOWED_NETWORKS: not an IP network: {entry.strip()!r}"
                ) from None


_ROLE_NAMES = {
    "platform_admin", "platform_operator", "tenant_admin", "editor", "approver", "scheduler",
    "emergency_operator", "device_manager", "auditor", "viewer",
}  # fmt: skip
#: OWASP's argon2id configurations (m, t) all spend at least this much memory x time.
MIN_PROD_ARGON2_KIB_X_PASSES = 7168 * 5
_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def _check_auth_settings(s: Settings) -> None:
    if min(s.password_memory_kib, s.password_time_cost, s.password_parallelism) < 1:
        raise ConfigError("PASSWORD_MEMORY_KIB/TIME_COST/PARALLELISM: must be positive")
    if s.password_hash_concurrency < 1 or s.password_hash_queue < 0:
        raise ConfigError("PASSWORD_HASH_CONCURRENCY >= 1 and PASSWORD_HASH_QUEUE >= 0")
    if s.is_prod and s.password_memory_kib * s.password_time_cost < MIN_PROD_ARGON2_KIB_X_PASSES:
        raise ConfigError(
            "PASSWORD_MEMORY_KIB x PASSWORD_TIME_COST: below the OWASP minimum in ENV=prod"
        )
    if (
        min(s.login_window_s, s.login_block_base_s, s.login_block_max_s) < 1
        or min(s.login_account_max_failures, s.login_address_max_failures) < 1
    ):
        raise ConfigError("LOGIN_*: windows, blocks and failure budgets must be positive")
    needed = _HMAC_KEY_BYTES[s.jwt_algo]
    if s.is_prod and len(s.jwt_secret.encode()) < needed:
        # RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
        raise ConfigError(f"JWT_SECRET: {s.jwt_algo} needs at least {needed} bytes in ENV=prod")
    if s.session_max_age_s <= 0 or s.jwt_leeway_s < 0:
        raise ConfigError("SESSION_MAX_AGE_S > 0 and JWT_LEEWAY_S >= 0 required")
    if not 0 <= s.refresh_reuse_grace_s <= 60:
        raise ConfigError("REFRESH_REUSE_GRACE_S: 0 to 60 seconds")
    if s.temporary_password_ttl_s < 60 or not 30 <= s.mfa_challenge_ttl_s <= 3600:
        raise ConfigError("TEMPORARY_PASSWORD_TTL_S >= 60 and MFA_CHALLENGE_TTL_S 30 to 3600")
    if not 1 <= len(s.mfa_issuer) <= 64 or ":" in s.mfa_issuer:
        raise ConfigError("MFA_ISSUER: 1 to 64 characters, no colon")
    unknown = set(s.mfa_roles) - _ROLE_NAMES
    if unknown:
        raise ConfigError(f"MFA_REQUIRED_ROLES: not a role: {', '.join(sorted(unknown))}")


def _redact_url(value: object) -> object:
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
    return value


def normalize_database_url(raw: str) -> str:
    """Return a libpq URL for ``raw``; accepts SQLAlchemy-style ``postgresql+driver://``.

    :raises ConfigError: if the scheme is not PostgreSQL's or no database is named.
    """
    parts = urlsplit(raw)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"DATABASE_URL: expected a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ConfigError("DATABASE_URL: no database name in the URL")
    _check_multi_host(parts.netloc, parts.query)
    # Not urlunsplit: it drops the empty authority of ``postgresql:///db?host=...`` (a
    # scheme it does not know), which libpq would no longer read as a URL.
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"postgresql://{parts.netloc}{parts.path}{query}{fragment}"


#: The libpq ``target_session_attrs`` values that only ever connect to a writable server.
_WRITABLE_SESSION_ATTRS = frozenset({"read-write", "primary"})


def _check_multi_host(netloc: str, query: str) -> None:
    """A URL naming several servers (``h1:5432,h2:5432`` or ``?host=h1,h2``) must say
    ``target_session_attrs=read-write`` (or ``primary``): libpq's default, ``any``, would
    hand the pool a connection to a standby, on which every write fails."""
    hosts = netloc.rpartition("@")[2]
    params = parse_qs(query)
    named = [hosts, *params.get("host", []), *params.get("hostaddr", [])]
    if not any("," in h for h in named):
        return
    attrs = params.get("target_session_attrs", ["any"])[-1]
    if attrs not in _WRITABLE_SESSION_ATTRS:
        raise ConfigError(
            "DATABASE_URL: several hosts need target_session_attrs=read-write"
            f" (got {attrs!r}): another value may connect to a standby"
        )


def _check_redis_url(raw: str) -> str:
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: expected a redis://, rediss:// or unix:// URL")
    return raw


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines (``#`` comments, optional quotes). Missing file: empty."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _read_value_file(variable: str, path: str) -> str:
    """The value a ``*_FILE`` variable points at, without its trailing newline.

    :raises ConfigError: if the file cannot be read or holds nothing.
    """
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"{variable}: cannot read {path} ({reason})") from None
    if not value:
        raise ConfigError(f"{variable}: {path} is empty")
    return value


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
    for field in msgspec.structs.fields(Settings):
        name = field.name.upper()
        raw = source.get(name)
        secret_file = source.get(f"{name}_FILE")
        if secret_file:
            # Docker/compose secrets: NAME_FILE names a file holding the value.
            if raw:
                raise ConfigError(f"{name} and {name}_FILE: set one of them, not both")
            raw = _read_value_file(f"{name}_FILE", secret_file)
        if raw is None or raw == "":
            continue
        try:
            values[field.name] = msgspec.convert(raw, field.type, strict=False)
        except msgspec.ValidationError as exc:
            message = str(exc).split(" - at ", 1)[0]
            shown = f"in {name}_FILE" if secret_file else repr(raw)
            raise ConfigError(f"{name}: invalid value {shown} ({message})") from None
    if "database_url" in values:
        values["database_url"] = normalize_database_url(str(values["database_url"]))
    if "redis_url" in values:
        values["redis_url"] = _check_redis_url(str(values["redis_url"]))
    values.setdefault("node_id", f"{socket.gethostname()}-{os.getpid()}")
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except TypeError as exc:  # pragma: no cover - guarded by the loop above
        raise ConfigError(str(exc)) from None
