"""The application container: every long-lived dependency, built once per app.

No module globals: the app factory builds a :class:`Container`, keeps it on the app, and
routes reach it through :func:`container`. ``start``/``stop`` own the lifecycles (pool,
Redis client, actor supervisors); ``stop`` undoes ``start`` in reverse order.
"""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import redis.asyncio as redis
from quart import current_app

from actors.domain.tokens import AccessTokens
from actors.settings import Settings
from actors.usecases.audit import AuditTrail
from actors.usecases.auth import Auth, AuthPolicy
from actors.usecases.tenants import Tenants
from actors.usecases.users import Users
from store import redis_client
from store.db import Database
from store.passwords import Argon2Passwords
from store.uow import Store

log = logging.getLogger(__name__)

EXTENSION_KEY = "signage.container"


@dataclass
class Container:
    settings: Settings
    database_url: str
    db: Database
    redis: redis.Redis | None
    store: Store
    passwords: Argon2Passwords
    auth: Auth
    tenants: Tenants
    users: Users
    audit: AuditTrail
    started_at: float = field(default_factory=time.time)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    @classmethod
    def build(cls, settings: Settings, database_url: str) -> Container:
        db = Database(
            database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout_s=settings.db_connect_timeout_s,
            application_name=f"signage:{settings.node_id}",
        )
        client = (
            redis_client.connect(settings.redis_url, client_name=f"signage:{settings.node_id}")
            if settings.redis_url
            else None
        )
        store = Store(db)
        passwords = Argon2Passwords.from_settings(settings)
        tokens = AccessTokens(
            secret=settings.jwt_secret,
            algorithm=settings.jwt_algo,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_s=settings.access_token_ttl_s,
            leeway_s=settings.jwt_leeway_s,
        )
        return cls(
            settings=settings,
            database_url=database_url,
            db=db,
            redis=client,
            store=store,
            passwords=passwords,
            auth=Auth(store, passwords, tokens, AuthPolicy.from_settings(settings)),
            tenants=Tenants(store),
            users=Users(store, passwords),
            audit=AuditTrail(store),
        )

    async def start(self) -> None:
        await self.db.open(wait=False)
        self._stack.push_async_callback(self.db.close)
        if self.redis is not None:
            self._stack.push_async_callback(self.redis.aclose)
        log.info("node %s started", self.settings.node_id)

    async def stop(self) -> None:
        await self._stack.aclose()
        log.info("node %s stopped", self.settings.node_id)


def container() -> Container:
    """The running app's container (valid inside a request, WebSocket or app context)."""
    found: Container = current_app.extensions[EXTENSION_KEY]
    return found
