"""Real ``signage serve`` processes on one PostgreSQL and the test Redis Cluster
(``REDIS_CLUSTER=true``), an admin and an emergency operator, screens claimed through the
API and connected over real WebSockets."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect

from tests.cluster.rediscluster import RedisClusterServers
from tests.emergencies.cluster import PASSWORD, Api
from tests.servers import Server, create_admin, running_server


@dataclass
class Nodes:
    servers: list[Server]
    admin: Api
    operator: Api
    tenant_id: str
    prefix: str

    @property
    def channel(self) -> str:
        """The tenant's relay channel (its slot decides which shard carries it)."""
        return f"{self.prefix}:relay:tenant:{self.tenant_id}"

    def ws_url(self, index: int) -> str:
        return f"{self.servers[index % len(self.servers)].ws_url}/api/v1/devices/ws"

    def screens(self, count: int) -> list[tuple[str, str]]:
        """``count`` screens registered and claimed: ``(device_id, secret)``."""
        found = []
        for n in range(count):
            registered = self.admin.call(
                "POST", "/api/v1/devices/register", {"hardware_id": f"hw-{secrets.token_hex(6)}"}
            )
            self.admin.call(
                "POST",
                f"/api/v1/tenants/{self.tenant_id}/devices/claim",
                {"pairing_code": registered["pairing_code"], "name": f"Screen {n}"},
            )
            found.append((registered["device_id"], registered["device_secret"]))
        return found

    def metric(self, index: int, name: str) -> float:
        """One sample of ``GET /metrics`` on node ``index`` (0 when absent)."""
        url = f"{self.servers[index].base_url}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            body = response.read().decode()
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.rpartition(" ")[2])
        return 0.0

    def relay_state(self, index: int) -> str:
        url = f"{self.servers[index].base_url}/ready"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                body = json.loads(response.read())
        except OSError:
            return "unreachable"
        return str(body["relay"])


@contextmanager
def nodes_on_cluster(
    tmp_path: Path, database_url: str, cluster: RedisClusterServers, *, count: int = 3
) -> Iterator[Nodes]:
    admin_email = f"root-{secrets.token_hex(4)}@example.test"
    create_admin(database_url, admin_email, PASSWORD)
    prefix = f"c{secrets.token_hex(4)}"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": cluster.url,
        "REDIS_CLUSTER": "true",
        "RELAY_CHANNEL_PREFIX": prefix,
        "JWT_SECRET": "cluster-test-secret-" + "x" * 40,
        "PASSWORD_MEMORY_KIB": "1024",
        "PASSWORD_TIME_COST": "1",
        "EMERGENCY_CHECK_EVERY_S": "0.5",
        "EMERGENCY_ACK_FLUSH_S": "0.1",
        "RELAY_PING_INTERVAL_S": "1.0",
        "RELAY_RECONNECT_MAX_S": "0.5",
        "SHUTDOWN_GRACE_S": "2",
    }
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running_server(tmp_path, env, node_id=f"cnode-{i}"))
            for i in range(count)
        ]
        admin = Api(servers[0].base_url).login(admin_email)
        slug = f"cluster-{secrets.token_hex(4)}"
        tenant = admin.call("POST", "/api/v1/tenants", {"name": "Cluster", "slug": slug})
        operator_email = f"op-{secrets.token_hex(4)}@example.test"
        admin.call(
            "POST",
            f"/api/v1/tenants/{tenant['id']}/users",
            {"email": operator_email, "password": PASSWORD, "roles": ["emergency_operator"]},
        )
        operator = Api(servers[1 % count].base_url).login(operator_email)
        yield Nodes(servers, admin, operator, tenant["id"], prefix)


class Screen:
    def __init__(self, ws: ClientConnection, device_id: str, node: int) -> None:
        self.ws = ws
        self.device_id = device_id
        self.node = node
        self.arrivals: dict[str, float] = {}

    async def collect(self, ids: set[str], timeout: float) -> None:
        """Read until every emergency in ``ids`` arrived (each stamped on arrival)."""
        with anyio.fail_after(timeout):
            while not ids <= self.arrivals.keys():
                frame: dict[str, Any] = json.loads(await self.ws.recv())
                if frame["type"] == "emergency":
                    self.arrivals.setdefault(frame["id"], time.monotonic())


@asynccontextmanager
async def screens_on(nodes: Nodes, count: int) -> AsyncIterator[list[Screen]]:
    """``count`` screens, connected round-robin to the nodes, past their welcome."""
    credentials = await anyio.to_thread.run_sync(nodes.screens, count)
    async with AsyncExitStack() as stack:
        connected = []
        for index, (device, secret) in enumerate(credentials):
            ws = await stack.enter_async_context(
                connect(
                    nodes.ws_url(index), additional_headers={"Authorization": f"Bearer {secret}"}
                )
            )
            with anyio.fail_after(5.0):
                assert json.loads(await ws.recv())["type"] == "welcome"
            connected.append(Screen(ws, device, index % len(nodes.servers)))
        yield connected


async def trigger(nodes: Nodes, message: str) -> tuple[str, float]:
    """POST through the operator's node; the emergency's id and when the POST was sent."""
    sent = time.monotonic()
    answer = await anyio.to_thread.run_sync(
        nodes.operator.call,
        "POST",
        f"/api/v1/tenants/{nodes.tenant_id}/emergencies",
        {"message": message, "severity": "critical", "target": {"all": True}},
    )
    return str(answer["id"]), sent


def slowest(screens: Sequence[Screen], emergency: str, sent: float) -> float:
    return max(s.arrivals[emergency] for s in screens) - sent
