"""A small cluster of real ``signage serve`` processes for the emergency tests: a private
Redis that tests may stop, restart or cut connections of (the machine's shared Redis is
never touched), an admin API client, screens registered and claimed through the API.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import psycopg

from tests.servers import Server, create_admin, free_port, running_server
from tests.waiting import eventually_sync

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 10.0
PASSWORD = "correct horse battery staple"


class PrivateRedis:
    """``redis-server`` on a free port, no persistence, owned by the test."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # pragma: no cover - the CI image has it
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            try:
                return self.command("PING") == "PONG"
            except OSError:
                return False

        eventually_sync(
            answers,
            timeout_s=START_TIMEOUT_S,
            every_s=0.02,
            failure=lambda: "redis-server did not answer PING",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def command(self, *args: str) -> str:
        """One command over a fresh connection (RESP by hand: no client state to leak)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as conn:
            payload = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
            conn.sendall(payload.encode())
            reply = conn.recv(65536).decode()
        if reply.startswith(("+", ":")):
            return reply[1:].strip()
        if reply.startswith("$"):
            return reply.split("\r\n", 2)[1]
        raise RuntimeError(f"redis said {reply!r}")


@contextmanager
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


class Api:
    """A logged-in admin talking to one node over HTTP (blocking; tests call it from a
    worker thread or between awaits)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base_url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None
        return json.loads(raw) if raw else None

    def answer(
        self, method: str, path: str, body: Any = None, timeout_s: float = 30.0
    ) -> tuple[int, Any]:
        """The status and JSON body of one request; an HTTP error is an answer too (a
        fault test checks what the node said), not an exception."""
        status, answer, _headers = self.exchange(method, path, body, timeout_s)
        return status, answer

    def exchange(
        self, method: str, path: str, body: Any = None, timeout_s: float = 30.0
    ) -> tuple[int, Any, Message]:
        """:meth:`answer` with the response's headers."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base_url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                status, raw, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, raw, headers = exc.code, exc.read(), exc.headers
        return status, json.loads(raw) if raw else None, headers

    def login(self, email: str, password: str = PASSWORD) -> Api:
        tokens = self.call("POST", "/api/v1/auth/login", {"email": email, "password": password})
        return Api(self.base_url, tokens["access_token"])

    def on(self, server: Server) -> Api:
        return Api(server.base_url, self.token)


@dataclass
class Cluster:
    servers: list[Server]
    redis: PrivateRedis
    admin: Api
    tenant_id: str
    operator: Api

    def ws_url(self, index: int) -> str:
        return f"{self.servers[index % len(self.servers)].ws_url}/api/v1/devices/ws"

    def screens(self, count: int) -> list[tuple[str, str]]:
        """``count`` screens registered and claimed through the API: ``(device_id, secret)``."""
        manager = self.admin
        found = []
        for n in range(count):
            registered = manager.call(
                "POST", "/api/v1/devices/register", {"hardware_id": f"hw-cluster-{n}"}
            )
            manager.call(
                "POST",
                f"/api/v1/tenants/{self.tenant_id}/devices/claim",
                {"pairing_code": registered["pairing_code"], "name": f"Screen {n}"},
            )
            found.append((registered["device_id"], registered["device_secret"]))
        return found


def stored_acks(database_url: str, emergency_id: str) -> int:
    """How many screens' acknowledgements of the emergency PostgreSQL holds."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM emergency_acks WHERE emergency_id = %s", (emergency_id,)
        ).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def cluster(
    tmp_path: Path, database_url: str, *, nodes: int = 3, extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """``nodes`` servers on one database and a private Redis, a tenant with an emergency
    operator; the platform admin also claims devices (platform_admin holds every role)."""
    create_admin(database_url, "root@example.test", PASSWORD)
    with ExitStack() as stack:
        redis = stack.enter_context(private_redis(tmp_path))
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "RELAY_CHANNEL_PREFIX": f"t{redis.port}",
            "JWT_SECRET": "cluster-test-secret-" + "x" * 40,
            "PASSWORD_MEMORY_KIB": "1024",
            "PASSWORD_TIME_COST": "1",
            "EMERGENCY_CHECK_EVERY_S": "0.5",
            "EMERGENCY_ACK_FLUSH_S": "0.1",
            "RELAY_PING_INTERVAL_S": "1.0",
            "RELAY_RECONNECT_MAX_S": "0.5",
            "SHUTDOWN_GRACE_S": "2",
            **(extra_env or {}),
        }
        servers = [
            stack.enter_context(running_server(tmp_path, env, node_id=f"node-{i}"))
            for i in range(nodes)
        ]
        admin = Api(servers[0].base_url).login("root@example.test")
        tenant = admin.call("POST", "/api/v1/tenants", {"name": "Cluster", "slug": "cluster"})
        admin.call(
            "POST",
            f"/api/v1/tenants/{tenant['id']}/users",
            {"email": "op@example.test", "password": PASSWORD, "roles": ["emergency_operator"]},
        )
        operator = Api(servers[1 % nodes].base_url).login("op@example.test")
        yield Cluster(servers, redis, admin, tenant["id"], operator)


def spread(count: int, nodes: Sequence[Server]) -> list[int]:
    return [i % len(nodes) for i in range(count)]
