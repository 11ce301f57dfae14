"""The application container: every long-lived dependency, built once per app.

No module globals: the app factory builds a :class:`Container`, keeps it on the app, and
routes reach it through :func:`container`. ``start``/``stop`` own the lifecycles (pool,
Redis client, actor supervisors); ``stop`` undoes ``start`` in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

from quart import current_app

from actors.domain.tokens import AccessTokens
from actors.events import TENANT_EVENTS
from actors.metrics import MetricsRegistry
from actors.node.ack_routing import WithManifestAcks
from actors.node.opening import ManifestOpening
from actors.node.presence import LocalPresence
from actors.node.publisher import NodeEvents
from actors.node.takeovers import Takeovers
from actors.node.tenant_emergencies import NodeEmergencies
from actors.node.wiring import NodeSessions
from actors.ports.relay import RELAY_MESSAGES, Relay
from actors.ratelimit import KeyedBuckets
from actors.relay import LocalRelay, RelayCodec
from actors.runtime import Runtime, RuntimeConfig
from actors.services.credential_rechecks import CredentialRechecks
from actors.services.emergency_acks import BatchedAcks
from actors.services.emergency_feed import StoreEmergencyFeed
from actors.services.emergency_watch import EmergencyWatch
from actors.services.fleet_writer import BatchedFleetReports
from actors.services.gc_policy import GcPolicy
from actors.services.housekeeping import Housekeeping, Job
from actors.services.manifest_feed import ManifestFeed
from actors.services.play_writer import BatchedPlays
from actors.services.presence_service import NodePresence, PresenceService
from actors.services.reconciler import Reconciler
from actors.services.session_directory import StoreDirectory
from actors.settings import Settings
from actors.usecases.account import Account
from actors.usecases.audit import AuditTrail
from actors.usecases.auth import Auth, AuthPolicy
from actors.usecases.cap import CapIngest
from actors.usecases.content import Content
from actors.usecases.credentials import CredentialLookups
from actors.usecases.devices import Devices
from actors.usecases.emergencies import Emergencies
from actors.usecases.emergency_deliveries import EmergencyDeliveries
from actors.usecases.emergency_templates import EmergencyTemplates
from actors.usecases.explanations import Explanations
from actors.usecases.fleet import Fleet
from actors.usecases.integrations import Integrations
from actors.usecases.manifests import ManifestPolicy, Manifests
from actors.usecases.ops import Ops
from actors.usecases.playlists import Playlists
from actors.usecases.plays import Plays
from actors.usecases.schedules import Schedules
from actors.usecases.sso import SingleSignOn
from actors.usecases.tenants import Tenants
from actors.usecases.users import Users
from actors.usecases.webhooks import Webhooks
from edge.admission import Admission
from edge.device_connections import DeviceConnections
from edge.edge_metrics import EdgeMetrics
from edge.webhook_wiring import build_webhooks
from store import redis_client
from store.db import Database
from store.media import FileMediaStore
from store.oidc import HttpIdentityProviders
from store.passwords import Argon2Passwords
from store.presence_redis import RedisPresence
from store.redis_cluster_relay import RedisClusterRelay
from store.redis_relay import RedisRelay
from store.secret_box import SecretBox
from store.uow import Store

log = logging.getLogger(__name__)

EXTENSION_KEY = "signage.container"


@dataclass
class Container:
    settings: Settings
    database_url: str
    db: Database
    redis: redis_client.Client | None
    store: Store
    passwords: Argon2Passwords
    auth: Auth
    account: Account
    tenants: Tenants
    users: Users
    integrations: Integrations
    identity_providers: HttpIdentityProviders
    sso: SingleSignOn
    webhooks: Webhooks
    plays: Plays
    audit: AuditTrail
    metrics: MetricsRegistry
    relay: Relay
    runtime: Runtime
    sessions: NodeSessions
    reconciler: Reconciler
    events: NodeEvents
    takeovers: Takeovers
    devices: Devices
    fleet: Fleet
    device_connects: KeyedBuckets
    admission: Admission
    credentials: CredentialLookups
    rechecks: CredentialRechecks
    ops: Ops
    edge_metrics: EdgeMetrics
    emergencies: Emergencies
    cap: CapIngest
    content: Content
    playlists: Playlists
    schedules: Schedules
    manifests: Manifests
    manifest_feed: ManifestFeed
    emergency_deliveries: EmergencyDeliveries
    explanations: Explanations
    emergency_templates: EmergencyTemplates
    started_at: float = field(default_factory=time.time)
    #: Set when the node starts shutting down: new screen sessions are refused (503) and
    #: ``/ready`` says unavailable, so load balancers and screens go elsewhere.
    draining: bool = False
    #: The screens' connections open now: what a drain waits for, then drops.
    device_connections: DeviceConnections = field(default_factory=DeviceConnections)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    _runtime_task: asyncio.Task[None] | None = None
    _stopped: bool = False
    _stop_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def build(cls, settings: Settings, database_url: str) -> Container:
        db = Database(
            database_url,
            min_size=settings.database.pool_min,
            max_size=settings.database.pool_max,
            timeout_s=settings.database.connect_timeout_s,
            application_name=f"signage:{settings.node_id}",
        )
        client = _redis_client(settings)
        store = Store(db)
        passwords = Argon2Passwords.from_settings(settings.passwords)
        tokens = AccessTokens(
            secret=settings.auth.jwt_secret,
            algorithm=settings.auth.jwt_algo,
            issuer=settings.auth.jwt_issuer,
            audience=settings.auth.jwt_audience,
            ttl_s=settings.auth.access_token_ttl_s,
            leeway_s=settings.auth.jwt_leeway_s,
        )
        metrics = MetricsRegistry()
        relay = build_relay(settings, client, metrics)
        presence = LocalPresence(settings.node_id)
        shared = (
            RedisPresence(client, f"{settings.relay.channel_prefix}")
            if client is not None
            else None
        )
        final_flush_s = settings.lifecycle.flush_timeout_s
        presence_service = PresenceService(
            presence,
            shared,
            store,
            started_at=datetime.fromtimestamp(time.time(), UTC),
            config=settings.presence,
            final_flush_s=final_flush_s,
        )
        presence_reader = NodePresence(presence, shared)
        hooks = build_webhooks(settings.webhooks, store, presence, presence_reader, metrics)
        play_writer = BatchedPlays(
            store, metrics, flush_every_s=settings.plays.flush_s, final_flush_s=final_flush_s
        )
        plays = Plays(store, retention_days=settings.plays.retention_days)
        node_emergencies = NodeEmergencies(StoreEmergencyFeed(store), metrics)
        acks = BatchedAcks(
            store,
            metrics,
            node_id=settings.node_id,
            flush_every_s=settings.emergencies.ack_flush_s,
            final_flush_s=final_flush_s,
        )
        fleet_reports = BatchedFleetReports(
            store,
            metrics,
            node_id=settings.node_id,
            status_every_s=settings.fleet.status_flush_s,
            answers_every_s=settings.fleet.answer_flush_s,
            final_flush_s=final_flush_s,
        )
        emergency_watch = EmergencyWatch(
            node_emergencies,
            tenants=lambda: sessions.tenants(),
            expire=lambda: emergencies.expire_due(),
            check_every_s=settings.emergencies.check_every_s,
        )
        # The feed hands what it computes to this node's sessions (presence is the session
        # index); the other nodes hear of it over the relay.
        manifests = Manifests(store, relay, ManifestPolicy.from_settings(settings))
        manifest_feed = ManifestFeed(
            manifests, sessions=presence, config=settings.manifests, metrics=metrics
        )
        identity_providers = HttpIdentityProviders.from_settings(settings)
        sso = SingleSignOn.from_settings(
            store, identity_providers, SecretBox.from_settings(settings), tokens, settings
        )
        reconciler = Reconciler(
            StoreDirectory(store),
            tenants=lambda: sessions.tenants(),
            catch_up=node_emergencies.request_catch_up,
            config=settings.reconcile,
        )
        takeovers = Takeovers(relay)
        credentials = CredentialLookups(store, timeout_s=settings.database.connect_timeout_s)
        rechecks = CredentialRechecks(credentials, metrics)
        runtime = Runtime(
            RuntimeConfig.from_settings(settings.actors),
            metrics=metrics,
            services=(
                relay,
                takeovers,
                reconciler,
                rechecks,
                presence_service,
                acks,
                fleet_reports,
                emergency_watch,
                GcPolicy(lambda: len(presence), metrics, settle_s=settings.gc.freeze_settle_s),
                manifest_feed,
                Housekeeping(
                    [
                        Job(
                            "expired registrations",
                            settings.registration.housekeeping_every_s,
                            lambda: devices.purge_expired_registrations(),
                        ),
                        *hooks.jobs,
                        Job(
                            "expired sign-ins",
                            settings.registration.housekeeping_every_s,
                            lambda: sso.purge_expired_sign_ins(),
                        ),
                        Job("play retention", settings.plays.purge_every_s, lambda: plays.purge()),
                    ]
                ),
                hooks.dispatcher,
                play_writer,
            ),
        )
        sessions = NodeSessions(
            runtime,
            relay=relay,
            reconciler=reconciler,
            opening=ManifestOpening(manifest_feed),
            acks=WithManifestAcks(acks, manifest_feed),
            presence=presence,
            emergencies=node_emergencies,
            manifests=manifest_feed,
            fleet=fleet_reports,
            plays=play_writer,
            config=settings.sessions,
        )
        events = NodeEvents(runtime, relay)
        emergencies = Emergencies(store, events, presence_reader)
        devices = Devices(store, events, presence_reader, settings, manifests=manifest_feed)
        return cls(
            settings=settings,
            database_url=database_url,
            db=db,
            redis=client,
            store=store,
            passwords=passwords,
            auth=Auth(store, passwords, tokens, AuthPolicy.from_settings(settings)),
            account=Account(
                store, passwords, AuthPolicy.from_settings(settings), issuer=settings.mfa.issuer
            ),
            tenants=Tenants(store, events),
            users=Users(
                store, passwords, temporary_password_ttl_s=settings.auth.temporary_password_ttl_s
            ),
            integrations=Integrations.from_settings(store, settings.http),
            identity_providers=identity_providers,
            sso=sso,
            webhooks=hooks.webhooks,
            plays=plays,
            audit=AuditTrail(store),
            metrics=metrics,
            relay=relay,
            runtime=runtime,
            sessions=sessions,
            reconciler=reconciler,
            events=events,
            takeovers=takeovers,
            devices=devices,
            fleet=Fleet(store, events, presence_reader),
            ops=Ops(store, runtime, settings.node_id),
            edge_metrics=EdgeMetrics(metrics, lambda: len(presence), pool=db.pool),
            credentials=credentials,
            rechecks=rechecks,
            admission=Admission(
                max_sessions=settings.admission.max_sessions,
                max_opening=settings.admission.max_opening,
                sessions=lambda: len(presence),
            ),
            device_connects=KeyedBuckets(
                settings.admission.connect_per_s,
                settings.admission.connect_burst,
                max_keys=settings.http.rate_limit_max_keys,
                clock=time.monotonic,
            ),
            emergencies=emergencies,
            cap=CapIngest(store, events),
            content=Content(
                store, FileMediaStore(settings.content.media_root), manifest_feed, settings
            ),
            playlists=Playlists(store, manifest_feed, settings),
            schedules=Schedules(store, manifest_feed, settings),
            manifests=manifests,
            manifest_feed=manifest_feed,
            emergency_deliveries=EmergencyDeliveries(store, presence_reader),
            explanations=Explanations(store, manifests.policy),
            emergency_templates=EmergencyTemplates(store),
        )

    async def start(self) -> None:
        await self.db.open(wait=False)
        self._stack.push_async_callback(self.db.close)
        self._stack.push_async_callback(self.identity_providers.aclose)
        if self.redis is not None:
            self._stack.push_async_callback(self.redis.aclose)
        await self._start_runtime()
        log.info("node %s started", self.settings.node_id)

    async def _start_runtime(self) -> None:
        """Run the actor runtime as one task owned by this container, until ``stop``."""
        started = asyncio.Event()

        async def run() -> None:
            await self.runtime.run(task_status=_Started(started))

        self._runtime_task = asyncio.create_task(run(), name="actor runtime")
        started_or_failed = asyncio.ensure_future(started.wait())
        await asyncio.wait(
            {self._runtime_task, started_or_failed}, return_when=asyncio.FIRST_COMPLETED
        )
        started_or_failed.cancel()
        if self._runtime_task.done():
            self._runtime_task.result()  # raises why the runtime could not start
        self._stack.push_async_callback(self._stop_runtime)

    async def _stop_runtime(self) -> None:
        task = self._runtime_task
        if task is None:
            return
        self.runtime.stop()
        try:
            await asyncio.wait_for(task, timeout=self.settings.lifecycle.grace_s)
        except TimeoutError:
            log.error("the actor runtime did not stop in %ss", self.settings.lifecycle.grace_s)
        except Exception:
            log.exception("the actor runtime failed")

    async def drain(self, timeout_s: float) -> int:
        """The first step of a shutdown: refuse new sessions, tell every screen to
        reconnect (jittered) and close it 1012 — the idle ones at once, in one pass — and
        wait for their close replies under one deadline, ``timeout_s`` from now; then drop
        the connections of the screens that did not answer. Returns how many sessions were
        drained. Idempotent.

        Batched writes (acks, last-seen, plays) are flushed when the runtime stops, after
        the HTTP requests in flight have finished (:meth:`stop`)."""
        if self.draining:
            return 0
        self.draining = True
        drained = self.sessions.drain()
        log.info("draining %d sessions (%d told at once)", drained.sessions, drained.at_once)
        connections = self.device_connections
        try:
            await connections.closed_within(timeout_s)
        finally:  # also when cancelled (a second signal): nothing waits for them then
            # Still open: the screens that did not answer, and those whose answer the
            # server is still tearing down (a busy node ends them all at about the same
            # time, after the deadline). Only the former are dropped.
            still = len(connections)
            if still and (dropped := connections.drop_all()):
                log.warning(
                    "%d screens did not answer the close within %.1f s: dropped (%d more"
                    " still closing)",
                    dropped,
                    timeout_s,
                    still - dropped,
                )
        return drained.sessions

    async def stop(self) -> None:
        """Stop the runtime (its services flush their batched writes), then close Redis and
        the pool. Idempotent."""
        async with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            await self._stack.aclose()
            log.info("node %s stopped", self.settings.node_id)


class _Started:
    """An anyio ``TaskStatus`` that sets an asyncio event (the runtime's started signal)."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def started(self, value: None = None) -> None:
        self._event.set()


def _redis_client(settings: Settings) -> redis_client.Client | None:
    """The node's own Redis client (presence): none without ``REDIS_URL``, the cluster
    client with ``REDIS_CLUSTER``."""
    if not settings.relay.url:
        return None
    name = f"signage:{settings.node_id}"
    if settings.relay.cluster:
        return redis_client.connect_cluster(settings.relay.url, client_name=name)
    return redis_client.connect(settings.relay.url, client_name=name)


def build_relay(
    settings: Settings, client: redis_client.Client | None, metrics: MetricsRegistry
) -> Relay:
    """The relay between nodes: in-process for one node (no ``REDIS_URL``), else Redis
    pub/sub on connections of its own (named ``signage-relay-{pub,sub}:<node>``): on a
    Redis Cluster (``REDIS_CLUSTER``) sharded pub/sub with a subscriber per master."""
    codec = RelayCodec((*RELAY_MESSAGES, *TENANT_EVENTS))
    if settings.relay.url is None:
        return LocalRelay(settings.node_id, codec=codec, metrics=metrics)
    kind = RedisClusterRelay if settings.relay.cluster else RedisRelay
    return kind(
        settings.relay.url,
        node_id=settings.node_id,
        codec=codec,
        config=settings.relay,
        metrics=metrics,
    )


def container() -> Container:
    """The running app's container (valid inside a request, WebSocket or app context)."""
    found: Container = current_app.extensions[EXTENSION_KEY]
    return found
